// Package drill runs failure drills against a local multi-DC cluster:
// synthetic users chat across data centres while one data centre is killed
// with SIGKILL (dc-loss) or cut off from the others (partition), then comes
// back. A checker then verifies, from what every sender was acknowledged and
// what every member's device received, that no acknowledged message was
// lost, duplicated or reordered, and measures how long senders waited.
//
//	res, err := drill.Run(ctx, drill.Options{Scenario: drill.DCLoss, Dir: dir})
//	res.WriteText(os.Stdout)
package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dandanchat/dandan/internal/localcluster"
)

// The scenarios.
const (
	DCLoss         = "dc-loss"
	Partition      = "partition"
	RollingRestart = "rolling-restart" // every data centre stopped gracefully and started again, one after another
)

// Auto as Options.Victim picks, when the failure begins, the data centre
// that leads the streams of the most rooms, so that the drill always
// includes leader elections.
const Auto = "auto"

// Options describe a drill. Zero values mean the defaults.
type Options struct {
	Scenario   string        // DCLoss or Partition
	DCs        int           // data centres; default 3
	UsersPerDC int           // synthetic users homed in each data centre; default 4
	Rate       float64       // messages per second, all senders together; default 100
	Duration   time.Duration // how long the load runs; default 60s
	FailAt     time.Duration // when the failure begins; default Duration/4
	HealAt     time.Duration // when the data centre comes back; default FailAt + Duration/3
	Victim     string        // the data centre that fails, or "auto" (the default): the one leading the most rooms' streams
	Latency    time.Duration // one-way delay between data centres
	Dir        string        // the cluster's data and logs; required
	Exe        string        // the dandan binary (default: this executable)
	Env        []string      // added to each node's environment
	Progress   io.Writer     // progress lines; nil = none
	Dump       io.Writer     // if set, every send as a JSON line, for analysis
	Logger     *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Scenario != DCLoss && o.Scenario != Partition && o.Scenario != RollingRestart {
		return o, fmt.Errorf("drill: unknown scenario %q (want %s, %s or %s)", o.Scenario, DCLoss, Partition, RollingRestart)
	}
	if o.DCs == 0 {
		o.DCs = 3
	}
	if o.UsersPerDC == 0 {
		o.UsersPerDC = 4
	}
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.Duration == 0 {
		o.Duration = 60 * time.Second
	}
	if o.FailAt == 0 {
		o.FailAt = o.Duration / 4
	}
	if o.HealAt == 0 {
		o.HealAt = o.FailAt + o.Duration/3
	}
	if o.Victim == "" {
		o.Victim = Auto
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.DCs < 3:
		return o, errors.New("drill: a cluster that survives the loss of a data centre needs at least 3")
	case o.Rate <= 0 || o.UsersPerDC < 1:
		return o, errors.New("drill: rate and users per data centre must be positive")
	case !(0 < o.FailAt && o.FailAt < o.HealAt && o.HealAt < o.Duration):
		return o, errors.New("drill: need 0 < fail-at < heal-at < duration")
	case o.Dir == "":
		return o, errors.New("drill: no directory")
	}
	return o, nil
}

// Run starts a cluster, runs the drill and stops the cluster.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	victimOK := o.Victim == Auto
	for d := 1; d <= o.DCs; d++ {
		victimOK = victimOK || o.Victim == fmt.Sprintf("dc%d", d)
	}
	if !victimOK {
		return nil, fmt.Errorf("drill: no data centre %q (they are dc1…dc%d)", o.Victim, o.DCs)
	}
	fmt.Fprintf(o.Progress, "starting a %d-DC cluster in %s …\n", o.DCs, o.Dir)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := localcluster.Start(sctx, localcluster.Options{
		DCs: o.DCs, Dir: o.Dir, Latency: o.Latency, Exe: o.Exe, Env: o.Env, Logger: o.Logger,
		Flags: []string{"--password-hash=fast", "--auth-rate=0", "--log-level=info"},
	})
	cancel()
	if err != nil {
		return nil, err
	}
	defer c.Stop(context.Background())
	for _, n := range c.Nodes() {
		fmt.Fprintf(o.Progress, "  %s (%s) %s, log %s\n", n.Name, n.DC, n.URL, n.LogFile)
	}
	r := &run{o: o, c: c}
	return r.run(ctx)
}
