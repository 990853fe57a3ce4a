package surge

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a surge drill measured. Latencies are client-side, in
// milliseconds; admitted, shed and refused counts are the nodes' own
// (/metrics, summed over the nodes).
type Result struct {
	Options string `json:"options"`
	Users   int    `json:"users"`
	Rooms   int    `json:"rooms"`

	Deferred   int `json:"deferred"`   // sends not made because the user's last message was still pending
	Sent       int `json:"sent"`       // messages the users sent
	Acked      int `json:"acked"`      // of which acknowledged
	Lost       int `json:"lost"`       // acknowledged but not in the room's history
	Duplicated int `json:"duplicated"` // in a history more than once
	Failed     int `json:"failed"`     // answered by an error that is not retried
	Unanswered int `json:"unanswered"` // neither acknowledged nor failed a minute after the load
	Refused    int `json:"refused"`    // refusals of message sends with retry_after (a send may be refused more than once)
	TimedOut   int `json:"timed_out"`  // connections broken because a send went unanswered, plus Unanswered

	SendAckP50MS      float64 `json:"send_ack_p50_ms"`       // admitted sends, the whole run
	SendAckP99MS      float64 `json:"send_ack_p99_ms"`       // admitted sends, the whole run
	SendAckMaxMS      float64 `json:"send_ack_max_ms"`       // admitted sends, the whole run
	SpikeSendAckP99MS float64 `json:"spike_send_ack_p99_ms"` // admitted sends during the spike
	WorstSecondP99MS  float64 `json:"worst_second_p99_ms"`   // the highest p99 of any one second
	BaselineP99MS     float64 `json:"baseline_p99_ms"`       // p99 of the baseline phase
	RecoveryMS        float64 `json:"recovery_ms"`           // from the spike's end until p99 is back at baseline; -1: never

	PeakRSSMB   float64      `json:"peak_rss_mb"` // the largest of the nodes' peak resident memory
	Nodes       []NodeResult `json:"nodes"`
	ShedOrder   []string     `json:"shed_order"`    // tiers in the order the nodes first shed them
	ShedOrderOK bool         `json:"shed_order_ok"` // on every node, no tier was shed before every less important one
	Tiers       []TierResult `json:"tiers"`

	Unsynced    int          `json:"unsynced"` // devices not holding every room's last event at the end
	Disconnects int          `json:"disconnects"`
	Storm       *StormResult `json:"storm,omitempty"`
	Seconds     []Second     `json:"seconds"`
	Problems    []string     `json:"problems,omitempty"`
}

// NodeResult is one node's figures.
type NodeResult struct {
	Name      string  `json:"name"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
	MaxLoad   float64 `json:"max_load"`
}

// TierResult is one tier's (or lane's) figures.
type TierResult struct {
	Tier          string  `json:"tier"`
	Admitted      float64 `json:"admitted"`       // the nodes admitted
	Shed          float64 `json:"shed"`           // the nodes shed for load
	Refused       float64 `json:"refused"`        // the nodes refused with retry_after, for load or a rate limit
	ClientRefused int     `json:"client_refused"` // refusals the clients were told of
	TimedOut      int     `json:"timed_out"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	Samples       int     `json:"samples"`
	Latency       string  `json:"latency"` // what the latency measures
}

// StormResult describes the reconnect storm.
type StormResult struct {
	Clients   int     `json:"clients"`
	Resynced  int     `json:"resynced"`    // clients synced again after the storm
	AllBackMS float64 `json:"all_back_ms"` // from the drop until the last client was synced again; -1: not all
	SyncP50MS float64 `json:"sync_p50_ms"` // connected → synced, after the storm
	SyncP99MS float64 `json:"sync_p99_ms"`
}

