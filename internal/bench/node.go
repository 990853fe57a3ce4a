package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/node"
)

// ownNode is a node started in-process in a temporary directory.
type ownNode struct {
	n   *node.Node
	dir string
}

// startNode starts a node for the benchmark: fast password hashing, no rate
// limits, logging warnings and errors to logw.
func startNode(ctx context.Context, sync string, logw io.Writer) (*ownNode, error) {
	dir, err := os.MkdirTemp("", "dandan-bench-*")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Data = dir
	cfg.HTTP = "127.0.0.1:0"
	cfg.PasswordHash = "fast"
	cfg.SendRate, cfg.AuthRate, cfg.RequestRate = 0, 0, 0
	cfg.Sync = sync
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", "bench")
	n, err := node.New(cfg, log)
	if err == nil {
		err = n.Start(ctx)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start node: %w", err)
	}
	o := &ownNode{n: n, dir: dir}
	select {
	case <-n.Ready():
		return o, nil
	case <-ctx.Done():
		o.stop()
		return nil, ctx.Err()
	}
}

func (o *ownNode) url() string { return o.n.URL() }

// stop shuts the node down and removes its directory.
func (o *ownNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = o.n.Shutdown(ctx)
	_ = os.RemoveAll(o.dir)
}
