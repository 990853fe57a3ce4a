// Package notify delivers the status page's notifications: every incident
// opened, updated or resolved reaches each subscriber as a signed webhook
// (a JSON POST) or, when the node has an SMTP server configured, an email.
//
// Notifications wait in a replicated JetStream work queue (store.NotifyStream)
// until one node has delivered them, so a delivery survives the loss of the
// node (or the data centre) that queued it, and a failing subscriber is
// retried with growing pauses for up to a day without holding up the
// others. Every node announces the incident changes it sees; the queue's
// duplicate window keeps one notification per subscriber and change.
//
//	n := notify.New(notify.Config{Store: st, SMTP: notify.SMTP{Addr: "mail.example:587", From: "status@chat.example"}})
//	go n.Run(ctx)
//	n.Enqueue(ctx, subscribers, api.NotifyOpened, inc)
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of a webhook's
// body under the subscriber's secret.
const SignatureHeader = "X-Dandan-Signature"

// Config configures a Notifier.
type Config struct {
	Store   *store.Store
	PageURL func() string // the status page's public address, for links; nil or "" = none
	SMTP    SMTP          // email; Addr "" = no email
	// Client sends webhooks; nil: a client with a 10 s timeout.
	Client   *http.Client
	Registry prometheus.Registerer // for dandan_notifications_total; nil = none
	Logger   *slog.Logger
	// Backoff is the pause before each retry of a failed delivery; the
	// last one repeats until MaxAttempts. Nil: 5 s, 30 s, 2 min, 10 min, 1 h.
	Backoff     []time.Duration
	MaxAttempts int // default 30 (about a day with the default backoff)
}

// Notifier queues and delivers notifications.
type Notifier struct {
	cfg  Config
	log  *slog.Logger
	sent *prometheus.CounterVec
}

// job is one queued notification: one subscriber, one incident change.
type job struct {
	Subscriber   string           `json:"subscriber"`
	Notification api.Notification `json:"notification"`
}

// consumerName is the queue's one durable consumer, shared by every node.
const consumerName = "deliver"

// New returns a Notifier; call Run to deliver.
func New(cfg Config) *Notifier {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 30
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dandan_notifications_total",
			Help: "Status notifications delivered, failed (to be retried) and given up, by channel."}, []string{"channel", "result"})}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(n.sent)
	}
	return n
}

// EmailEnabled reports whether this node can send email.
func (n *Notifier) EmailEnabled() bool { return n.cfg.SMTP.Addr != "" }

// Enqueue queues a notification of event about inc for every subscriber
// interested in it. Queuing the same change twice (from this node or
// another) keeps one.
func (n *Notifier) Enqueue(ctx context.Context, subs []api.Subscriber, event string, inc api.Incident) error {
	var first error
	page := ""
	if n.cfg.PageURL != nil {
		page = n.cfg.PageURL()
	}
	for _, s := range subs {
		if !Interested(s, inc) {
			continue
		}
		id := fmt.Sprintf("%s.%s.%s", s.ID, inc.ID, changeOf(event, inc))
		j := job{Subscriber: s.ID, Notification: api.Notification{ID: id, Event: event, Incident: inc, PageURL: page}}
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		msg := nats.NewMsg("notify." + s.ID)
		msg.Data = b
		msg.Header.Set(jetstream.MsgIDHeader, id)
		if _, err := n.cfg.Store.JetStream().PublishMsg(ctx, msg); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Interested reports whether s wants to hear about inc.
func Interested(s api.Subscriber, inc api.Incident) bool {
	if len(s.Components) == 0 {
		return true
	}
	for _, c := range s.Components {
		for _, ic := range inc.Components {
			if c == ic {
				return true
			}
		}
	}
	return false
}

// changeOf names one change of an incident, the same on every node that
// sees it: its status and how many public updates it has.
func changeOf(event string, inc api.Incident) string {
	if event == api.NotifyTest {
		return fmt.Sprintf("test%d", time.Now().UnixNano())
	}
	return fmt.Sprintf("%s.%d", inc.Status, len(inc.Updates))
}

// Run delivers queued notifications until ctx ends. Every node runs it;
// each notification goes to one node at a time.
func (n *Notifier) Run(ctx context.Context) {
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		var err error
		cons, err = n.cfg.Store.Notify.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:   consumerName,
			AckPolicy: jetstream.AckExplicitPolicy,
			// A delivery (webhook timeout 10 s, or an SMTP exchange) that
			// has not answered by then is given to another node.
			AckWait:    time.Minute,
			MaxDeliver: -1, // attempts are counted here, to give up with a log line
		})
		if err == nil {
			break
		}
		n.log.Debug("notification queue not ready", "err", err)
		sleep(ctx, 2*time.Second)
	}
	if ctx.Err() != nil {
		return
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(8))
	if err != nil {
		n.log.Warn("notifications will not be delivered by this node", "err", err)
		return
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return
			}
			sleep(ctx, time.Second)
			continue
		}
		n.handle(ctx, msg)
	}
}

