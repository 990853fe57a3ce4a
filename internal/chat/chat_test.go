package chat_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/chat"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
)

// waitTimeout bounds every wait for output.
const waitTimeout = 10 * time.Second

// output is a thread-safe buffer.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// user is one running chat session.
type user struct {
	name string
	c    *client.Client
	in   *io.PipeWriter
	out  *output
	done chan error
}

func signUp(t *testing.T, n *testnode.Node, handle string) *client.Client {
	t.Helper()
	c := n.Client(t)
	if _, err := c.SignUp(context.Background(), api.SignUpRequest{Handle: handle, Password: "correct horse"}); err != nil {
		t.Fatalf("sign up %s: %v", handle, err)
	}
	return c
}

// start runs chat.Run for c in a goroutine, fed by a pipe.
func start(t *testing.T, name string, c *client.Client, opts chat.Options) *user {
	t.Helper()
	pr, pw := io.Pipe()
	u := &user{name: name, c: c, in: pw, out: &output{}, done: make(chan error, 1)}
	opts.Client, opts.In, opts.Out = c, pr, u.out
	if opts.LiveOptions.MaxBackoff == 0 {
		opts.LiveOptions.MinBackoff, opts.LiveOptions.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	go func() {
		u.done <- chat.Run(context.Background(), opts)
		pr.Close()
	}()
	t.Cleanup(func() {
		pw.Close()
		select {
		case <-u.done:
		case <-time.After(waitTimeout):
			t.Errorf("%s: chat.Run did not return after its input closed", name)
		}
	})
	u.wait(t, `signed in as `+name)
	return u
}

// say types a line.
func (u *user) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(u.in, line+"\n"); err != nil {
		t.Fatalf("%s: type %q: %v", u.name, line, err)
	}
}

