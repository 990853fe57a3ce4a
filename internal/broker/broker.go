// Package broker runs the embedded NATS server with JetStream that is dandan's
// one store and bus, and connects to it in-process.
//
//	b, err := broker.Start(broker.Config{Dir: "data/jetstream", Logger: log})
//	defer b.Shutdown()
//	js := b.JetStream()
//
// A single node listens on no network port at all. A clustered node (Config.
// Cluster set) listens for routes from the other nodes, authenticated with a
// shared secret and optionally TLS, and tags itself with its data centre so
// that JetStream places no two replicas of anything in the same one. It also
// opens a client listener on loopback with a random port and a random
// password, used by nothing but required for routes to form (the server
// waits for its client listener before it solicits routes).
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// Config says how to run the embedded server.
type Config struct {
	Dir          string        // JetStream storage directory
	Name         string        // server name; defaults to "dandan"
	SyncAlways   bool          // fsync every write before acknowledging it
	SyncInterval time.Duration // fsync interval when not SyncAlways; 0 = JetStream's default (2 min)
	Logger       *slog.Logger
	Cluster      *Cluster // nil: a single node
}

// Cluster says how a node joins a JetStream cluster.
type Cluster struct {
	Listen string   // route listen address host:port
	Peers  []string // other nodes' route addresses host:port
	DC     string   // data centre: server tag dc:<DC>, unique per replica
	Secret string   // authenticates routes
	TLS    *tls.Config
}

// clusterName is the JetStream cluster's name; one cluster per deployment.
const clusterName = "dandan"

