// Package localcluster runs a dandan cluster of several data centres on one
// machine, one process per node, for `dandan cluster up` and the drills.
//
// Every route between two nodes goes through a netproxy.Link, so that a
// data centre can be given latency to the others, cut off from them (a
// partition) and healed. Clients reach nodes directly. A data centre can
// also be killed with SIGKILL — a power cut — and started again on its data.
//
//	c, err := localcluster.Start(ctx, localcluster.Options{DCs: 3, Dir: dir})
//	defer c.Stop(context.Background())
//	c.Kill("dc1")
//	err = c.Restart(ctx, "dc1")
package localcluster

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dandanchat/dandan/internal/freeport"
	"github.com/dandanchat/dandan/internal/netproxy"
)

// Options describe the cluster. One data centre of one node is a single,
// unclustered node.
type Options struct {
	DCs        int           // data centres; default 3
	NodesPerDC int           // default 1
	Dir        string        // each node's data goes in Dir/<node>; required
	Latency    time.Duration // one-way delay added between data centres
	Host       string        // interface nodes listen on; default 127.0.0.1
	// Exe is the dandan binary to run (default: this executable); Env is
	// added to each node's environment.
	Exe string
	Env []string
	// Flags are added to every node's `serve` command line, e.g.
	// "--password-hash=fast".
	Flags  []string
	Logger *slog.Logger
}

// Node is one node of the cluster.
type Node struct {
	Name, DC string
	URL      string // client URL
	LogFile  string // its stdout and stderr
	httpAddr string
	route    string   // route listen address
	peers    []string // the links it dials, one per other node
	dataDir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Cluster is a running local cluster.
type Cluster struct {
	opts   Options
	secret string
	nodes  []*Node
	links  map[[2]string]*netproxy.Link // [from, to] node names
	log    *slog.Logger
}

// Start starts every node and waits until all are ready, or ctx ends.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DCs == 0 {
		o.DCs = 3
	}
	if o.NodesPerDC == 0 {
		o.NodesPerDC = 1
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Dir == "" {
		return nil, errors.New("localcluster: no directory")
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Exe = exe
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: o, secret: randomHex(16), links: make(map[[2]string]*netproxy.Link), log: o.Logger}
	for d := 1; d <= o.DCs; d++ {
		for k := 1; k <= o.NodesPerDC; k++ {
			name := fmt.Sprintf("dc%d", d)
			if o.NodesPerDC > 1 {
				name = fmt.Sprintf("dc%d-n%d", d, k)
			}
			httpAddr, err := freeport.Addr(o.Host)
			if err != nil {
				return nil, err
			}
			route, err := freeport.Addr(routeHost(o.Host, len(c.nodes)))
			if err != nil {
				return nil, err
			}
			c.nodes = append(c.nodes, &Node{Name: name, DC: fmt.Sprintf("dc%d", d), URL: "http://" + httpAddr,
				httpAddr: httpAddr, route: route, dataDir: filepath.Join(o.Dir, name),
				LogFile: filepath.Join(o.Dir, name+".log")})
		}
	}
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from == to {
				continue
			}
			l, err := netproxy.Listen(net.JoinHostPort(o.Host, "0"), to.route)
			if err != nil {
				c.closeLinks()
				return nil, err
			}
			if from.DC != to.DC {
				l.SetDelay(o.Latency)
			}
			c.links[[2]string{from.Name, to.Name}] = l
			from.peers = append(from.peers, l.Addr())
		}
	}
	for _, n := range c.nodes {
		if err := c.spawn(n); err != nil {
			c.Stop(context.Background())
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := c.waitReady(ctx, n); err != nil {
			c.Stop(context.Background())
			return nil, err
		}
	}
	return c, nil
}

// Nodes returns the nodes, data centre by data centre.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// URLs returns every node's client URL.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.URL
	}
	return out
}

// DCs returns the data centre names in order.
func (c *Cluster) DCs() []string {
	var out []string
	for _, n := range c.nodes {
		if len(out) == 0 || out[len(out)-1] != n.DC {
			out = append(out, n.DC)
		}
	}
	return out
}

// InDC returns the nodes of data centre dc.
func (c *Cluster) InDC(dc string) []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n.DC == dc {
			out = append(out, n)
		}
	}
	return out
}

// Command returns the command line that runs n, without the secret, for
// printing.
func (c *Cluster) Command(n *Node) []string {
	return append([]string{c.opts.Exe}, c.args(n)...)
}