// wait waits until the output matches re and returns the submatches.
func (u *user) wait(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile("(?m)" + re)
	deadline := time.Now().Add(waitTimeout)
	for {
		if m := rx.FindStringSubmatch(u.out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no output matching %q after %v; output:\n%s", u.name, re, waitTimeout, u.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// quit types /quit and waits for Run to return nil.
func (u *user) quit(t *testing.T) {
	t.Helper()
	u.say(t, "/quit")
	select {
	case err := <-u.done:
		if err != nil {
			t.Errorf("%s: chat.Run = %v, want nil after /quit", u.name, err)
		}
		u.done <- nil // for the cleanup
	case <-time.After(waitTimeout):
		t.Fatalf("%s: chat.Run did not return after /quit", u.name)
	}
}

// noLeaks fails if goroutines of a chat session or of a Live remain.
func noLeaks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "internal/chat.(*session)") || strings.Contains(g, "internal/chat.Run") ||
				strings.Contains(g, "client.(*Live)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChat(t *testing.T) {
	n := testnode.Start(t)
	ac, bc := signUp(t, n, "alice"), signUp(t, n, "bob")
	ctx := context.Background()

	// Bob starts in the direct room; alice in no room, then joins it.
	bob := start(t, "bob", bc, chat.Options{Room: "@alice"})
	bob.wait(t, `^── @alice \(direct\) ──$`)
	alice := start(t, "alice", ac, chat.Options{})
	alice.wait(t, `^rooms \(/join one\):\n   @bob +direct `)
	alice.say(t, "lost words")
	alice.wait(t, `✗ not sent \(no current room.*\): lost words`)
	alice.say(t, "/join @bob")
	alice.wait(t, `^── @bob \(direct\) ──$`)

	// A line typed by alice reaches bob, with her handle and its seq.
	alice.say(t, "hello bob")
	m := bob.wait(t, `^#(\d+) \d\d:\d\d alice: hello bob$`)
	alice.wait(t, `^#`+m[1]+` \d\d:\d\d alice: hello bob$`)

	// Replies and edits.
	bob.say(t, "/reply "+m[1]+" hi alice")
	alice.wait(t, `^#\d+ \d\d:\d\d bob \(re #`+m[1]+`\): hi alice$`)
	alice.say(t, "/edit "+m[1]+" hello bob!")
	bob.wait(t, `alice edited #`+m[1]+`: hello bob!$`)
	bob.say(t, "/edit "+m[1]+" not mine")
	bob.wait(t, `✗ edit not sent \(.*\(forbidden\)\): /edit`)

	// Another room: bob's group shows up in alice's chat with its name.
	g, err := bc.CreateGroup(ctx, "team", []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice.wait(t, `you are now in team — /join team`)
	if _, err := bc.Send(ctx, g.ID, "in the team"); err != nil {
		t.Fatal(err)
	}
	alice.wait(t, `^\[team\] \d\d:\d\d bob: in the team$`)
	alice.say(t, "/join team")
	alice.wait(t, `^── team \(2 members\) ──$`)
	alice.say(t, "/members")
	alice.wait(t, `^2 members of team:\n  alice\n  bob admin$`)
	alice.say(t, "/nonsense")
	alice.wait(t, `unknown command /nonsense`)
	bob.wait(t, `^\[team\] \d\d:\d\d \* bob created the group "team"$`)

	// Messages are marked read as they are shown in the current room.
	alice.say(t, "/join @bob")
	alice.say(t, "/who")
	alice.wait(t, `^\* you are alice \(u[a-z0-9]+\), in @bob \(p[a-z0-9]+\); connected to http://`)
	bob.say(t, "are you there")
	alice.wait(t, `bob: are you there$`)
	waitUnread(t, ac, "bob", 0)
	// …and bob, in that room, sees that alice has read it.
	bob.wait(t, `✓ seen by alice$`)

	bob.quit(t)
	alice.quit(t)
	noLeaks(t)
}

// waitUnread waits until the direct room with peer has want unread messages.
func waitUnread(t *testing.T, c *client.Client, peer string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		rs, err := c.Rooms(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Peer != nil && r.Peer.Handle == peer && r.Unread == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("unread with %s never became %d: %+v", peer, want, rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChatReconnect: a send typed while the node is down is shown as
// pending, then delivered once the connection is back.
func TestChatReconnect(t *testing.T) {
	n := testnode.Start(t)
	ac, bc := signUp(t, n, "alice"), signUp(t, n, "bob")
	if _, err := ac.CreateDirect(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	// Bob's chat uses a Live of its own, which it must leave open.
	live, err := bc.Live(context.Background(), client.LiveOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	alice := start(t, "alice", ac, chat.Options{Room: "@bob", SendingNotice: 50 * time.Millisecond})
	bob := start(t, "bob", bc, chat.Options{Room: "@alice", Live: live})

	// Typing notices (plain mode shows them as a line).
	rooms, err := bc.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Typing(rooms[0].ID); err != nil {
		t.Fatal(err)
	}
	alice.wait(t, `^\(bob is typing…\)$`)

	n.Stop(t)
	alice.wait(t, `connection lost — reconnecting…`)
	alice.say(t, "said offline")
	alice.wait(t, `\(sending…\) said offline`)
	n.Restart(t)
	alice.wait(t, `^\* connected$`)
	bob.wait(t, `^#\d+ \d\d:\d\d alice: said offline$`)

	bob.quit(t)
	if !live.Connected() {
		t.Error("Run closed the Live it was given")
	}
	go func() {
		for range live.Updates() { // Run no longer drains it
		}
	}()
	live.Close()
	alice.in.Close() // EOF ends the session like /quit
	if err := <-alice.done; err != nil {
		t.Errorf("alice: chat.Run = %v after end of input", err)
	}
	alice.done <- nil
	noLeaks(t)
}

// TestChatContext: Run returns ctx's error when it ends.
func TestChatContext(t *testing.T) {
	n := testnode.Start(t)
	c := signUp(t, n, "carol")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	out := &output{}
	done := make(chan error, 1)
	go func() { done <- chat.Run(ctx, chat.Options{Client: c, In: pr, Out: out}) }()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(out.String(), "signed in as carol") {
		if time.Now().After(deadline) {
			t.Fatalf("no greeting; output:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	pw.Close() // ends the reader blocked in Read
	noLeaks(t)

	if err := chat.Run(context.Background(), chat.Options{Client: c, In: strings.NewReader(""), Out: out, Room: "rnosuchroom0000000"}); !api.IsCode(err, api.CodeForbidden) {
		t.Errorf("Run in a room not joined = %v, want forbidden", err)
	}
}

// TestChatServerBusy: a message refused for load is kept, the user is told
// why it waits, and it is sent by itself once the node admits it.
func TestChatServerBusy(t *testing.T) {
	// The adaptive limit stays at its floor (16), so that it cannot grow
	// while the test holds the node full.
	n := testnode.Start(t, func(c *config.Config) { c.MaxInFlight = 16 })
	ac, bc := signUp(t, n, "alice"), signUp(t, n, "bob")
	if _, err := ac.CreateDirect(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	alice := start(t, "alice", ac, chat.Options{Room: "@bob"})
	bob := start(t, "bob", bc, chat.Options{Room: "@alice"})
	// Both chats have synced and shown the room: no request of theirs is
	// still in progress, whose end would free a slot for alice's send.
	alice.wait(t, `alice started the conversation`)
	bob.wait(t, `alice started the conversation`)
	time.Sleep(200 * time.Millisecond)

	// Fill the node with work until it refuses message sends.
	a := n.Admission()
	var held []admit.Ticket
	for {
		tk, err := a.Admit(admit.Message)
		if err != nil {
			break
		}
		held = append(held, tk)
	}
	alice.say(t, "happy new year")
	alice.wait(t, `the server is busy: your message is queued and will be sent in \d`)
	for _, tk := range held {
		tk.Done()
	}
	bob.wait(t, `^#\d+ \d\d:\d\d alice: happy new year$`)
}