// Broker is a running embedded server with an in-process connection.
type Broker struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	user, pass string // client listener credentials in a cluster

	configuredPeers int
	peersMu         sync.Mutex
	seen            map[string]bool // every other server ever seen over a route

	mu    sync.Mutex
	extra []*nats.Conn
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config) (*Broker, error) {
	if cfg.Dir == "" {
		return nil, errors.New("broker: no storage directory")
	}
	if cfg.Name == "" {
		cfg.Name = "dandan"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		DontListen:         true,
		NoSigs:             true,
		JetStream:          true,
		StoreDir:           cfg.Dir,
		SyncAlways:         cfg.SyncAlways,
		SyncInterval:       cfg.SyncInterval,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	var user, pass string
	if c := cfg.Cluster; c != nil {
		user, pass = "dandan-node", randomSecret()
		if err := clusterOptions(opts, c, user, pass); err != nil {
			return nil, err
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: new server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{log: cfg.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		if cfg.Cluster != nil && srv.ClusterAddr() == nil {
			return nil, fmt.Errorf("broker: cannot listen for routes on %s (address in use?)", cfg.Cluster.Listen)
		}
		return nil, errors.New("broker: server not ready after 30s")
	}
	b := &Broker{srv: srv, log: cfg.Logger, user: user, pass: pass, seen: make(map[string]bool)}
	if cfg.Cluster != nil {
		b.configuredPeers = len(cfg.Cluster.Peers)
	}
	nc, err := b.dial("dandan-node", nats.ReconnectBufSize(64<<20))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("broker: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, fmt.Errorf("broker: jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	return b, nil
}

// clusterOptions sets opts up for clustering. user and pass protect the
// client listener the cluster needs.
func clusterOptions(opts *server.Options, c *Cluster, user, pass string) error {
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker: cluster listen address: %w", err)
	}
	opts.DontListen = false
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	// The server keeps only a bcrypt hash of the listener's password (and so
	// does not warn of a plaintext one); the node's own connections present
	// the password itself. The lowest cost is enough for a random secret
	// that never leaves the process, and keeps each connection's check
	// quick.
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("broker: client listener password: %w", err)
	}
	opts.Username, opts.Password = user, string(hash)
	opts.Cluster = server.ClusterOpts{
		Name:     clusterName,
		Host:     host,
		Port:     port,
		Username: "dandan-route",
		Password: c.Secret,
		// Peers are dialled at the addresses given, never at addresses
		// gossiped by other nodes: those may be unreachable from here (NAT,
		// proxies), and an operator's list is the truth.
		NoAdvertise: true,
		TLSConfig:   c.TLS,
		TLSTimeout:  5,
		// Notice a dead link in seconds, not the default minutes: a node
		// cut off from the others must know it to send its clients away.
		PingInterval: 2 * time.Second,
		MaxPingsOut:  3,
	}
	scheme := "nats-route"
	if c.TLS != nil {
		scheme = "tls"
	}
	for _, p := range c.Peers {
		u := &url.URL{Scheme: scheme, User: url.UserPassword("dandan-route", c.Secret), Host: p}
		opts.Routes = append(opts.Routes, u)
	}
	opts.Tags = []string{"dc:" + c.DC}
	opts.JetStreamUniqueTag = "dc"
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

func randomSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// dial connects in-process.
func (b *Broker) dial(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.InProcessServer(b.srv), nats.Name(name), nats.MaxReconnects(-1)}, extra...)
	if b.user != "" {
		opts = append(opts, nats.UserInfo(b.user, b.pass))
	}
	return nats.Connect("", opts...)
}

// Connect opens another in-process connection, closed by Shutdown. Heavy
// readers (the gateway's live subscription, the read model's consumers) get
// their own, so that their traffic is parsed in parallel with the
// publishes and acknowledgements of the main connection.
func (b *Broker) Connect(name string) (*nats.Conn, error) {
	nc, err := b.dial(name)
	if err != nil {
		return nil, fmt.Errorf("broker: connect %s: %w", name, err)
	}
	b.mu.Lock()
	b.extra = append(b.extra, nc)
	b.mu.Unlock()
	return nc, nil
}

// Conn is the in-process NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context on Conn.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Healthy reports whether JetStream is enabled and the connection is up.
func (b *Broker) Healthy() bool {
	return b.srv.JetStreamEnabled() && b.nc.IsConnected()
}

// CutOff reports whether this clustered server reaches at most half of the
// cluster's servers, itself included, over routes: it is on the minority
// side of a partition, where nothing can be written. The cluster's size is
// taken as the larger of its configured peers and the servers ever seen over
// a route, plus itself.
func (b *Broker) CutOff() bool {
	if !b.srv.JetStreamIsClustered() {
		return false
	}
	rz, err := b.srv.Routez(nil)
	if err != nil {
		return false
	}
	reached := make(map[string]bool)
	for _, r := range rz.Routes {
		if r.RemoteName != "" {
			reached[r.RemoteName] = true
		}
	}
	b.peersMu.Lock()
	defer b.peersMu.Unlock()
	for name := range reached {
		b.seen[name] = true
	}
	size := max(b.configuredPeers, len(b.seen)) + 1
	return len(reached)+1 <= size/2
}

// Reached returns the names of the other nodes this node has a route to
// now; nil on a single node.
func (b *Broker) Reached() map[string]bool {
	if !b.srv.JetStreamIsClustered() {
		return nil
	}
	rz, err := b.srv.Routez(nil)
	if err != nil {
		return nil
	}
	// A route counts once it has stayed up a second: one that a cut
	// network accepts and drops at once must not make a lost node look
	// reachable.
	reached := make(map[string]bool)
	for _, r := range rz.Routes {
		if r.RemoteName != "" && rz.Now.Sub(r.Start) >= time.Second {
			reached[r.RemoteName] = true
		}
	}
	return reached
}

// StepDown hands every stream this node leads to another replica, and
// returns how many it handed over. A node stopped for maintenance then
// leaves no stream waiting out an election timeout (4–9 s): the handover
// takes a moment, while the node still answers.
func (b *Broker) StepDown(ctx context.Context) int {
	if !b.srv.JetStreamIsClustered() {
		return 0
	}
	names := b.js.StreamNames(ctx)
	handed := 0
	for name := range names.Name() {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		if info := s.CachedInfo(); info == nil || info.Cluster == nil || info.Cluster.Leader != b.srv.Name() {
			continue
		}
		if _, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+name, nil); err == nil {
			handed++
		}
	}
	return handed
}

// Shutdown drains the connection and stops the server. It is idempotent.
func (b *Broker) Shutdown() {
	b.mu.Lock()
	for _, nc := range b.extra {
		nc.Close()
	}
	b.extra = nil
	b.mu.Unlock()
	if !b.nc.IsClosed() {
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		for i := 0; i < 50 && !b.nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		b.nc.Close()
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// natsLogger adapts slog to the server's logger. NATS "notices" (its start-up
// banner, routine state changes) are debug, like its trace and debug output;
// its warnings and errors keep their level.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(f string, v ...any) { l.log.Debug(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Warnf(f string, v ...any)   { l.log.Warn(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Fatalf(f string, v ...any)  { l.log.Error(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Errorf(f string, v ...any)  { l.log.Error(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Debugf(f string, v ...any)  { l.log.Debug(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Tracef(f string, v ...any)  { l.log.Debug(fmt.Sprintf(f, v...)) }
