package surge_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dandanchat/dandan/internal/surge"
	"github.com/dandanchat/dandan/internal/testnode"
)

func TestMain(m *testing.M) { testnode.Main(m) }

// short runs a small surge drill: 200 users, a few seconds per phase.
func short(t *testing.T, o surge.Options) *surge.Result {
	t.Helper()
	exe, env := testnode.Exe(t)
	var progress bytes.Buffer
	o.Users, o.Exe, o.Env, o.Dir, o.Progress = 200, exe, env, t.TempDir(), &progress
	if o.Rate == 0 {
		o.Rate = 100
	}
	o.Baseline, o.Spike, o.After = 3*time.Second, 5*time.Second, 4*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := surge.Run(ctx, o)
	if err != nil {
		t.Fatalf("surge: %v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	_ = res.WriteText(&out)
	t.Logf("\n%s%s", progress.String(), out.String())
	return res
}

// checkPromises checks what a surge must never break: every send is
// answered, nothing acknowledged is lost or stored twice, every device ends
// up with every room's last event.
func checkPromises(t *testing.T, res *surge.Result) {
	t.Helper()
	if res.Sent == 0 || res.Acked != res.Sent {
		t.Errorf("acknowledged %d of %d sends", res.Acked, res.Sent)
	}
	if res.Lost != 0 || res.Duplicated != 0 || res.Failed != 0 || res.TimedOut != 0 {
		t.Errorf("lost %d, duplicated %d, failed %d, timed out %d: %q",
			res.Lost, res.Duplicated, res.Failed, res.TimedOut, res.Problems)
	}
	if res.Unsynced != 0 {
		t.Errorf("%d devices did not get every room's last event", res.Unsynced)
	}
	if res.PeakRSSMB <= 0 || len(res.Nodes) == 0 {
		t.Errorf("peak memory %v MiB of %d nodes: not measured", res.PeakRSSMB, len(res.Nodes))
	}
}

// TestSurgeShedsInOrder runs a spike against a node whose in-flight limit
// is tiny, so that it must shed: typing first, and nothing acknowledged is
// lost.
func TestSurgeShedsInOrder(t *testing.T) {
	res := short(t, surge.Options{NodeFlags: []string{"--max-inflight=16"}})
	checkPromises(t, res)
	if len(res.ShedOrder) == 0 || res.ShedOrder[0] != "typing" || !res.ShedOrderOK {
		t.Errorf("shed order %v (in order on every node: %v), want typing first", res.ShedOrder, res.ShedOrderOK)
	}
	if i := slices.Index(res.ShedOrder, "message"); i >= 0 && i < len(res.ShedOrder)-1 {
		t.Errorf("messages shed before %v", res.ShedOrder[i+1:])
	}
	var typing surge.TierResult
	for _, tr := range res.Tiers {
		if tr.Tier == "typing" {
			typing = tr
		}
	}
	if typing.Shed == 0 || typing.Admitted == 0 {
		t.Errorf("typing: %v admitted, %v shed; want both", typing.Admitted, typing.Shed)
	}
	if len(res.Seconds) != 12 {
		t.Errorf("%d seconds in the timeline, want 12", len(res.Seconds))
	}
}

// TestSurgeReconnectStorm drops every client at once: every one comes back
// and is fully synced, and nothing acknowledged is lost.
func TestSurgeReconnectStorm(t *testing.T) {
	res := short(t, surge.Options{ReconnectStorm: true, Factor: 2})
	checkPromises(t, res)
	if res.Storm == nil || res.Storm.Resynced != res.Users || res.Storm.AllBackMS < 0 {
		t.Errorf("storm: %+v, want all %d clients synced again", res.Storm, res.Users)
	}
	if res.Disconnects < res.Users {
		t.Errorf("%d disconnects, want at least one per client (%d)", res.Disconnects, res.Users)
	}
}

// TestSurgeCluster runs a small surge against a 3-DC cluster.
func TestSurgeCluster(t *testing.T) {
	res := short(t, surge.Options{DCs: 3, Rate: 50, NodeFlags: []string{"--max-inflight=16"}})
	checkPromises(t, res)
	if len(res.Nodes) != 3 || !res.ShedOrderOK {
		t.Errorf("%d nodes, shed order %v ok %v", len(res.Nodes), res.ShedOrder, res.ShedOrderOK)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []surge.Options{
		{DCs: 2, Dir: "x"}, {RoomSize: 1, Dir: "x"}, {Factor: 0.5, Dir: "x"}, {Baseline: time.Second, Dir: "x"}, {},
	} {
		if _, err := surge.Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}
