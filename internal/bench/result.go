package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Result is the outcome of Run. Rates are per second of the measurement
// window; latencies are in milliseconds.
type Result struct {
	Scenario   string            `json:"scenario"`
	Target     string            `json:"target"` // "own" or the URLs given
	Users      int               `json:"users"`
	Rooms      int               `json:"rooms"`
	RoomSize   int               `json:"room_size"`
	Senders    int               `json:"senders"` // per room
	Inflight   int               `json:"inflight"`
	Rate       float64           `json:"rate"` // asked; 0 = closed loop
	DurationS  float64           `json:"duration_s"`
	WarmupS    float64           `json:"warmup_s"`
	TextSize   int               `json:"text_size"`
	Sync       string            `json:"sync"`
	Sent       uint64            `json:"sent"`      // sends started in the window
	Acked      uint64            `json:"acked"`     // of those, acknowledged
	Delivered  uint64            `json:"delivered"` // their events received by members other than the sender
	Expected   uint64            `json:"expected"`  // deliveries due for the acked ones
	AckedPerS  float64           `json:"acked_per_s"`
	DelivPerS  float64           `json:"delivered_per_s"`
	AckP50MS   float64           `json:"ack_p50_ms"`
	AckP99MS   float64           `json:"ack_p99_ms"`
	AckP999MS  float64           `json:"ack_p999_ms"`
	AckMaxMS   float64           `json:"ack_max_ms"`
	E2EP50MS   float64           `json:"e2e_p50_ms"`
	E2EP99MS   float64           `json:"e2e_p99_ms"`
	E2EP999MS  float64           `json:"e2e_p999_ms"`
	E2EMaxMS   float64           `json:"e2e_max_ms"`
	Errors     uint64            `json:"errors"`
	ErrorCodes map[string]uint64 `json:"errors_by_code"`
	Reconnects uint64            `json:"reconnects"`             // Disconnected updates seen during the run
	Baseline   float64           `json:"baseline_publish_per_s"` // 0 if skipped
	Ratio      float64           `json:"ratio"`                  // AckedPerS / Baseline; 0 if skipped
	// CPUPerMsgUS is this process's CPU time in the window per acknowledged
	// message: the load generator's, plus the node's when it runs in-process.
	// Less sensitive to a noisy machine than the rates, so it is the figure
	// to compare when optimizing.
	CPUPerMsgUS float64 `json:"cpu_us_per_msg"`
	// TargetCPUPerMsgUS is the target nodes' CPU time in the window (from
	// their /metrics, 10 ms resolution) per acknowledged message; 0 without
	// --target or if their metrics could not be read.
	TargetCPUPerMsgUS float64 `json:"target_cpu_us_per_msg"`
	// StealPct is the share of this machine's CPU time that its hypervisor
	// gave other guests during the window (Linux's steal time): a run with
	// much of it measured a slower machine.
	StealPct float64 `json:"steal_pct"`
	// The e2e latency split at the event's server time: send → stored
	// (waiting for the room's turn included) and stored → received (the
	// read model, the fan-out, the socket and the receiving client). Each
	// is off by up to 1 ms (the server time is in milliseconds) and means
	// something only when the node shares the load generator's clock.
	StoreP50MS  float64 `json:"e2e_store_p50_ms"`
	StoreP99MS  float64 `json:"e2e_store_p99_ms"`
	FanoutP50MS float64 `json:"e2e_fanout_p50_ms"`
	FanoutP99MS float64 `json:"e2e_fanout_p99_ms"`
}

// WriteText writes a readable summary.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g msg/s", r.Rate)
	}
	p("dandan bench: scenario %s, target %s, sync %s\n", r.Scenario, r.Target, r.Sync)
	p("  load       %d users, %d rooms of %d, %d senders/room, %d in flight/sender, %s\n",
		r.Users, r.Rooms, r.RoomSize, r.Senders, r.Inflight, loop)
	p("  window     %gs after %gs warm-up, text %d B\n", r.DurationS, r.WarmupS, r.TextSize)
	p("  acked      %10.1f msg/s   (%d of %d sent)\n", r.AckedPerS, r.Acked, r.Sent)
	p("  delivered  %10.1f msg/s   (%d of %d due)\n", r.DelivPerS, r.Delivered, r.Expected)
	p("  ack        p50 %.2f ms  p99 %.2f ms  p999 %.2f ms  max %.2f ms\n", r.AckP50MS, r.AckP99MS, r.AckP999MS, r.AckMaxMS)
	p("  e2e        p50 %.2f ms  p99 %.2f ms  p999 %.2f ms  max %.2f ms\n", r.E2EP50MS, r.E2EP99MS, r.E2EP999MS, r.E2EMaxMS)
	p("    split    send → stored p50 %.1f ms  p99 %.1f ms; stored → received p50 %.1f ms  p99 %.1f ms\n",
		r.StoreP50MS, r.StoreP99MS, r.FanoutP50MS, r.FanoutP99MS)
	p("  cpu        %.1f µs per acknowledged message (this process)\n", r.CPUPerMsgUS)
	if r.TargetCPUPerMsgUS > 0 {
		p("             %.1f µs per acknowledged message (the targets, from their /metrics)\n", r.TargetCPUPerMsgUS)
	}
	p("  machine    %.1f%% of its CPU time stolen by the hypervisor in the window\n", r.StealPct)
	p("  errors     %d", r.Errors)
	if r.Errors > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(r.ErrorCodes)) {
			parts = append(parts, fmt.Sprintf("%s %d", c, r.ErrorCodes[c]))
		}
		p(" (%s)", strings.Join(parts, ", "))
	}
	if r.Reconnects > 0 {
		p(", %d reconnects", r.Reconnects)
	}
	p("\n")
	if r.Baseline > 0 {
		p("  baseline   %10.1f publishes/s (raw JetStream, same sync and size)\n", r.Baseline)
		p("  ratio      %.3f (acked/s ÷ baseline)\n", r.Ratio)
	} else {
		p("  baseline   skipped\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
