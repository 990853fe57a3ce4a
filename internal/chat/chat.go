package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// Defaults of Options.
const (
	DefaultHistoryLines  = 20
	DefaultSendingNotice = 700 * time.Millisecond
	DefaultTypingFor     = 5 * time.Second
	DefaultDrainTimeout  = 5 * time.Second
	typingEvery          = 3 * time.Second // at most one typing frame this often
)

// Options configure Run.
type Options struct {
	Client *client.Client // signed in (it has a token); required
	// Live is an open live connection to use; Run leaves it open. If nil, Run
	// opens one (with LiveOptions, its cursors set by Run) and closes it.
	Live        *client.Live
	LiveOptions client.LiveOptions

	In  io.Reader // the user's keys or lines
	Out io.Writer // what the user sees
	// Terminal says In and Out are a terminal in raw mode: lines are edited
	// with golang.org/x/term, with a prompt, history and colours. Otherwise
	// lines are read and written plainly.
	Terminal bool
	Size     func() (width, height int, err error) // the terminal's size, polled; nil: 80 columns

	Room string    // the room to start in: id, group name or @handle; "": none
	Me   *api.User // the signed-in user; nil: asked to the server

	HistoryLines  int           // messages shown on entering a room; 0: 20
	SendingNotice time.Duration // a send unanswered this long shows "(sending…)"; 0: 700ms
	TypingFor     time.Duration // how long a typing notice stays; 0: 5s
	DrainTimeout  time.Duration // on quitting, how long to wait for unanswered sends; 0: 5s
}

// Run runs an interactive session until the user quits (/quit, Ctrl-D or
// Ctrl-C, or the end of In), ctx ends (then ctx's error is returned) or the
// live connection stops for good (e.g. the token was revoked).
//
// Input is read by a goroutine that Run stops before returning, except when
// ctx ends while a line is being read: that goroutine then ends when In does.
func Run(ctx context.Context, opts Options) error {
	if opts.Client == nil || opts.In == nil || opts.Out == nil {
		return errors.New("chat: Client, In and Out are required")
	}
	if opts.HistoryLines <= 0 {
		opts.HistoryLines = DefaultHistoryLines
	}
	if opts.SendingNotice <= 0 {
		opts.SendingNotice = DefaultSendingNotice
	}
	if opts.TypingFor <= 0 {
		opts.TypingFor = DefaultTypingFor
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	s := newSession(opts)
	defer s.stop()
	if err := s.start(ctx); err != nil {
		return err
	}
	return s.loop(ctx)
}

// lineIn is one line read, or the error that ended input.
type lineIn struct {
	text string
	err  error
}

// reader reads one line each time it is asked on next, so that it is never
// blocked in a read when Run returns after /quit.
func (s *session) reader(next <-chan struct{}, lines chan<- lineIn) {
	defer close(s.readerDone)
	for {
		select {
		case <-next:
		case <-s.quit:
			return
		}
		t, err := s.scr.ReadLine()
		select {
		case lines <- lineIn{t, err}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// loop is the session's only goroutine touching its state.
func (s *session) loop(ctx context.Context) error {
	next := make(chan struct{}, 1)
	lines := make(chan lineIn)
	s.readerDone = make(chan struct{})
	go s.reader(next, lines)
	next <- struct{}{}
	s.reading = true
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	updates := s.live.Updates()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case in := <-lines:
			s.reading = false
			if in.err != nil { // Ctrl-D, Ctrl-C or the end of input
				return s.drain(ctx)
			}
			if s.handleLine(ctx, in.text) {
				return s.drain(ctx)
			}
			next <- struct{}{}
			s.reading = true
		case u, ok := <-updates:
			if !ok {
				return s.closedError()
			}
			s.handleUpdate(ctx, u)
		case r := <-s.results:
			s.handleResult(r)
		case <-tick.C:
			s.tick()
		}
	}
}

// drain waits up to DrainTimeout for the sends still pending before the
// session ends, then says which were not sent.
func (s *session) drain(ctx context.Context) error {
	if len(s.pending) > 0 {
		s.notice(fmt.Sprintf("* waiting for %d unacknowledged message(s)…", len(s.pending)))
	}
	timeout := time.NewTimer(s.opts.DrainTimeout)
	defer timeout.Stop()
	updates := s.live.Updates()
	for len(s.pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			for _, p := range s.pending {
				s.failure("✗ " + p.what + " not sent (no answer yet): " + p.text)
			}
			return nil
		case u, ok := <-updates:
			if !ok {
				return s.closedError()
			}
			s.handleUpdate(ctx, u)
		case r := <-s.results:
			s.handleResult(r)
		}
	}
	return nil
}

// stop ends the helper goroutines (and the Live, if Run opened it).
func (s *session) stop() {
	s.scr.SetPrompt("") // leave no prompt behind on the terminal
	close(s.quit)
	if s.ownLive && s.live != nil {
		_ = s.live.Close()
	}
	s.wg.Wait()
	if s.readerDone != nil && !s.reading {
		<-s.readerDone
	}
}

func (s *session) closedError() error {
	if s.lastErr != nil && api.IsCode(s.lastErr, api.CodeUnauthorized) {
		return s.lastErr
	}
	return errors.Join(client.ErrClosed, s.lastErr)
}

// session is the state of one Run.
type session struct {
	opts    Options
	c       *client.Client
	live    *client.Live
	ownLive bool
	scr     screen
	names   *Names
	rend    *Renderer
	me      api.User

	rooms   map[string]*api.Room
	left    map[string]bool   // rooms left during the session
	cur     string            // current room id, or ""
	shown   map[string]uint64 // room → highest seq shown
	pending map[string]*pendingSend
	typing  map[string]map[string]time.Time // room → user → until
	ownLast map[string]uint64               // room → seq of my last message shown
	seenBy  map[string]map[string]uint64    // room → user → my message seq they were shown to have read
	// connected is false from a Disconnected update to the next Connected.
	connected    bool
	lastErr      error
	busyNoticeAt time.Time // when "the server is busy" was last shown
	width        int

	results    chan any
	quit       chan struct{}
	wg         sync.WaitGroup
	readerDone chan struct{}
	reading    bool

	hook hookState // read by the key hook, on the reader goroutine
}

func newSession(opts Options) *session {
	s := &session{
		opts:      opts,
		c:         opts.Client,
		live:      opts.Live,
		names:     NewNames(opts.Client),
		rooms:     map[string]*api.Room{},
		left:      map[string]bool{},
		shown:     map[string]uint64{},
		pending:   map[string]*pendingSend{},
		typing:    map[string]map[string]time.Time{},
		ownLast:   map[string]uint64{},
		seenBy:    map[string]map[string]uint64{},
		connected: true,
		results:   make(chan any),
		quit:      make(chan struct{}),
	}
	if opts.Terminal {
		s.scr = newTTYScreen(opts.In, opts.Out)
	} else {
		s.scr = newPlainScreen(opts.In, opts.Out)
	}
	s.rend = &Renderer{Names: s.names, Paint: s.scr.Paint}
	return s
}