func (n *Notifier) handle(ctx context.Context, msg jetstream.Msg) {
	var j job
	if err := json.Unmarshal(msg.Data(), &j); err != nil {
		_ = msg.Term()
		return
	}
	sub, err := n.subscriber(ctx, j.Subscriber)
	if errors.Is(err, store.ErrNotFound) {
		_ = msg.Ack() // unsubscribed meanwhile
		return
	}
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	channel := "webhook"
	if sub.Email != "" {
		channel = "email"
	}
	if err == nil {
		j.Notification.SentAt = time.Now().UTC().Format(time.RFC3339Nano)
		err = n.Deliver(ctx, sub, j.Notification)
	}
	switch {
	case err == nil:
		n.sent.WithLabelValues(channel, "delivered").Inc()
		_ = msg.Ack()
	case attempt >= n.cfg.MaxAttempts:
		n.sent.WithLabelValues(channel, "given_up").Inc()
		n.log.Warn("notification given up", "subscriber", sub.ID, "id", j.Notification.ID, "attempts", attempt, "err", err)
		_ = msg.Term()
	default:
		n.sent.WithLabelValues(channel, "failed").Inc()
		wait := n.cfg.Backoff[min(attempt-1, len(n.cfg.Backoff)-1)]
		n.log.Info("notification failed; will retry", "subscriber", sub.ID, "id", j.Notification.ID, "attempt", attempt, "retry_in", wait, "err", err)
		_ = msg.NakWithDelay(wait)
	}
}

func (n *Notifier) subscriber(ctx context.Context, id string) (api.Subscriber, error) {
	var s api.Subscriber
	_, err := store.GetJSON(ctx, n.cfg.Store.Status, "subscriber."+id, &s)
	return s, err
}

// Deliver sends one notification to s now.
func (n *Notifier) Deliver(ctx context.Context, s api.Subscriber, note api.Notification) error {
	if s.Email != "" {
		if !n.EmailEnabled() {
			return errors.New("email subscriber, but this node has no SMTP server configured (--smtp-addr)")
		}
		return n.cfg.SMTP.send(ctx, s.Email, subject(note), text(note))
	}
	body, err := json.Marshal(note)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dandan-status")
	req.Header.Set("X-Dandan-Event", note.Event)
	req.Header.Set("X-Dandan-Delivery", note.ID)
	req.Header.Set(SignatureHeader, Sign(s.Secret, body))
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Sign returns the signature header value of body under secret; a
// receiver recomputes it and compares with hmac.Equal.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// subject is an email's subject: "[SEV1] dc2 unreachable — Investigating".
func subject(note api.Notification) string {
	inc := note.Incident
	if note.Event == api.NotifyTest {
		return "dandan status: test notification"
	}
	return fmt.Sprintf("[%s] %s — %s", inc.Severity, inc.Name, human(string(inc.Status)))
}

// text is an email's plain-text body: the latest update first.
func text(note api.Notification) string {
	inc := note.Incident
	var b strings.Builder
	if note.Event == api.NotifyTest {
		b.WriteString("This is a test of the status notifications. Nothing is wrong.\n")
	} else {
		fmt.Fprintf(&b, "%s\nStatus: %s · Severity: %s · Impact: %s\n", inc.Name, human(string(inc.Status)), inc.Severity, inc.Impact)
		if len(inc.Components) > 0 {
			fmt.Fprintf(&b, "Affected: %s\n", strings.Join(inc.Components, ", "))
		}
		for _, u := range inc.Updates {
			fmt.Fprintf(&b, "\n%s — %s\n%s\n", u.CreatedAt, human(string(u.Status)), u.Body)
		}
	}
	if note.PageURL != "" {
		fmt.Fprintf(&b, "\nStatus page: %s\n", note.PageURL)
	}
	return b.String()
}

func human(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "_", " ")
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
