package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

const (
	benchPassword = "bench-password"
	setupParallel = 16
)

// user is one signed-up user.
type user struct {
	c  *client.Client
	id string
}

// room is one created room and its members (user indexes).
type room struct {
	id      string
	members []int
}

// runPrefix returns a random handle prefix, unique per run: "b" and six
// lower-case letters or digits.
func runPrefix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	out := []byte{'b'}
	for _, x := range b {
		out = append(out, alphabet[int(x)%len(alphabet)])
	}
	return string(out)
}

// rotate returns targets starting at the i-th, so users spread over nodes.
func rotate(targets []string, i int) []string {
	k := i % len(targets)
	return append(append([]string(nil), targets[k:]...), targets[:k]...)
}

// forEach runs f(0..n-1) on par goroutines and returns the first error.
func forEach(ctx context.Context, n, par int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}

// retry runs f until it succeeds, fails with an error that is not
// retryable, or ctx ends; it waits as long as the server asks. warn is
// called once on the first retry.
func retry(ctx context.Context, warn func(error), f func() error) error {
	warned := false
	for {
		err := f()
		if err == nil {
			return nil
		}
		switch api.CodeOf(err) {
		case api.CodeRateLimited, api.CodeOverloaded, api.CodeUnavailable:
		default:
			return err
		}
		if !warned && warn != nil {
			warn(err)
			warned = true
		}
		d := max(retryAfter(err), 100*time.Millisecond)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func retryAfter(err error) time.Duration {
	var e *api.Error
	if errors.As(err, &e) {
		return e.RetryAfter()
	}
	return 0
}

// signUp creates n users with handles prefix_0 … prefix_(n-1).
func signUp(ctx context.Context, targets []string, prefix string, n int, logw io.Writer) ([]user, error) {
	users := make([]user, n)
	var once sync.Once
	warn := func(err error) {
		once.Do(func() { fmt.Fprintf(logw, "bench: the target limits sign-ups (%v); waiting as asked\n", err) })
	}
	err := forEach(ctx, n, setupParallel, func(ctx context.Context, i int) error {
		c, err := client.New(client.Options{Servers: rotate(targets, i), UserAgent: "dandan-bench"})
		if err != nil {
			return err
		}
		req := api.SignUpRequest{Handle: fmt.Sprintf("%s_%d", prefix, i), Password: benchPassword, DeviceName: "bench"}
		var s *api.Session
		err = retry(ctx, warn, func() (err error) {
			s, err = c.SignUp(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: sign up %s: %w", req.Handle, err)
		}
		users[i] = user{c: c, id: s.User.ID}
		return nil
	})
	return users, err
}

// createRooms creates cfg.Rooms rooms: direct rooms if RoomSize is 2, else
// groups created by their first member with the others (in batches of
// api.MaxInvite).
func createRooms(ctx context.Context, cfg Config, prefix string, users []user, logw io.Writer) ([]room, error) {
	rooms := make([]room, cfg.Rooms)
	var once sync.Once
	warn := func(err error) {
		once.Do(func() { fmt.Fprintf(logw, "bench: the target limits requests (%v); waiting as asked\n", err) })
	}
	err := forEach(ctx, cfg.Rooms, setupParallel, func(ctx context.Context, r int) error {
		members := make([]int, cfg.RoomSize)
		for j := range members {
			members[j] = cfg.member(r, j)
		}
		owner := users[members[0]].c
		var ids []string
		for _, m := range members[1:] {
			ids = append(ids, users[m].id)
		}
		var rm *api.Room
		var err error
		if cfg.RoomSize == 2 {
			err = retry(ctx, warn, func() (err error) {
				rm, err = owner.CreateDirect(ctx, ids[0])
				return err
			})
		} else {
			first := ids[:min(len(ids), api.MaxInvite)]
			err = retry(ctx, warn, func() (err error) {
				rm, err = owner.CreateGroup(ctx, fmt.Sprintf("%s room %d", prefix, r), first)
				return err
			})
			for rest := ids[len(first):]; err == nil && len(rest) > 0; {
				batch := rest[:min(len(rest), api.MaxInvite)]
				rest = rest[len(batch):]
				err = retry(ctx, warn, func() error {
					_, err := owner.Invite(ctx, rm.ID, batch)
					return err
				})
			}
		}
		if err != nil {
			return fmt.Errorf("bench: create room %d: %w", r, err)
		}
		rooms[r] = room{id: rm.ID, members: members}
		return nil
	})
	return rooms, err
}
