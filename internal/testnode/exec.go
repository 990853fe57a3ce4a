package testnode

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/dandanchat/dandan/internal/cli"
)

// runAsDandan is set in the environment of node processes started from a
// test binary (see Exe).
const runAsDandan = "DANDAN_TEST_RUN_MAIN"

// Main runs the tests, unless this process is a node another test started
// through Exe: then it is the dandan command. Use it as a package's TestMain
// where tests start dandan processes (local clusters, drills):
//
//	func TestMain(m *testing.M) { testnode.Main(m) }
func Main(m *testing.M) {
	if os.Getenv(runAsDandan) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// Exe returns the binary and environment that run the dandan command from
// a test binary whose TestMain is Main.
func Exe(t testing.TB) (exe string, env []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, []string{runAsDandan + "=1"}
}
