// Package cli implements the dandan command line: one cobra command per
// subcommand. Main is the whole program, minus signal handling, so tests
// (testscript) run it in-process with their own environment.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/spf13/cobra"
)

// Env is the process environment a command runs in.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// exitError carries an exit status through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the command line args and returns the exit status.
func Main(ctx context.Context, args []string, env Env) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		fmt.Fprintf(env.Stderr, "dandan: %s (%s)\n", ae.Message, ae.Code)
		return 1
	}
	fmt.Fprintf(env.Stderr, "dandan: %v\n", err)
	return 1
}

func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "dandan",
		Short:         "dandan is a messenger that keeps talking",
		Long:          "dandan is a self-hosted messenger. Run it with no arguments (or `dandan serve`) to start a node.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	serve := newServe(env)
	root.AddCommand(serve, newConfig(env))
	for _, c := range extraCommands(env) {
		root.AddCommand(c)
	}
	// Plain `dandan` runs a node with serve's flags.
	root.Flags().AddFlagSet(serve.Flags())
	root.RunE = serve.RunE
	return root
}

// extraCommands are the client commands (client_cmds.go) and the tools
// (tools_cmds.go).
func extraCommands(env Env) []*cobra.Command {
	return append(clientCommands(env), toolCommands(env)...)
}

// newLogger builds the slog logger the config asks for.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
