package node_test

import (
	"bufio"
	"crypto/hmac"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/notify"
	"github.com/dandanchat/dandan/internal/testnode"
)

// inbox is a minimal SMTP server that keeps every message it receives.
type inbox struct {
	ln   net.Listener
	mu   sync.Mutex
	mail []string // each message's DATA
}

func newInbox(t *testing.T) *inbox {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go in.serve(c)
		}
	}()
	return in
}

func (in *inbox) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	say("220 inbox ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 inbox")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			in.mu.Lock()
			in.mail = append(in.mail, b.String())
			in.mu.Unlock()
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default: // MAIL, RCPT, RSET, NOOP
			say("250 ok")
		}
	}
}

func (in *inbox) messages() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.mail...)
}

// delivery is one webhook request received.
type delivery struct {
	note     api.Notification
	signedOK bool
}

// TestSubscribersAreNotified: an operator subscribes a webhook and an email
// address; every change of an incident reaches both once, the webhook
// signed with its secret and retried when it fails; a removed subscriber
// hears nothing more.
func TestSubscribersAreNotified(t *testing.T) {
	const token = "operator-token-0123456789abcdef"
	mail := newInbox(t)
	var (
		mu       sync.Mutex
		got      []delivery
		failNext = true
		secret   string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if failNext { // the first delivery fails: it must come again
			failNext = false
			http.Error(w, "down for a moment", http.StatusInternalServerError)
			return
		}
		var d delivery
		if err := json.Unmarshal(body, &d.note); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		d.signedOK = hmac.Equal([]byte(r.Header.Get(notify.SignatureHeader)), []byte(notify.Sign(secret, body)))
		if r.Header.Get("X-Dandan-Event") != d.note.Event {
			t.Errorf("X-Dandan-Event %q for event %q", r.Header.Get("X-Dandan-Event"), d.note.Event)
		}
		got = append(got, d)
	}))
	defer hook.Close()
	webhooks := func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}

	n := testnode.Start(t, func(c *config.Config) {
		c.AdminToken = token
		c.SMTPAddr, c.SMTPFrom = mail.ln.Addr().String(), "status@chat.example"
	})
	call := adminCaller(t, "http://"+n.Config.HTTP, token)

	for _, bad := range []string{`{}`, `{"webhook":"ftp://x","email":"a@b.example"}`, `{"webhook":"not a url"}`, `{"email":"nobody"}`} {
		if st := call("POST", "/v1/admin/subscribers", bad, nil); st != http.StatusBadRequest {
			t.Errorf("subscribing %s got %d, want 400", bad, st)
		}
	}
	var wh, em api.Subscriber
	if st := call("POST", "/v1/admin/subscribers", `{"webhook":"`+hook.URL+`/hook"}`, &wh); st != http.StatusCreated || wh.Secret == "" {
		t.Fatalf("webhook subscriber: %d %+v", st, wh)
	}
	mu.Lock()
	secret = wh.Secret
	mu.Unlock()
	if st := call("POST", "/v1/admin/subscribers", `{"email":"Ops <ops@chat.example>"}`, &em); st != http.StatusCreated || em.Email != "ops@chat.example" {
		t.Fatalf("email subscriber: %d %+v", st, em)
	}
	var list []api.Subscriber
	if st := call("GET", "/v1/admin/subscribers", "", &list); st != http.StatusOK || len(list) != 2 || list[0].Secret != "" {
		t.Fatalf("subscribers: %d %+v (secrets must not be listed)", st, list)
	}

	// wait until the webhook has received want events and the inbox want
	// messages.
	wait := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(webhooks()) < want || len(mail.messages()) < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d webhook deliveries and %d emails after 30 s, want %d", what, len(webhooks()), len(mail.messages()), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var inc api.Incident
	if st := call("POST", "/v1/admin/incidents", `{"name":"Slow sign-in","severity":"SEV2","components":["signin"],"body":"We are looking into it."}`, &inc); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	wait(1, "opened")
	if st := call("PATCH", "/v1/admin/incidents/"+inc.ID, `{"status":"identified","body":"A slow disk."}`, nil); st != http.StatusOK {
		t.Fatalf("update: %d", st)
	}
	wait(2, "updated")
	if st := call("PATCH", "/v1/admin/incidents/"+inc.ID, `{"status":"resolved","body":"Fast again."}`, nil); st != http.StatusOK {
		t.Fatalf("resolve: %d", st)
	}
	wait(3, "resolved")

	// Removed, the webhook hears nothing more; the test notification still
	// reaches the email subscriber.
	if st := call("DELETE", "/v1/admin/subscribers/"+wh.ID, "", nil); st != http.StatusOK {
		t.Fatalf("remove: %d", st)
	}
	if st := call("POST", "/v1/admin/subscribers/"+em.ID+"/test", "", nil); st != http.StatusAccepted {
		t.Fatalf("test notification: %d", st)
	}
	if st := call("POST", "/v1/admin/incidents", `{"name":"Another","components":["history"]}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(mail.messages()) < 5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // time for anything wrongly sent to arrive

	hooks := webhooks()
	var events []string
	for _, d := range hooks {
		events = append(events, d.note.Event)
		if !d.signedOK {
			t.Errorf("delivery %s: bad signature", d.note.ID)
		}
		if d.note.Incident.ID != inc.ID || !strings.HasSuffix(d.note.PageURL, "/status") {
			t.Errorf("delivery %+v: wrong incident or page", d.note)
		}
	}
	if strings.Join(events, ",") != "incident.opened,incident.updated,incident.resolved" {
		t.Errorf("webhook events %v, want opened, updated, resolved once each", events)
	}
	msgs := mail.messages()
	var subjects []string
	for _, m := range msgs {
		for _, l := range strings.Split(m, "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				dec, err := new(mime.WordDecoder).DecodeHeader(s)
				if err != nil {
					t.Errorf("subject %q: %v", s, err)
				}
				subjects = append(subjects, dec)
			}
		}
	}
	want := []string{"[SEV2] Slow sign-in — Investigating", "[SEV2] Slow sign-in — Identified", "[SEV2] Slow sign-in — Resolved",
		"dandan status: test notification", "[SEV3] Another — Investigating"}
	if len(subjects) != len(want) {
		t.Fatalf("email subjects %q, want %q", subjects, want)
	}
	// The last two may arrive in either order.
	if subjects[3] > subjects[4] {
		subjects[3], subjects[4] = subjects[4], subjects[3]
	}
	if want[3] > want[4] {
		want[3], want[4] = want[4], want[3]
	}
	for i := range want {
		if !strings.Contains(subjects[i], want[i]) {
			t.Errorf("email %d: subject %q, want %q", i, subjects[i], want[i])
		}
	}
	if !strings.Contains(msgs[1], "A slow disk.") {
		t.Errorf("the update's email lacks its text:\n%s", msgs[1])
	}
}

// TestCanary: a node's canary message goes through the send and delivery
// path every period and is reported in /metrics; after a restart the node
// reuses its canary account and room rather than making new ones.
func TestCanary(t *testing.T) {
	n := testnode.Start(t, func(c *config.Config) { c.CanaryEvery = time.Second })
	waitCanary := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for metricValue(t, n, "dandan_canary_ok") != 1 || metricValue(t, n, "dandan_canary_deliver_seconds") <= 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no successful canary within 20 s: ok %v", metricValue(t, n, "dandan_canary_ok"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitCanary()
	send, deliver := metricValue(t, n, "dandan_canary_send_seconds"), metricValue(t, n, "dandan_canary_deliver_seconds")
	t.Logf("canary: stored in %.1f ms, delivered in %.1f ms", send*1000, deliver*1000)
	if send <= 0 || deliver < send {
		t.Errorf("canary latencies: send %v s, deliver %v s", send, deliver)
	}
	p, ok := statusOf(n)
	if !ok || componentState(p, "messaging") != api.StatusOperational {
		t.Errorf("messaging on the status page: %+v", p)
	}

	c := n.Client(t)
	if _, err := c.SignUp(t.Context(), api.SignUpRequest{Handle: "watcher", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	canary, err := c.User(t.Context(), "canary_dandan")
	if err != nil {
		t.Fatalf("the canary account: %v", err)
	}
	n.Restart(t)
	waitCanary()
	c = n.Client(t)
	if _, err := c.SignIn(t.Context(), api.SignInRequest{Handle: "watcher", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	again, err := c.User(t.Context(), "canary_dandan")
	if err != nil || again.ID != canary.ID {
		t.Errorf("after a restart the canary account is %+v (%v), want %s", again, err, canary.ID)
	}
}