// Second is one second of the run.
type Second struct {
	T       int     `json:"t"` // seconds from the start of the load
	Phase   string  `json:"phase"`
	Acked   int     `json:"acked"`
	Refused int     `json:"refused"` // message sends refused
	P99MS   float64 `json:"p99_ms"`  // admitted sends acknowledged in this second
	// NodeP99MS is the nodes' own view: the upper bound of the histogram
	// bucket holding the 99th percentile of the time they took to store
	// sends finished in this second (storage only, no queueing, no network).
	NodeP99MS float64            `json:"node_p99_ms"`
	Load      float64            `json:"load"` // the highest load of any node
	Shed      map[string]float64 `json:"shed"` // sheds in this second, by tier
}

// OK reports whether the drill kept every promise: nothing acknowledged
// lost or duplicated, every send answered, every device synced, tiers shed
// in order, admitted sends' p99 under a second and latency back to its
// baseline within 10 s of the spike.
func (r *Result) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.TimedOut == 0 && r.Failed == 0 && r.Unsynced == 0 &&
		r.ShedOrderOK && r.SendAckP99MS < 1000 && r.RecoveryMS >= 0 && r.RecoveryMS <= 10_000 &&
		(r.Storm == nil || r.Storm.Resynced == r.Storm.Clients)
}

