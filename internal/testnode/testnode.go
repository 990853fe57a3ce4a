// Package testnode starts real dandan nodes inside a test process: random
// ports, a temporary data directory, cheap password hashing and no rate
// limits unless asked. Nodes stop when the test ends.
//
//	n := testnode.Start(t)
//	c := n.Client(t)            // an SDK client pointed at the node
//	n.Restart(t)                // same data, new process state, same address
package testnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/freeport"
	"github.com/dandanchat/dandan/internal/node"
)

// Node is a node under test.
type Node struct {
	*node.Node
	Config config.Config
}

// Option adjusts the configuration before the node starts.
type Option func(*config.Config)

// Start starts a node and waits until it is ready.
func Start(t testing.TB, opts ...Option) *Node {
	t.Helper()
	cfg := testConfig(t)
	for _, o := range opts {
		o(&cfg)
	}
	n := &Node{Config: cfg}
	n.start(t)
	t.Cleanup(func() { n.Stop(t) })
	return n
}

// testConfig is a node's configuration for tests: a temporary directory, a
// free port, cheap password hashing, no rate limits, few partitions.
func testConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.HTTP = freeAddr(t)
	cfg.PasswordHash = "fast"
	cfg.SendRate, cfg.AuthRate, cfg.RequestRate = 0, 0, 0
	cfg.Partitions = 4
	return cfg
}

func freeAddr(t testing.TB) string {
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func (n *Node) start(t testing.TB) {
	t.Helper()
	if err := n.run(); err != nil {
		t.Fatal(err)
	}
}

// run starts the node and waits until it is ready.
func (n *Node) run() error {
	level := slog.LevelWarn
	if os.Getenv("DANDAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	nd, err := node.New(n.Config, log.With("node", n.Config.HTTP))
	if err != nil {
		return err
	}
	// The previous process's port may linger briefly after a restart.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = nd.Start(context.Background())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
		nd, _ = node.New(n.Config, log)
	}
	if err != nil {
		return err
	}
	select {
	case <-nd.Ready():
	case <-time.After(60 * time.Second):
		return errors.New("node not ready after 60s")
	}
	n.Node = nd
	return nil
}

// StartCluster starts a cluster of one node per data centre (dc1, dc2, …),
// all at once, and waits until every node is ready. Every stream and bucket
// has one replica in each of the first three data centres.
func StartCluster(t testing.TB, dcs int, opts ...Option) []*Node {
	t.Helper()
	nodes := make([]*Node, dcs)
	routes := make([]string, dcs)
	for i := range nodes {
		routes[i] = freeAddr(t)
	}
	for i := range nodes {
		cfg := testConfig(t)
		cfg.DC = fmt.Sprintf("dc%d", i+1)
		cfg.Node = cfg.DC
		cfg.Cluster = routes[i]
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		cfg.Peers = strings.Join(peers, ",")
		cfg.ClusterSecret = "test-cluster-secret-0123456789"
		for _, o := range opts {
			o(&cfg)
		}
		nodes[i] = &Node{Config: cfg}
	}
	errs := make(chan error, dcs)
	for _, n := range nodes {
		go func() { errs <- n.run() }()
	}
	var failed error
	for range nodes {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	for _, n := range nodes {
		if n.Node != nil {
			t.Cleanup(func() { n.Stop(t) })
		}
	}
	if failed != nil {
		t.Fatal(failed)
	}
	return nodes
}

// Stop shuts the node down gracefully.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Logf("shutdown: %v", err)
	}
}

// Restart stops the node and starts it again on the same data and address.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Stop(t)
	n.start(t)
}

// Client returns an SDK client for the node.
func (n *Node) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Servers: []string{"http://" + n.Config.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
