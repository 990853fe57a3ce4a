package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// In a cluster, every append is made by the node that leads the room's
// partition stream: the other nodes forward it there over NATS. That node
// then orders all appends of the room in its one head cache, so appends
// through different nodes no longer lose compare-and-sets to each other,
// and it proposes them to Raft without another hop. Forwarding is only an
// optimisation: when the leader is unknown, changing, or does not answer,
// the node appends itself, and the compare-and-set keeps the room's order
// correct either way.

// subjectAppend is the subject a node serves forwarded appends on:
// dd.append.<node>.
const subjectAppend = "dd.append."

// forwardTimeout bounds a forwarded append before the node appends itself.
// A leader that died with a request in hand never answers.
const forwardTimeout = 2 * time.Second

// leaderRefresh is how often the partition leaders are looked up again.
const leaderRefresh = time.Second

// forwarding is the cluster side of appends; nil on a single node.
type forwarding struct {
	node string
	nc   *nats.Conn
	js   jetstream.JetStream

	mu      sync.RWMutex
	leaders []string // partition → its stream leader's node name, "" unknown
}

type forwardReply struct {
	Ack   *api.Ack   `json:"ack,omitempty"`
	Error *api.Error `json:"error,omitempty"`
}

// StartForwarding makes the service forward appends to the node leading
// each room's stream, and serve those forwarded to it as node, until ctx
// ends. nc carries the forwarded requests (a connection of its own keeps
// them apart from the store's traffic).
func (s *Service) StartForwarding(ctx context.Context, node string, nc *nats.Conn, js jetstream.JetStream) error {
	f := &forwarding{node: node, nc: nc, js: js, leaders: make([]string, s.st.Partitions())}
	sub, err := nc.Subscribe(subjectAppend+node, func(m *nats.Msg) { go s.serveForwarded(m) })
	if err != nil {
		return err
	}
	s.fwd.Store(f)
	go func() {
		t := time.NewTicker(leaderRefresh)
		defer t.Stop()
		for {
			f.refresh(ctx)
			select {
			case <-ctx.Done():
				_ = sub.Unsubscribe()
				s.fwd.Store(nil)
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// refresh looks up every partition stream's leader.
func (f *forwarding) refresh(ctx context.Context) {
	n := len(f.leaders)
	leaders := make([]string, n)
	for p := range n {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		if str, err := f.js.Stream(cctx, store.StreamName(p)); err == nil {
			if info := str.CachedInfo(); info != nil && info.Cluster != nil {
				leaders[p] = info.Cluster.Leader
			}
		}
		cancel()
	}
	f.mu.Lock()
	f.leaders = leaders
	f.mu.Unlock()
}

// leader returns the node leading partition p, or "" if unknown.
func (f *forwarding) leader(p int) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.leaders[p]
}

// forget marks partition p's leader unknown until the next refresh.
func (f *forwarding) forget(p int) {
	f.mu.Lock()
	f.leaders[p] = ""
	f.mu.Unlock()
}

// appendAnywhere appends ev through the node leading its room's stream, or
// here if that is this node or no other answers.
func (s *Service) appendAnywhere(ctx context.Context, ev *api.Event) (*api.Ack, error) {
	f := s.fwd.Load()
	if f == nil {
		return s.append(ctx, ev)
	}
	p := s.st.Partition(ev.Room)
	leader := f.leader(p)
	if leader == "" || leader == f.node {
		return s.append(ctx, ev)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	m, err := f.nc.RequestWithContext(fctx, subjectAppend+leader, body)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.unavailable("forward append", ctx.Err())
		}
		// The leader is gone or slow: append here. A forwarded append that
		// was stored after all is recognised by its client id.
		f.forget(p)
		return s.append(ctx, ev)
	}
	var r forwardReply
	if err := json.Unmarshal(m.Data, &r); err != nil || (r.Ack == nil && r.Error == nil) {
		return nil, s.unavailable("forward append", errors.New("malformed reply"))
	}
	if r.Error != nil {
		if *r.Error == *errLagging {
			// The leader's read model is still catching up (it just
			// started): this node's may not be.
			return s.append(ctx, ev)
		}
		return nil, r.Error
	}
	s.heads.ack(ev.Room, r.Ack.Seq)
	return r.Ack, nil
}

// serveForwarded appends an event another node forwarded. That node has
// authorized and validated it.
func (s *Service) serveForwarded(m *nats.Msg) {
	var ev api.Event
	var r forwardReply
	if err := json.Unmarshal(m.Data, &ev); err != nil || !api.ValidID(ev.Room) {
		r.Error = api.Errorf(api.CodeInternal, "malformed forwarded append")
	} else if !s.ix.IsReady() {
		r.Error = errLagging // it could not recognise a resend yet
	} else {
		// Less than the forwarding node waits, so that it hears the answer.
		ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout*3/4)
		ack, err := s.append(ctx, &ev)
		cancel()
		if err != nil {
			r.Error = api.AsError(err)
		}
		r.Ack = ack
	}
	b, _ := json.Marshal(r)
	_ = m.Respond(b)
}
