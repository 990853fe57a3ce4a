package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRunOwnNode runs a short real load against an in-process node.
func TestRunOwnNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	res, err := Run(ctx, Config{Scenario: ScenarioCustom, Users: 4, Rooms: 2, RoomSize: 2, Senders: 2,
		Duration: 2 * time.Second, Warmup: 300 * time.Millisecond, BaselineDuration: 300 * time.Millisecond}, &log)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	t.Logf("log:\n%s", log.String())
	if res.Acked == 0 || res.AckedPerS <= 0 {
		t.Errorf("acked = %d (%.1f/s), want > 0", res.Acked, res.AckedPerS)
	}
	if res.Delivered < res.Acked {
		t.Errorf("delivered %d < acked %d: a message did not reach the other member", res.Delivered, res.Acked)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %d %v", res.Errors, res.ErrorCodes)
	}
	if !(res.AckP50MS > 0 && res.AckP50MS <= res.AckP99MS && res.AckP99MS <= res.AckP999MS) {
		t.Errorf("ack percentiles not ordered: %v %v %v", res.AckP50MS, res.AckP99MS, res.AckP999MS)
	}
	if !(res.E2EP50MS > 0 && res.E2EP50MS <= res.E2EP99MS && res.E2EP99MS <= res.E2EP999MS) {
		t.Errorf("e2e percentiles not ordered: %v %v %v", res.E2EP50MS, res.E2EP99MS, res.E2EP999MS)
	}
	// Each part of the split is at most the whole (the stored part may
	// exceed it by the server time's truncation to a millisecond, and both
	// by a histogram bucket's width).
	if res.FanoutP50MS <= 0 || res.FanoutP99MS > 1.1*(res.E2EP99MS+1) || res.StoreP99MS > 1.1*res.E2EP99MS || res.StoreP50MS > res.StoreP99MS {
		t.Errorf("e2e split: send→stored p50 %v p99 %v, stored→received p50 %v p99 %v, e2e p99 %v",
			res.StoreP50MS, res.StoreP99MS, res.FanoutP50MS, res.FanoutP99MS, res.E2EP99MS)
	}
	if res.Baseline <= 0 || res.Ratio <= 0 {
		t.Errorf("baseline %v, ratio %v", res.Baseline, res.Ratio)
	}
	if res.CPUPerMsgUS <= 0 {
		t.Errorf("cpu per message = %v", res.CPUPerMsgUS)
	}
	if !strings.Contains(log.String(), "acked/s") {
		t.Error("no progress line")
	}

	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"acked_per_s", "delivered_per_s", "ack_p50_ms", "ack_p99_ms", "ack_p999_ms",
		"e2e_p50_ms", "e2e_p99_ms", "e2e_p999_ms", "e2e_store_p99_ms", "e2e_fanout_p99_ms", "errors", "baseline_publish_per_s", "ratio", "scenario",
		"users", "rooms", "room_size", "senders", "inflight", "rate", "duration_s", "sync", "target", "cpu_us_per_msg", "target_cpu_us_per_msg", "steal_pct"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON result has no %q: %s", k, b)
		}
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil || !strings.Contains(text.String(), "ratio") {
		t.Errorf("WriteText: %v\n%s", err, text.String())
	}
}

// TestRunTarget loads a node given by URL, as --target does, and reads the
// node's CPU from its /metrics. The node runs in this process here, so its
// CPU is this process's, measured the other way.
func TestRunTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	n, err := startNode(ctx, "default", &log)
	if err != nil {
		t.Fatal(err)
	}
	defer n.stop()
	res, err := Run(ctx, Config{Targets: []string{n.url() + "/"}, Scenario: ScenarioCustom, Users: 4, Rooms: 2, RoomSize: 2, Senders: 2,
		Duration: 2 * time.Second, Warmup: 300 * time.Millisecond, BaselineDuration: -1}, &log)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	if res.Acked == 0 || res.Errors != 0 || res.Target != n.url()+"/" {
		t.Fatalf("acked %d, errors %d %v, target %q", res.Acked, res.Errors, res.ErrorCodes, res.Target)
	}
	if r := res.TargetCPUPerMsgUS / res.CPUPerMsgUS; !(r > 0.5 && r < 1.5) {
		t.Errorf("the target's CPU %.1f µs/msg, this process's %.1f µs/msg: want the same within half\n%s",
			res.TargetCPUPerMsgUS, res.CPUPerMsgUS, log.String())
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil || !strings.Contains(text.String(), "(the targets, from their /metrics)") {
		t.Errorf("WriteText: %v\n%s", err, text.String())
	}
}

// TestRunOpenLoop paces sends at a fixed rate in a group.
func TestRunOpenLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	res, err := Run(ctx, Config{Scenario: ScenarioCustom, Rooms: 1, RoomSize: 3, Senders: 2, Rate: 200,
		Duration: time.Second, Warmup: -1, BaselineDuration: -1}, &log)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	// 200/s for 1 s: about 200 sends, each delivered to the 2 other members.
	if res.Sent < 180 || res.Sent > 220 || res.Acked != res.Sent {
		t.Errorf("sent %d, acked %d; want about 200 each", res.Sent, res.Acked)
	}
	if res.Delivered != 2*res.Acked || res.Expected != res.Delivered {
		t.Errorf("delivered %d, expected %d, acked %d", res.Delivered, res.Expected, res.Acked)
	}
	if res.Baseline != 0 || res.Ratio != 0 {
		t.Errorf("baseline not skipped: %v", res.Baseline)
	}
}

func TestBaseline(t *testing.T) {
	rate, err := Baseline(context.Background(), "default", 100, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("baseline rate %v, want > 0", rate)
	}
	t.Logf("baseline: %.0f publishes/s", rate)
}

func TestResolve(t *testing.T) {
	c, err := Config{Scenario: ScenarioGroup}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.Users != 500 || c.Rooms != 10 || c.RoomSize != 50 || c.Senders != 5 || c.Inflight != 4 ||
		c.Duration != 30*time.Second || c.Warmup != 3*time.Second || c.TextSize != 100 || c.Sync != "default" {
		t.Errorf("group resolved to %+v", c)
	}
	c, err = Config{}.Resolve()
	if err != nil || c.Users != 200 || c.Rooms != 100 || c.RoomSize != 2 || c.Senders != 2 {
		t.Errorf("1to1 resolved to %+v, %v", c, err)
	}
	// Rooms are disjoint when users suffice, and members distinct always.
	c, _ = Config{Scenario: ScenarioCustom, Users: 5, Rooms: 4, RoomSize: 3}.Resolve()
	for r := range c.Rooms {
		seen := map[int]bool{}
		for j := range c.RoomSize {
			if m := c.member(r, j); seen[m] || m >= c.Users {
				t.Errorf("room %d: member %d repeated or out of range", r, m)
			} else {
				seen[m] = true
			}
		}
	}
	for _, bad := range []Config{{Scenario: "x"}, {RoomSize: 1}, {Senders: 3}, {Users: 1}, {Sync: "sometimes"},
		{TextSize: 1 << 20}, {Rate: -1}, {Inflight: -1}} {
		if _, err := bad.Resolve(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestTexts(t *testing.T) {
	tx := texts{size: 100}
	s := tx.make(1234567890123)
	if len(s) != 100 {
		t.Errorf("len = %d", len(s))
	}
	if ts, ok := sendTime(s); !ok || ts != 1234567890123 {
		t.Errorf("sendTime = %d, %v", ts, ok)
	}
	if _, ok := sendTime("hello there"); ok {
		t.Error("sendTime of a foreign text")
	}
}
