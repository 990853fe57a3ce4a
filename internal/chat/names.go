package chat

import (
	"context"
	"sync"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// Names resolves user ids to handles, caching what it learns. It asks the
// server for a room's members once (again after Forget), then for single
// users it still does not know. It is safe for concurrent use.
type Names struct {
	c *client.Client

	mu      sync.Mutex
	handles map[string]string   // user id → handle
	fetched map[string]struct{} // rooms whose member list is cached
}

// NewNames returns an empty cache that asks c.
func NewNames(c *client.Client) *Names {
	return &Names{c: c, handles: map[string]string{}, fetched: map[string]struct{}{}}
}

// Add records a user's handle.
func (n *Names) Add(u api.User) {
	if u.ID == "" || u.Handle == "" {
		return
	}
	n.mu.Lock()
	n.handles[u.ID] = u.Handle
	n.mu.Unlock()
}

// Handle returns the cached handle of id, or id itself if unknown.
func (n *Names) Handle(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h, ok := n.handles[id]; ok {
		return h
	}
	return id
}

// ID returns the id of a cached handle, or "".
func (n *Names) ID(handle string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, h := range n.handles {
		if h == handle {
			return id
		}
	}
	return ""
}

// Known returns the cached handles.
func (n *Names) Known() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	hs := make([]string, 0, len(n.handles))
	for _, h := range n.handles {
		hs = append(hs, h)
	}
	return hs
}

// Forget marks room's member list as stale (someone joined).
func (n *Names) Forget(room string) {
	n.mu.Lock()
	delete(n.fetched, room)
	n.mu.Unlock()
}

// Resolve makes sure the users mentioned by evs (senders and members
// concerned) are cached, asking the server if needed. Failures are ignored:
// unknown users are shown by id.
func (n *Names) Resolve(ctx context.Context, room string, evs ...api.Event) {
	missing := n.missing(evs)
	if len(missing) == 0 {
		return
	}
	n.mu.Lock()
	_, done := n.fetched[room]
	n.mu.Unlock()
	if !done && room != "" {
		if ms, err := n.c.Members(ctx, room); err == nil {
			n.mu.Lock()
			for _, m := range ms {
				n.handles[m.ID] = m.Handle
			}
			n.fetched[room] = struct{}{}
			n.mu.Unlock()
		}
		missing = n.missing(evs)
	}
	for _, id := range missing {
		if u, err := n.c.User(ctx, id); err == nil {
			n.Add(*u)
		} else if ctx.Err() != nil {
			return
		}
	}
}

func (n *Names) missing(evs []api.Event) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := map[string]bool{}
	var ids []string
	for _, ev := range evs {
		for _, id := range []string{ev.Sender, ev.User} {
			if _, ok := n.handles[id]; id == "" || ok || seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}
