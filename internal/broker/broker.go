// Package broker runs the embedded NATS server with JetStream that is dandan's
// one store and bus, and connects to it in-process.
//
//	b, err := broker.Start(broker.Config{Dir: "data/jetstream", Logger: log})
//	defer b.Shutdown()
//	js := b.JetStream()
//
// A single node listens on no network port at all. (Clustering, which needs a
// client listener and routes, is added by the cluster configuration.)
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how to run the embedded server.
type Config struct {
	Dir          string        // JetStream storage directory
	Name         string        // server name; defaults to "dandan"
	SyncAlways   bool          // fsync every write before acknowledging it
	SyncInterval time.Duration // fsync interval when not SyncAlways; 0 = JetStream's default (2 min)
	Logger       *slog.Logger
}

// Broker is a running embedded server with an in-process connection.
type Broker struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

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
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: new server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{log: cfg.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("broker: server not ready after 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("dandan-node"),
		nats.MaxReconnects(-1), nats.ReconnectBufSize(64<<20))
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
	return &Broker{srv: srv, nc: nc, js: js, log: cfg.Logger}, nil
}

// Connect opens another in-process connection, closed by Shutdown. Heavy
// readers (the gateway's live subscription, the read model's consumers) get
// their own, so that their traffic is parsed in parallel with the
// publishes and acknowledgements of the main connection.
func (b *Broker) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(b.srv), nats.Name(name), nats.MaxReconnects(-1))
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
