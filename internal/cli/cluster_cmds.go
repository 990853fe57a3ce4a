package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dandanchat/dandan/internal/drill"
	"github.com/dandanchat/dandan/internal/localcluster"
	"github.com/dandanchat/dandan/internal/surge"
	"github.com/spf13/cobra"
)

func newCluster(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a multi-data-centre cluster on this machine",
		Args:  cobra.NoArgs,
	}
	var o localcluster.Options
	up := &cobra.Command{
		Use:   "up",
		Short: "Start a cluster of several data centres on this machine, until interrupted",
		Long: `Start one dandan node process per data centre (or --nodes-per-dc of them) on
this machine, joined into one cluster: every stream and bucket replicated three
times, one replica per data centre. Routes between data centres go through
links that can add --latency. Prints each node's address; Ctrl-C stops every
node cleanly. Data stays in --data for the next start.`,
		Example: `  dandan cluster up --dcs 3
  dandan cluster up --dcs 3 --latency 20ms --data ./cluster-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, err := filepath.Abs(o.Dir)
			if err != nil {
				return err
			}
			o.Dir = dir
			fmt.Fprintf(env.Stderr, "starting %d data centres in %s …\n", o.DCs, o.Dir)
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			c, err := localcluster.Start(sctx, o)
			cancel()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "cluster ready:")
			for _, n := range c.Nodes() {
				fmt.Fprintf(out, "  %-8s %-5s %s  (log %s)\n", n.Name, n.DC, n.URL, n.LogFile)
			}
			fmt.Fprintf(out, "clients: --server %s\n", strings.Join(c.URLs(), ","))
			fmt.Fprintln(out, "Ctrl-C stops the cluster.")
			<-ctx.Done()
			fmt.Fprintln(env.Stderr, "stopping …")
			c.Stop(context.Background())
			fmt.Fprintln(env.Stderr, "stopped")
			return nil
		},
	}
	f := up.Flags()
	f.IntVar(&o.DCs, "dcs", 3, "data centres")
	f.IntVar(&o.NodesPerDC, "nodes-per-dc", 1, "nodes in each data centre")
	f.DurationVar(&o.Latency, "latency", 0, "one-way delay added between data centres, e.g. 20ms")
	f.StringVar(&o.Dir, "data", "./dandan-cluster", "directory for every node's data and log")
	f.StringSliceVar(&o.Flags, "node-flag", nil, "extra flag for every node, e.g. --node-flag=--sync=default (repeatable)")
	cmd.AddCommand(up)
	return cmd
}

func newDrill(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run a drill against nodes started on this machine: a data centre lost, a partition, a rolling restart, a surge",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(drillCommand(env, drill.DCLoss, "Kill a whole data centre (SIGKILL) under load and check nothing acknowledged is lost",
		`Start a 3-DC cluster on this machine, have synthetic users in every data
centre chat in rooms spanning the data centres, kill every process of one
data centre with SIGKILL mid-load (a power cut), keep the load running,
restart the data centre and wait for it to catch up. Then check that every
message acknowledged to a sender reached every member's device exactly once
and in order, and report how long senders waited (RTO).`),
		drillCommand(env, drill.Partition, "Cut a data centre off from the others under load and check nothing diverges",
			`Start a 3-DC cluster on this machine, cut one data centre's routes to the
others while it keeps running (its clients still trying), keep the load
running, heal the cut and wait for it to catch up. The cut-off side must not
acknowledge what it cannot replicate: every acknowledged message must reach
every member's device exactly once and in order.`),
		drillCommand(env, drill.RollingRestart, "Restart every data centre in turn under load (maintenance) and check not one send fails",
			`Start a 3-DC cluster on this machine and, under load, stop each data
centre gracefully (SIGTERM: it hands its streams to the others, closes its
clients' connections with "going away" and flushes its storage), start it
again and wait until it serves, up to date, before the next. Not one send
may fail or stay unanswered, and every acknowledged message must reach every
member's device exactly once and in order.`),
		surgeCommand(env))
	return cmd
}

