// Package messenger is dandan's domain logic: accounts and devices, rooms and
// memberships, messages, history and receipts. Every method takes the
// authenticated Caller and checks that it may do what it asks; every error it
// returns to a caller is an *api.Error with a stable code and a user-safe
// message, while internal detail is logged.
//
// Transports (HTTP, WebSocket) are thin layers over a Service:
//
//	svc := messenger.New(st, ix, nc, messenger.Config{MaxRoomMembers: 10000}, log)
//	who, err := svc.Authenticate(ctx, token)
//	ack, err := svc.Send(ctx, who, roomID, api.SendRequest{ID: "m1", Text: "hi"})
package messenger

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/index"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go"
)

// Config tunes a Service.
type Config struct {
	MaxRoomMembers int
	Password       auth.Params
	Hashing        *admit.Lane      // budget of password hashes at once; nil = unbounded
	Now            func() time.Time // nil: time.Now
}

// Caller is an authenticated device of a user.
type Caller struct {
	User   string
	Device string
}

// Service implements the messenger's operations on the store.
type Service struct {
	st    *store.Store
	ix    *index.Index
	nc    *nats.Conn
	cfg   Config
	log   *slog.Logger
	heads *heads
	fwd   atomic.Pointer[forwarding] // nil on a single node
}

// New returns a Service.
func New(st *store.Store, ix *index.Index, nc *nats.Conn, cfg Config, log *slog.Logger) *Service {
	if cfg.MaxRoomMembers <= 0 {
		cfg.MaxRoomMembers = 10_000
	}
	if cfg.Password == (auth.Params{}) {
		cfg.Password = auth.DefaultParams()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: st, ix: ix, nc: nc, cfg: cfg, log: log.With("component", "messenger"), heads: newHeads()}
}

// Index is the read model the service uses.
func (s *Service) Index() *index.Index { return s.ix }

func (s *Service) now() int64 { return s.cfg.Now().UnixMilli() }

// unavailable logs err and returns the retryable error clients see when the
// store fails (for instance while a stream elects a new leader).
func (s *Service) unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return api.Errorf(api.CodeUnavailable, "request cancelled")
	}
	s.log.Warn("store failure", "op", op, "err", err)
	return &api.Error{Code: api.CodeUnavailable, Message: "storage is briefly unavailable, retry", RetryAfterMS: 500}
}

var (
	errNotMember = api.Errorf(api.CodeForbidden, "you are not a member of this room")
	errNoUser    = api.Errorf(api.CodeNotFound, "no such user")
)
