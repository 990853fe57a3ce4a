package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/dandanchat/dandan/internal/bench"
	"github.com/spf13/cobra"
)

func toolCommands(env Env) []*cobra.Command {
	return []*cobra.Command{newBench(env), newCluster(env), newDrill(env), newIncident(env), newMaintenance(env), newSubscriber(env)}
}

func newBench(env Env) *cobra.Command {
	var (
		cfg        bench.Config
		idle       bench.IdleConfig
		target     string
		asJSON     bool
		cpuprofile string
		memprofile string
		memAfter   time.Duration
		tracefile  string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a node's throughput and latency under load",
		Long: `Measure throughput and latency: sign up users, create rooms, open one live
connection per user and have the senders of every room send for --duration,
keeping --inflight sends outstanding each (closed loop) or at --rate messages
per second in total (open loop). Receivers measure end-to-end latency from
the send time carried in every message. Before the load, the raw JetStream
publish rate is measured on a separate embedded broker as a baseline.

Without --target, a node is started in-process in a temporary directory
(fast password hashing, no rate limits) and removed afterwards. A target
should run with rate limits off (send_rate, auth_rate, request_rate = 0).

With --idle N, open N idle WebSocket sessions instead and report the
server's memory per connection from its /metrics (use --target: an
in-process node's figures include the client's own memory).`,
		Example: `  dandan bench --scenario 1to1 --duration 10s
  dandan bench --scenario group --rate 5000 --json
  dandan bench --target http://10.0.0.5:8080 --idle 20000 --hold 60s`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "", "base URL(s) of the node(s), comma-separated; default: start a node in-process")
	f.StringVar(&cfg.Scenario, "scenario", bench.Scenario1to1, "1to1 (100 direct rooms, both send), group (10 rooms of 50, 5 senders) or custom")
	f.IntVar(&cfg.Users, "users", 0, "users to sign up (default: rooms × room-size)")
	f.IntVar(&cfg.Rooms, "rooms", 0, "rooms (default: the scenario's)")
	f.IntVar(&cfg.RoomSize, "room-size", 0, "members per room; 2 makes direct rooms (default: the scenario's)")
	f.IntVar(&cfg.Senders, "senders", 0, "senders per room (default: the scenario's)")
	f.IntVar(&cfg.Inflight, "inflight", bench.DefaultInflight, "sends kept outstanding per sender (closed loop)")
	f.Float64Var(&cfg.Rate, "rate", 0, "total messages/s over all senders, evenly paced (open loop); 0 = closed loop")
	f.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "measured duration")
	f.DurationVar(&cfg.Warmup, "warmup", bench.DefaultWarmup, "load before the measurement, excluded from the figures")
	f.IntVar(&cfg.TextSize, "text-size", bench.DefaultTextSize, "bytes per message text")
	f.StringVar(&cfg.Sync, "sync", "default", "fsync of the own node and the baseline: default or always")
	f.DurationVar(&cfg.BaselineDuration, "baseline-duration", bench.DefaultBaselineDuration, "JetStream baseline duration; 0 skips it")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	f.IntVar(&idle.Conns, "idle", 0, "open this many idle WebSocket sessions and report memory per connection")
	f.DurationVar(&idle.Hold, "hold", 0, "with --idle: keep the sessions open this long after measuring")
	f.StringVar(&idle.MetricsURL, "metrics-url", "", "with --idle: the node's Prometheus endpoint (default: TARGET/metrics)")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole process (client and own node) to this file")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&memprofile, "memprofile", "", "write an allocation profile of the whole process to this file at the end")
	_ = f.MarkHidden("memprofile")
	f.DurationVar(&memAfter, "memprofile-after", 0, "write the allocation profile this long after the start instead (an in-process node's heap is gone at the end)")
	_ = f.MarkHidden("memprofile-after")
	f.StringVar(&tracefile, "trace", "", "write an execution trace of the whole process to this file")
	_ = f.MarkHidden("trace")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		for _, t := range strings.Split(target, ",") {
			if t = strings.TrimSpace(t); t != "" {
				cfg.Targets = append(cfg.Targets, t)
			}
		}
		// 0 means "none" on the command line; the Config's zero means default.
		if f.Changed("warmup") && cfg.Warmup <= 0 {
			cfg.Warmup = -1
		}
		if f.Changed("baseline-duration") && cfg.BaselineDuration <= 0 {
			cfg.BaselineDuration = -1
		}
		if n := bench.RaiseFileLimit(); idle.Conns > 0 && n > 0 {
			need := uint64(idle.Conns) + 100
			if len(cfg.Targets) == 0 {
				need += uint64(idle.Conns) // the own node's side of every connection
			}
			if need > n {
				fmt.Fprintf(env.Stderr, "bench: warning: %d file descriptors allowed, about %d needed; some sessions will fail\n", n, need)
			}
		}
		stopProfiling, err := startProfiling(cpuprofile, tracefile, memprofile, memAfter, env.Stderr)
		if err != nil {
			return err
		}
		defer stopProfiling()
		var res interface{ WriteText(w io.Writer) error }
		if idle.Conns > 0 {
			idle.Targets, idle.Sync = cfg.Targets, cfg.Sync
			r, err := bench.RunIdle(ctx, idle, env.Stderr)
			if err != nil {
				return err
			}
			res = r
		} else {
			start := time.Now()
			r, err := bench.Run(ctx, cfg, env.Stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "bench: done in %.1fs\n", time.Since(start).Seconds())
			res = r
		}
		if asJSON {
			enc := json.NewEncoder(env.Stdout)
			return enc.Encode(res)
		}
		return res.WriteText(env.Stdout)
	}
	return cmd
}

// startProfiling starts the profiles of the whole process asked for by
// bench's hidden flags (a file name each; "" for none): a CPU profile and
// an execution trace from now, and an allocation profile written memAfter
// from now or, if that is 0 or later, when the returned stop is called.
func startProfiling(cpuFile, traceFile, memFile string, memAfter time.Duration, stderr io.Writer) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	start := func(name string, begin func(io.Writer) error, end func()) error {
		if name == "" {
			return nil
		}
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := begin(f); err != nil {
			f.Close()
			return err
		}
		stops = append(stops, func() { end(); f.Close() })
		return nil
	}
	if err := start(cpuFile, pprof.StartCPUProfile, pprof.StopCPUProfile); err != nil {
		stop()
		return nil, err
	}
	if err := start(traceFile, trace.Start, trace.Stop); err != nil {
		stop()
		return nil, err
	}
	if memFile != "" {
		write := func() {
			runtime.GC() // the profile shows allocations up to the last GC
			f, err := os.Create(memFile)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "bench: memory profile: %v\n", err)
			}
		}
		if memAfter > 0 {
			t := time.AfterFunc(memAfter, write)
			stops = append(stops, func() {
				if t.Stop() { // the run ended first
					write()
				}
			})
		} else {
			stops = append(stops, write)
		}
	}
	return stop, nil
}