func surgeCommand(env Env) *cobra.Command {
	var (
		o      surge.Options
		asJSON bool
		keep   bool
	)
	cmd := &cobra.Command{
		Use:   "surge",
		Short: "New Year's midnight: a spike to N× the load (or a reconnect storm) and check nothing breaks",
		Long: `Start a node (or, with --dcs 3, a 3-DC cluster) on this machine and have
synthetic users chat in small groups at a steady rate, with typing notices,
receipts and history reads; then, within one second, multiply the rate by
--factor for --spike, then return to the baseline. With --reconnect-storm,
every client also drops its connection and reconnects at the moment the
spike begins.

The nodes must bend, not break: shed typing first, then receipts, then
syncs and reads, and message sends last; refuse with retry_after rather
than leave anything hanging; lose no acknowledged message; keep admitted
sends under a second; and return to the baseline's latency within 10 s.
The report gives, per tier, what was admitted and refused and the latency
clients saw, each node's peak memory and the order of shedding. The exit
status is 2 if a promise was broken.`,
		Example: `  dandan drill surge
  dandan drill surge --dcs 3 --json
  dandan drill surge --reconnect-storm --spike 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = env.Stderr
			cleanup, err := drillDir(&o.Dir, "dandan-surge-", keep)
			if err != nil {
				return err
			}
			defer cleanup()
			res, err := surge.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.DCs, "dcs", 1, "1: a single node; 3 or more: a cluster with one node per data centre")
	f.IntVar(&o.Users, "users", 1000, "synthetic users, one device each")
	f.IntVar(&o.RoomSize, "room-size", 4, "members of each room (every user is in two)")
	f.Float64Var(&o.Rate, "rate", 1000, "baseline messages per second, all users together")
	f.Float64Var(&o.Factor, "factor", 10, "the spike's rate as a multiple of the baseline")
	f.DurationVar(&o.Baseline, "baseline", 20*time.Second, "steady load before the spike")
	f.DurationVar(&o.Spike, "spike", time.Minute, "how long the spike lasts")
	f.DurationVar(&o.After, "after", 20*time.Second, "steady load after the spike")
	f.BoolVar(&o.ReconnectStorm, "reconnect-storm", false, "every client drops and reconnects when the spike begins")
	f.StringSliceVar(&o.NodeFlags, "node-flag", nil, "extra flag for every node, e.g. --node-flag=--max-inflight=512 (repeatable)")
	f.StringVar(&o.Dir, "data", "", "directory for the nodes (default: a temporary one, removed afterwards)")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory (node logs) afterwards")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}

func drillCommand(env Env, scenario, short, long string) *cobra.Command {
	var (
		o      drill.Options
		asJSON bool
		report string
		keep   bool
		dump   string
	)
	cmd := &cobra.Command{
		Use:   scenario,
		Short: short,
		Long:  long,
		Example: fmt.Sprintf(`  dandan drill %s
  dandan drill %s --duration 90s --rate 200 --json --report drill.html`, scenario, scenario),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Scenario = scenario
			o.Progress = env.Stderr
			cleanup, err := drillDir(&o.Dir, "dandan-drill-", keep)
			if err != nil {
				return err
			}
			defer cleanup()
			if dump != "" {
				f, err := os.Create(dump)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Dump = f
			}
			res, err := drill.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if report != "" {
				f, err := os.Create(report)
				if err != nil {
					return err
				}
				if err := res.WriteHTML(f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(env.Stderr, "report written to %s\n", report)
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", 60*time.Second, "how long the load runs")
	f.DurationVar(&o.FailAt, "fail-at", 0, "when the failure begins (default: a quarter into the load)")
	f.DurationVar(&o.HealAt, "heal-at", 0, "when the data centre comes back (default: a third of the load after the failure)")
	f.Float64Var(&o.Rate, "rate", 100, "messages per second, all senders together")
	f.IntVar(&o.UsersPerDC, "users-per-dc", 4, "synthetic users homed in each data centre")
	f.IntVar(&o.DCs, "dcs", 3, "data centres")
	f.StringVar(&o.Victim, "victim", drill.Auto, `the data centre that fails, e.g. dc1; "auto": the one leading the most rooms' streams`)
	f.DurationVar(&o.Latency, "latency", 0, "one-way delay added between data centres")
	f.StringVar(&o.Dir, "data", "", "directory for the cluster (default: a temporary one, removed afterwards)")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory (node logs) afterwards")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	f.StringVar(&report, "report", "", "write an HTML report with a timeline to this file")
	f.StringVar(&dump, "dump", "", "write every send as a JSON line to this file, for analysis")
	_ = f.MarkHidden("dump")
	return cmd
}

// drillDir makes *dir a temporary directory if it is empty, and returns
// what removes it afterwards (unless keep).
func drillDir(dir *string, prefix string, keep bool) (cleanup func(), err error) {
	if *dir != "" {
		return func() {}, nil
	}
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	*dir = d
	if keep {
		return func() {}, nil
	}
	return func() { os.RemoveAll(d) }, nil
}

// drillResult is what a drill reports.
type drillResult interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
	OK() bool
}

// printResult prints a drill's result and turns a broken promise into exit
// status 2.
func printResult(w io.Writer, res drillResult, asJSON bool) error {
	var err error
	if asJSON {
		err = res.WriteJSON(w)
	} else {
		err = res.WriteText(w)
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return exitError{code: 2}
	}
	return nil
}