func (c *Cluster) args(n *Node) []string {
	args := []string{"serve", "--data", n.dataDir, "--http", n.httpAddr, "--log-format", "json"}
	if len(c.nodes) > 1 {
		args = append(args, "--cluster", n.route, "--peers", strings.Join(n.peers, ","), "--dc", n.DC, "--node", n.Name)
	}
	return append(args, c.opts.Flags...)
}

func (c *Cluster) spawn(n *Node) error {
	if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Exe, c.args(n)...)
	cmd.Env = append(append(os.Environ(), c.opts.Env...), "DANDAN_CLUSTER_SECRET="+c.secret)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A node must not outlive the process that runs the cluster.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("localcluster: start %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	c.log.Debug("node started", "node", n.Name, "pid", cmd.Process.Pid)
	return nil
}

// waitReady polls n's /readyz until it answers 200.
func (c *Cluster) waitReady(ctx context.Context, n *Node) error {
	hc := &http.Client{Timeout: time.Second}
	for {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("localcluster: %s exited; see %s:\n%s", n.Name, n.LogFile, tail(n.LogFile, 10))
		default:
		}
		if resp, err := hc.Get(n.URL + "/readyz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localcluster: %s not ready: %w (see %s)", n.Name, ctx.Err(), n.LogFile)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitReady waits until every node of dc is ready.
func (c *Cluster) WaitReady(ctx context.Context, dc string) error {
	for _, n := range c.InDC(dc) {
		if err := c.waitReady(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// PeakRSS is the most memory n's current process has had resident (its
// high-water mark), in bytes; 0 if unknown (not running, or not Linux).
func (n *Node) PeakRSS() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return peakRSS(n.cmd.Process.Pid)
}

// Kill kills every process of data centre dc with SIGKILL, at once, and
// waits for them to be gone.
func (c *Cluster) Kill(dc string) {
	var wait []chan struct{}
	for _, n := range c.InDC(dc) {
		n.mu.Lock()
		if n.cmd != nil {
			_ = n.cmd.Process.Kill()
			wait = append(wait, n.done)
		}
		n.mu.Unlock()
	}
	for _, w := range wait {
		<-w
	}
}

// Terminate stops every process of data centre dc gracefully (SIGTERM), as
// for maintenance, and waits for them to be gone.
func (c *Cluster) Terminate(dc string) {
	var wait []chan struct{}
	for _, n := range c.InDC(dc) {
		n.mu.Lock()
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			wait = append(wait, n.done)
		}
		n.mu.Unlock()
	}
	for _, w := range wait {
		<-w
	}
}

// Start starts the nodes of data centre dc again, on their data, and waits
// until they are ready.
func (c *Cluster) Restart(ctx context.Context, dc string) error {
	for _, n := range c.InDC(dc) {
		if err := c.spawn(n); err != nil {
			return err
		}
	}
	return c.WaitReady(ctx, dc)
}

// Cut cuts every route between data centre dc and the others: its nodes
// keep running and serving their clients, but cannot reach the rest of the
// cluster, nor it them.
func (c *Cluster) Cut(dc string) { c.eachLink(dc, (*netproxy.Link).Cut) }

// Heal restores the routes Cut removed.
func (c *Cluster) Heal(dc string) { c.eachLink(dc, (*netproxy.Link).Heal) }

func (c *Cluster) eachLink(dc string, f func(*netproxy.Link)) {
	in := make(map[string]bool)
	for _, n := range c.InDC(dc) {
		in[n.Name] = true
	}
	for k, l := range c.links {
		if in[k[0]] != in[k[1]] {
			f(l)
		}
	}
}

// Stop stops every node with SIGTERM (a graceful shutdown), kills those
// still running when ctx ends or after 30 s, and closes the links.
func (c *Cluster) Stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wait []*Node
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			wait = append(wait, n)
		}
		n.mu.Unlock()
	}
	for _, n := range wait {
		select {
		case <-n.done:
		case <-ctx.Done():
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	c.closeLinks()
}

func (c *Cluster) closeLinks() {
	for _, l := range c.links {
		_ = l.Close()
	}
}

// Running reports whether n's process is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// routeHost is the address node i listens for routes on. On loopback every
// node gets its own address (127.0.0.11, .12, …) while the links listen on
// and dial from 127.0.0.1. That matters because a NATS server that accepts
// a route from a server it has no route to yet connects back to it directly,
// at the connection's source address and the port the other announced:
// here 127.0.0.1, where nothing listens on that port, so every route stays
// on a link, and cutting the links really cuts the data centre off.
func routeHost(host string, i int) string {
	if ip := net.ParseIP(host); ip != nil && ip.Equal(net.IPv4(127, 0, 0, 1)) && i < 200 {
		return fmt.Sprintf("127.0.0.%d", 11+i)
	}
	return host
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
