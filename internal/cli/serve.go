package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/node"
	"github.com/spf13/cobra"
)

func newServe(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a dandan node",
		Long: `Run a dandan node: embedded JetStream storage under --data, the HTTP and
WebSocket API on --http. Options come from flags, then DANDAN_* environment
variables, then the --config file (TOML), then defaults.`,
		Args: cobra.NoArgs,
	}
	config.Register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := config.Load(cmd.Flags(), env.Getenv)
		if err != nil {
			return err
		}
		log := newLogger(env.Stderr, cfg.LogLevel, cfg.LogFormat)
		// The garbage collector works harder as memory nears the node's
		// bound, so that garbage is returned before admission control has
		// to refuse work (unless the operator set GOMEMLIMIT).
		if env.Getenv("GOMEMLIMIT") == "" {
			if b := node.MemoryBound(cfg); b > 0 {
				debug.SetMemoryLimit(int64(b / 10 * 9))
			}
		}
		n, err := node.New(cfg, log)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if err := n.Start(ctx); err != nil {
			return err
		}
		log.Info("listening", "url", n.URL())
		select {
		case <-n.Ready():
			fmt.Fprintf(env.Stdout, "dandan is running at %s (data in %s): open it in a browser to chat. Press Ctrl+C to stop.\n", n.URL(), cfg.Data)
		case <-ctx.Done():
		}
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return n.Shutdown(sctx)
	}
	return cmd
}

func newConfig(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (flags, environment, file) and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), env.Getenv)
			if err != nil {
				return err
			}
			fmt.Fprint(env.Stdout, cfg.Describe())
			fmt.Fprintln(env.Stdout, "configuration is valid")
			return nil
		},
	}
	config.Register(check.Flags())
	cmd.AddCommand(check)
	return cmd
}