func (r *Result) problem(format string, args ...any) {
	if len(r.Problems) < 20 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// WriteJSON writes r as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a human-readable report.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "PASSED"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "surge drill %s: %s\n\n", verdict, r.Options)
	fmt.Fprintf(&b, "messages: %d sent, %d acknowledged, %d lost, %d duplicated, %d failed, %d timed out; %d refusals with retry_after; %d deferred (the user's last message was pending)\n",
		r.Sent, r.Acked, r.Lost, r.Duplicated, r.Failed, r.TimedOut, r.Refused, r.Deferred)
	fmt.Fprintf(&b, "admitted sends: p50 %.0f ms, p99 %.0f ms (spike %.0f ms, worst second %.0f ms), max %.0f ms\n",
		r.SendAckP50MS, r.SendAckP99MS, r.SpikeSendAckP99MS, r.WorstSecondP99MS, r.SendAckMaxMS)
	rec := "never"
	if r.RecoveryMS >= 0 {
		rec = fmt.Sprintf("%.0f ms", r.RecoveryMS)
	}
	fmt.Fprintf(&b, "back to baseline p99 (%.0f ms) after the spike: %s\n", r.BaselineP99MS, rec)
	order := "nothing shed"
	if len(r.ShedOrder) > 0 {
		order = strings.Join(r.ShedOrder, " → ")
	}
	fmt.Fprintf(&b, "shed order: %s (in order on every node: %v)\n", order, r.ShedOrderOK)
	fmt.Fprintf(&b, "devices not synced at the end: %d; disconnects: %d\n", r.Unsynced, r.Disconnects)
	if s := r.Storm; s != nil {
		fmt.Fprintf(&b, "reconnect storm: %d of %d clients synced again, the last after %.0f ms; connect → synced p50 %.0f ms, p99 %.0f ms\n",
			s.Resynced, s.Clients, s.AllBackMS, s.SyncP50MS, s.SyncP99MS)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tadmitted\tshed\trefused\tclients told\ttimed out\tp50 ms\tp99 ms\t\tlatency of")
	for _, t := range r.Tiers {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%d\t%d\t%.0f\t%.0f\t\t%s\n", t.Tier, t.Admitted, t.Shed, t.Refused,
			t.ClientRefused, t.TimedOut, t.P50MS, t.P99MS, t.Latency)
	}
	_ = tw.Flush()
	b.WriteString("\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "node %s: peak memory %.0f MiB, highest load %.2f\n", n.Name, n.PeakRSSMB, n.MaxLoad)
	}
	b.WriteString("\nper second (acked, refused, p99 ms, nodes' store p99 ms (bucket), load):\n")
	for _, s := range r.Seconds {
		fmt.Fprintf(&b, "  %3ds %-8s %6d %6d %7.0f %7.1f %5.2f\n", s.T, s.Phase, s.Acked, s.Refused, s.P99MS, s.NodeP99MS, s.Load)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summarize computes the result from the clients' samples and the nodes'
// metrics before and after the load.
func (r *run) summarize(res *Result, before, after map[string]metrics) {
	s := r.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	spikeFrom, spikeTo, end := r.t0.Add(r.spikeStart()), r.t0.Add(r.spikeEnd()), r.t0.Add(r.end())

	res.Deferred = int(r.deferred.Load())
	res.Refused = len(s.refusals["send"]) + len(s.refusals["edit"]) + len(s.refusals["delete"])
	res.TimedOut = s.ackTimeouts + res.Unanswered
	res.Disconnects = s.drops
	res.SendAckP50MS = ms(quantile(s.acks, 0.5))
	res.SendAckP99MS = ms(quantile(s.acks, 0.99))
	res.SendAckMaxMS = ms(quantile(s.acks, 1))
	res.SpikeSendAckP99MS = ms(quantile(between(s.acks, spikeFrom, spikeTo), 0.99))
	// The first seconds warm up connections and caches.
	base := quantile(between(s.acks, r.t0.Add(min(2*time.Second, r.o.Baseline/2)), spikeFrom), 0.99)
	res.BaselineP99MS = ms(base)

	// Per second.
	r.mu.Lock()
	points := slices.Clone(r.points)
	r.mu.Unlock()
	prevShed := map[string]float64{}
	for _, tier := range tiers {
		for _, m := range before {
			prevShed[tier] += m.get(`dandan_shed_total{tier="` + tier + `"}`)
		}
	}
	var prevSend map[float64]float64
	for t := r.t0; t.Before(end); t = t.Add(time.Second) {
		sec := Second{T: int(t.Sub(r.t0) / time.Second), Phase: "baseline", Shed: map[string]float64{}}
		if !t.Before(spikeFrom) {
			sec.Phase = "spike"
		}
		if !t.Before(spikeTo) {
			sec.Phase = "after"
		}
		acks := between(s.acks, t, t.Add(time.Second))
		sec.Acked, sec.P99MS = len(acks), ms(quantile(acks, 0.99))
		res.WorstSecondP99MS = max(res.WorstSecondP99MS, sec.P99MS)
		for _, at := range s.refusals["send"] {
			if !at.Before(t) && at.Before(t.Add(time.Second)) {
				sec.Refused++
			}
		}
		for _, p := range points {
			if !p.at.Before(t) && p.at.Before(t.Add(time.Second)) {
				sec.Load = p.load
				if prevSend != nil {
					sec.NodeP99MS = 1000 * bucketQuantile(prevSend, p.send, 0.99)
				}
				prevSend = p.send
				for _, tier := range tiers {
					if d := p.shed[tier] - prevShed[tier]; d > 0 {
						sec.Shed[tier] = d
					}
					prevShed[tier] = p.shed[tier]
				}
			}
		}
		res.Seconds = append(res.Seconds, sec)
	}

	// Recovery: the first second after the spike from which p99 stays
	// within noise of the baseline (1.5×, or 25 ms more) for 3 seconds.
	res.RecoveryMS = -1
	limit := max(base*3/2, base+25*time.Millisecond)
	for t := spikeTo; !t.Add(time.Second).After(end); t = t.Add(time.Second) {
		ok := true
		for k := range 3 {
			from := t.Add(time.Duration(k) * time.Second)
			if from.Add(time.Second).After(end) {
				break
			}
			if quantile(between(s.acks, from, from.Add(time.Second)), 0.99) > limit {
				ok = false
				break
			}
		}
		if ok {
			res.RecoveryMS = ms(t.Sub(spikeTo))
			break
		}
	}

	// Nodes: peak memory, highest load, shed order.
	nodeLoad := map[string]float64{}
	for _, p := range points {
		for name, l := range p.loads {
			nodeLoad[name] = max(nodeLoad[name], l)
		}
	}
	for _, n := range r.c.Nodes() {
		rss := float64(n.PeakRSS())
		if rss == 0 {
			for _, p := range points {
				rss = max(rss, p.rss)
			}
		}
		nr := NodeResult{Name: n.Name, PeakRSSMB: rss / (1 << 20), MaxLoad: nodeLoad[n.Name]}
		res.Nodes = append(res.Nodes, nr)
		res.PeakRSSMB = max(res.PeakRSSMB, nr.PeakRSSMB)
	}
	res.ShedOrder, res.ShedOrderOK = shedOrder(after)

	// Tiers.
	sum := func(ms map[string]metrics, series string) float64 {
		v := 0.0
		for _, m := range ms {
			v += m.get(series)
		}
		return v
	}
	delta := func(series string) float64 { return sum(after, series) - sum(before, series) }
	row := func(tier string) TierResult {
		return TierResult{Tier: tier,
			Admitted: delta(`dandan_admitted_total{tier="` + tier + `"}`),
			Shed:     delta(`dandan_shed_total{tier="` + tier + `"}`),
			Refused: delta(`dandan_tier_refused_total{code="overloaded",tier="`+tier+`"}`) +
				delta(`dandan_tier_refused_total{code="rate_limited",tier="`+tier+`"}`)}
	}
	lat := func(t *TierResult, ss []sample, what string) {
		t.P50MS, t.P99MS, t.Samples, t.Latency = ms(quantile(ss, 0.5)), ms(quantile(ss, 0.99)), len(ss), what
	}
	msg := row("message")
	msg.ClientRefused, msg.TimedOut = res.Refused, res.TimedOut
	lat(&msg, s.acks, "send: admitted attempt → ack")
	syn := row("sync")
	syn.ClientRefused, syn.TimedOut = len(s.readRefused)+len(s.refusals["sync"]), s.readFailed
	lat(&syn, s.reads, "history page: request → answer")
	rcp := row("receipt")
	rcp.ClientRefused = len(s.refusals["receipt"])
	lat(&rcp, s.receipts, "read receipt: sent → seen by a member")
	typ := row("typing")
	lat(&typ, s.typings, "typing: sent → seen by a member")
	con := row("connect")
	cat := row("catchup")
	lat(&cat, s.syncs, "catch-up: connected → synced")
	res.Tiers = []TierResult{msg, syn, rcp, typ, con, cat, row("signin")}

	if !s.storm.IsZero() {
		st := &StormResult{Clients: len(r.users), Resynced: len(s.resynced), AllBackMS: -1}
		if st.Resynced == st.Clients && st.Clients > 0 {
			st.AllBackMS = ms(slices.MaxFunc(s.resynced, func(a, b time.Time) int { return a.Compare(b) }).Sub(s.storm))
		}
		after := between(s.syncs, s.storm, end.Add(time.Hour))
		st.SyncP50MS, st.SyncP99MS = ms(quantile(after, 0.5)), ms(quantile(after, 0.99))
		res.Storm = st
	}
}

// shedOrder reads when each node first shed each tier and returns the
// tiers in the order they were first shed anywhere, and whether on every
// node each tier was shed only after every less important one.
func shedOrder(after map[string]metrics) ([]string, bool) {
	first := map[string]float64{} // tier → earliest time on any node
	ok := true
	for _, m := range after {
		at := func(tier string) float64 { return m.get(`dandan_first_shed_timestamp_seconds{tier="` + tier + `"}`) }
		for i, tier := range tiers {
			t := at(tier)
			if t == 0 {
				continue
			}
			if f, seen := first[tier]; !seen || t < f {
				first[tier] = t
			}
			for _, lower := range tiers[i+1:] {
				if l := at(lower); l == 0 || l > t {
					ok = false
				}
			}
		}
	}
	var order []string
	for tier := range first {
		order = append(order, tier)
	}
	slices.SortFunc(order, func(a, b string) int {
		switch {
		case first[a] < first[b]:
			return -1
		case first[a] > first[b]:
			return 1
		}
		return 0
	})
	return order, ok
}
