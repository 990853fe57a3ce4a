// Package surge runs the New Year's midnight drill against dandan nodes it
// starts on this machine (one node, or a cluster of several data centres):
// synthetic users chat in small groups at a steady baseline rate, then,
// within one second, at Factor times that rate for the spike, then at the
// baseline again. Each message is preceded by a typing notice, every device
// that receives a message sends receipts, and users page through history,
// so every priority tier has work. With ReconnectStorm, every client also
// drops its connection and reconnects at the same moment the spike begins.
//
// The clients are the Go SDK's: they honour retry_after with jitter and
// keep every message queued until it is acknowledged. The drill reports,
// per tier, what the nodes admitted and refused and the latency clients
// saw; whether any acknowledged message was lost; sends left unanswered;
// the order in which the nodes shed tiers; every node's peak memory; and
// how long latency took to return to its baseline after the spike.
//
//	res, err := surge.Run(ctx, surge.Options{Dir: dir})
//	res.WriteText(os.Stdout)
package surge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dandanchat/dandan/internal/localcluster"
)

// Options describe a surge drill. Zero values mean the defaults.
type Options struct {
	DCs            int           // 1: a single node (the default); 3 or more: a cluster, one node per data centre
	Users          int           // synthetic users, one device each; default 1000
	RoomSize       int           // members of each room; every user is in two rooms; default 4
	Rate           float64       // baseline messages per second, all users together; default 1000
	Factor         float64       // the spike's rate is Factor × Rate; default 10
	Baseline       time.Duration // steady load before the spike; default 20s
	Spike          time.Duration // how long the spike lasts; default 60s
	After          time.Duration // steady load after the spike; default 20s
	ReconnectStorm bool          // every client drops and reconnects when the spike begins
	Dir            string        // the nodes' data and logs; required
	Exe            string        // the dandan binary (default: this executable)
	Env            []string      // added to each node's environment
	NodeFlags      []string      // added to each node's command line
	Progress       io.Writer     // progress lines; nil = none
	Logger         *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.DCs == 0 {
		o.DCs = 1
	}
	if o.Users == 0 {
		o.Users = 1000
	}
	if o.RoomSize == 0 {
		o.RoomSize = 4
	}
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.Factor == 0 {
		o.Factor = 10
	}
	def(&o.Baseline, 20*time.Second)
	def(&o.Spike, 60*time.Second)
	def(&o.After, 20*time.Second)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.DCs == 2 || o.DCs < 1:
		return o, errors.New("surge: run on 1 node or on a cluster of 3 or more data centres")
	case o.RoomSize < 2 || o.Users < o.RoomSize:
		return o, errors.New("surge: rooms need at least 2 members, and there must be enough users to fill one")
	case o.Rate <= 0 || o.Factor < 1:
		return o, errors.New("surge: the rate must be positive and the factor at least 1")
	case o.Baseline < 2*time.Second || o.Spike <= 0 || o.After < 2*time.Second:
		return o, errors.New("surge: the baseline and after phases need at least 2s each, the spike more than 0")
	case o.Dir == "":
		return o, errors.New("surge: no directory")
	}
	return o, nil
}

// Run starts the nodes, runs the drill and stops the nodes.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	what := "a single node"
	if o.DCs > 1 {
		what = fmt.Sprintf("a %d-DC cluster", o.DCs)
	}
	fmt.Fprintf(o.Progress, "starting %s in %s …\n", what, o.Dir)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	// Every synthetic client comes from this machine's one address: limits
	// per address (sign-ups, connections) would refuse the drill itself,
	// not model a surge of many people.
	flags := append([]string{"--password-hash=fast", "--auth-rate=0", "--request-rate=0", "--log-level=warn"}, o.NodeFlags...)
	c, err := localcluster.Start(sctx, localcluster.Options{DCs: o.DCs, Dir: o.Dir, Exe: o.Exe, Env: o.Env,
		Logger: o.Logger, Flags: flags})
	cancel()
	if err != nil {
		return nil, err
	}
	defer c.Stop(context.Background())
	for _, n := range c.Nodes() {
		fmt.Fprintf(o.Progress, "  %s %s, log %s\n", n.Name, n.URL, n.LogFile)
	}
	r := newRun(o, c)
	return r.run(ctx)
}
