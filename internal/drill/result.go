package drill

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is what a drill measured. Its JSON form is the output of
// `dandan drill … --json`.
type Result struct {
	Scenario string  `json:"scenario"` // "dc-loss" or "partition"
	Victim   string  `json:"victim"`   // the data centre killed or cut off
	DCs      int     `json:"dcs"`
	Users    int     `json:"users"`
	Rooms    int     `json:"rooms"`
	Rate     float64 `json:"rate"`       // messages per second asked, all senders together
	LoadMS   int64   `json:"load_ms"`    // how long the load ran
	FailAtMS int64   `json:"fail_at_ms"` // when the failure began, from the start of the load
	HealAtMS int64   `json:"heal_at_ms"` // when the data centre was restarted or reconnected

	Sent        int `json:"sent"`        // messages senders tried to send
	Acked       int `json:"acked"`       // acknowledged to their sender
	Unacked     int `json:"unacked"`     // still unacknowledged when the load ended (never counted as lost)
	Failed      int `json:"failed"`      // answered by an error the SDK does not retry
	Lost        int `json:"lost"`        // acknowledged, but missing from the room's history or from a member's device
	Undelivered int `json:"undelivered"` // (member device, acknowledged message) pairs never delivered
	Duplicated  int `json:"duplicated"`  // extra copies stored, plus events delivered twice to a device
	Reordered   int `json:"reordered"`   // events a device received out of its room's order

	RTOP99MS float64 `json:"rto_p99_ms"` // per sender: the longest gap between two acknowledgements
	RTOMaxMS float64 `json:"rto_max_ms"`
	// Rooms whose message stream was led from outside the victim data centre
	// when it failed, and the others: the longest gap between two
	// acknowledged messages of one room around the failure.
	UnaffectedRooms    int     `json:"unaffected_rooms"`
	UnaffectedGapMaxMS float64 `json:"unaffected_gap_max_ms"`
	AffectedRooms      int     `json:"affected_rooms"`
	AffectedGapMaxMS   float64 `json:"affected_gap_max_ms"`
	// The same before the failure, in all rooms: the gap the load's own
	// pacing makes, against which the two above compare.
	BaselineGapMaxMS float64 `json:"baseline_gap_max_ms"`
	CatchUpMS        float64 `json:"catch_up_ms"` // from restart (or heal) until the data centre serves again, up to date

	SendAckP50MS float64 `json:"send_ack_p50_ms"`
	SendAckP99MS float64 `json:"send_ack_p99_ms"`

	Status *StatusResult `json:"status,omitempty"` // what the other data centres' status pages said

	Timeline []Second `json:"timeline"`           // one entry per second of load
	Marks    []Mark   `json:"marks"`              // what the drill did, and when
	Problems []string `json:"problems,omitempty"` // examples of what went wrong, at most a few
}

// Second is one second of the load.
type Second struct {
	T      int     `json:"t"`      // seconds from the start of the load
	Acked  int     `json:"acked"`  // acknowledgements received in this second
	Errors int     `json:"errors"` // sends refused or failed (they are retried)
	P50MS  float64 `json:"p50_ms"` // send-to-acknowledgement latency of those acknowledged
	P99MS  float64 `json:"p99_ms"`
}

// Mark is an action of the drill.
type Mark struct {
	AtMS  int64  `json:"at_ms"` // from the start of the load
	Label string `json:"label"`
}

// OK reports whether the drill kept every promise: nothing lost, duplicated
// or reordered.
func (r *Result) OK() bool {
	ok := r.Lost == 0 && r.Duplicated == 0 && r.Reordered == 0
	if r.Scenario == RollingRestart {
		// Planned maintenance: not one send may fail or stay unanswered.
		ok = ok && r.Failed == 0 && r.Unacked == 0
	}
	return ok
}

// WriteJSON writes r as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a summary for people.
func (r *Result) WriteText(w io.Writer) error {
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	what := "killed (SIGKILL)"
	switch r.Scenario {
	case Partition:
		what = "cut off"
	case RollingRestart:
		what = "stopped (SIGTERM) and restarted"
	}
	_, err := fmt.Fprintf(w, `drill %s: %s
  %d data centres, %d users in %d rooms, %.0f msg/s for %s; %s %s at %s, back at %s
  sent %d, acknowledged %d, unacknowledged at the end %d, failed %d
  lost %d (undelivered pairs %d), duplicated %d, reordered %d
  RTO per sender: p99 %.0f ms, max %.0f ms
  longest gap in a room: %.0f ms in %d rooms led outside %s, %.0f ms in %d rooms led inside (%.0f ms before the failure)
  catch-up after %s: %.0f ms
  send→ack latency: p50 %.1f ms, p99 %.1f ms
`, r.Scenario, verdict, r.DCs, r.Users, r.Rooms, r.Rate, time.Duration(r.LoadMS)*time.Millisecond,
		r.Victim, what, time.Duration(r.FailAtMS)*time.Millisecond, time.Duration(r.HealAtMS)*time.Millisecond,
		r.Sent, r.Acked, r.Unacked, r.Failed, r.Lost, r.Undelivered, r.Duplicated, r.Reordered, r.RTOP99MS, r.RTOMaxMS,
		r.UnaffectedGapMaxMS, r.UnaffectedRooms, r.Victim, r.AffectedGapMaxMS, r.AffectedRooms, r.BaselineGapMaxMS,
		map[bool]string{true: "healing", false: "restart"}[r.Scenario == "partition"], r.CatchUpMS,
		r.SendAckP50MS, r.SendAckP99MS)
	if st := r.Status; st != nil {
		fmt.Fprintf(w, "  status pages of the other data centres: %d of %d answered; incident %q opened %.1f s after the failure, resolved by itself: %v (%.1f s after the return); timeline %v\n",
			st.Polls-st.Failures, st.Polls, st.Incident, st.IncidentOpenedMS/1000, st.Resolved, st.ResolvedMS/1000, st.Timeline)
		if len(st.Others) > 0 {
			fmt.Fprintf(w, "  other incidents opened meanwhile: %s\n", strings.Join(st.Others, "; "))
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	return err
}
