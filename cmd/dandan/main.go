// Command dandan is the dandan messenger: the server (`dandan serve`), its
// clients (`dandan chat`, `dandan send`, …) and its tools (`dandan bench`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dandanchat/dandan/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
