package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers stored with every event, so the read model can be built from
// headers alone.
const (
	HeaderSeq    = "Dd-Seq"    // the event's room seq
	HeaderType   = "Dd-Type"   // the event type
	HeaderSender = "Dd-Sender" // the user who caused it
	HeaderTarget = "Dd-Target" // edit, delete: the seq they change
)

// ErrWrongLast means the room has moved on since the caller's last known
// stream sequence: reload the room's head and retry.
var ErrWrongLast = errors.New("room head moved")

// Head is the last event of a room: its room seq and its stream sequence.
type Head struct {
	Seq       uint64
	StreamSeq uint64
}

// Append stores ev (whose Seq the caller assigned) if the room's last stored
// event is still at stream sequence expectLast (0: the room has no events).
// msgID deduplicates retries within the duplicate window: a repeated msgID
// returns the first event's stream sequence with dup set.
//
// It is the hottest call of a node, so it does by hand what
// jetstream.PublishMsg does: one allocation for all header values, and the
// acknowledgement read without reflection (see parsePubAck).
func (s *Store) Append(ctx context.Context, ev *api.Event, msgID string, expectLast uint64) (streamSeq uint64, dup bool, err error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, false, err
	}
	vals := [6]string{msgID, strconv.FormatUint(expectLast, 10), strconv.FormatUint(ev.Seq, 10), ev.Type, ev.Sender}
	h := make(nats.Header, 6)
	h[jetstream.MsgIDHeader] = vals[0:1:1]
	h[jetstream.ExpectedLastSubjSeqHeader] = vals[1:2:2]
	h[HeaderSeq] = vals[2:3:3]
	h[HeaderType] = vals[3:4:4]
	h[HeaderSender] = vals[4:5:5]
	if ev.Target > 0 {
		vals[5] = strconv.FormatUint(ev.Target, 10)
		h[HeaderTarget] = vals[5:6:6]
	}
	m := &nats.Msg{Subject: s.Subject(ev.Room), Header: h, Data: body}
	resp, err := s.request(ctx, m)
	if err != nil {
		return 0, false, fmt.Errorf("append to %s: %w", ev.Room, err)
	}
	seq, dup, apiErr, err := parsePubAck(resp.Data)
	if err != nil {
		return 0, false, fmt.Errorf("append to %s: %w", ev.Room, err)
	}
	if apiErr != nil {
		if isWrongLast(apiErr.ErrorCode) {
			return 0, false, ErrWrongLast
		}
		return 0, false, fmt.Errorf("append to %s: nats: %w", ev.Room, apiErr)
	}
	return seq, dup, nil
}

// Publish timing, as jetstream.PublishMsg has it: a call without a
// deadline gets publishTimeout, and a stream electing a leader has no
// responder for a moment, so "no responders" is tried again.
const (
	publishTimeout   = 5 * time.Second
	publishRetryWait = 250 * time.Millisecond
	publishRetries   = 2
)

// request sends m to its stream and waits for the answer until ctx is done
// (or for publishTimeout if ctx has no deadline). No stream answering is
// jetstream.ErrNoStreamResponse, as from jetstream.PublishMsg.
func (s *Store) request(ctx context.Context, m *nats.Msg) (*nats.Msg, error) {
	if ctx.Done() == nil {
		// Nothing to cancel: a pooled timer instead of a context.
		return s.requestTries(ctx, func() (*nats.Msg, error) { return s.nc.RequestMsg(m, publishTimeout) })
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	return s.requestTries(ctx, func() (*nats.Msg, error) { return s.nc.RequestMsgWithContext(ctx, m) })
}

// requestTries runs try, again after publishRetryWait while no stream
// answers, at most publishRetries times more.
func (s *Store) requestTries(ctx context.Context, try func() (*nats.Msg, error)) (*nats.Msg, error) {
	for n := 0; ; n++ {
		resp, err := try()
		if !errors.Is(err, nats.ErrNoResponders) {
			return resp, err
		}
		if n == publishRetries {
			return nil, jetstream.ErrNoStreamResponse
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(publishRetryWait):
		}
	}
}

// parsePubAck reads JetStream's answer to a publish: the stream sequence
// and whether it was a duplicate, or the API error. The usual answer is a
// small flat object such as {"stream":"MSG_03","seq":42,"duplicate":true},
// read by fastPubAck without reflection; anything else (an error, an
// unexpected shape) is decoded in full by decodePubAck.
func parsePubAck(b []byte) (seq uint64, dup bool, apiErr *jetstream.APIError, err error) {
	if seq, dup, ok := fastPubAck(b); ok {
		return seq, dup, nil, nil
	}
	return decodePubAck(b)
}

// decodePubAck is parsePubAck for any answer, with encoding/json, as
// jetstream.PublishMsg reads it.
func decodePubAck(b []byte) (seq uint64, dup bool, apiErr *jetstream.APIError, err error) {
	var r struct {
		Error     *jetstream.APIError `json:"error"`
		Stream    string              `json:"stream"`
		Seq       uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, false, nil, jetstream.ErrInvalidJSAck
	}
	if r.Error != nil {
		return 0, false, r.Error, nil
	}
	if r.Stream == "" {
		return 0, false, nil, jetstream.ErrInvalidJSAck
	}
	return r.Seq, r.Duplicate, nil, nil
}

// fastPubAck reads a successful answer that is one flat object of
// lower-case keys without escapes, whose values are strings without
// escapes, unsigned integers, true or false, with no spaces and nothing
// after it. ok is false for anything else, and for any key that
// encoding/json would match to a field other than by its exact name, or
// twice (so that decodePubAck decides).
func fastPubAck(b []byte) (seq uint64, dup bool, ok bool) {
	if len(b) < 2 || b[0] != '{' {
		return 0, false, false
	}
	i := 1
	var haveStream, haveSeq, haveDup bool
	for {
		// "key":
		if i >= len(b) || b[i] != '"' {
			return 0, false, false
		}
		k := i + 1
		for k < len(b) && (b[k] >= 'a' && b[k] <= 'z' || b[k] == '_') {
			k++
		}
		if k+1 >= len(b) || b[k] != '"' || b[k+1] != ':' {
			return 0, false, false
		}
		key := string(b[i+1 : k])
		i = k + 2
		// value
		v := i
		switch {
		case i < len(b) && b[i] == '"':
			i++
			for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 && b[i] < 0x80 {
				i++
			}
			if i >= len(b) || b[i] != '"' {
				return 0, false, false
			}
			i++
		case i < len(b) && b[i] >= '0' && b[i] <= '9':
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				i++
			}
			if b[v] == '0' && i-v > 1 {
				return 0, false, false // JSON has no leading zeros
			}
		case bytes.HasPrefix(b[i:], []byte("true")):
			i += 4
		case bytes.HasPrefix(b[i:], []byte("false")):
			i += 5
		default:
			return 0, false, false
		}
		val := b[v:i]
		switch key {
		case "stream":
			if haveStream || len(val) < 3 || val[0] != '"' {
				return 0, false, false // missing, empty or not a string
			}
			haveStream = true
		case "seq":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if haveSeq || err != nil {
				return 0, false, false
			}
			seq, haveSeq = n, true
		case "duplicate":
			if haveDup || val[0] != 't' && val[0] != 'f' {
				return 0, false, false
			}
			dup, haveDup = val[0] == 't', true
		case "error":
			return 0, false, false
		}
		if i >= len(b) {
			return 0, false, false
		}
		switch b[i] {
		case ',':
			i++
			continue
		case '}':
			return seq, dup, haveStream && i == len(b)-1
		}
		return 0, false, false
	}
}

// LoadHead reads room's last event from the stream leader.
func (s *Store) LoadHead(ctx context.Context, room string) (Head, error) {
	m, err := s.leaderGet(ctx, StreamName(s.Partition(room)), 0, s.Subject(room))
	if errors.Is(err, ErrNotFound) {
		return Head{}, nil
	}
	if err != nil {
		return Head{}, fmt.Errorf("head of %s: %w", room, err)
	}
	seq, _ := strconv.ParseUint(m.Header.Get(HeaderSeq), 10, 64)
	return Head{Seq: seq, StreamSeq: m.Sequence}, nil
}

// EventAt reads the event stored at stream sequence streamSeq of room's
// partition, from the stream leader.
func (s *Store) EventAt(ctx context.Context, room string, streamSeq uint64) (*api.Event, error) {
	m, err := s.leaderGet(ctx, StreamName(s.Partition(room)), streamSeq, "")
	if err != nil {
		return nil, fmt.Errorf("event %d of %s: %w", streamSeq, room, err)
	}
	var ev api.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Room != room {
		return nil, fmt.Errorf("event %d of %s: %w", streamSeq, room, ErrNotFound)
	}
	return &ev, nil
}

// Range reads up to n of room's events in stream order, starting at stream
// sequence from, with one batched direct get.
func (s *Store) Range(ctx context.Context, room string, from uint64, n int) ([]api.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	req, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{from, s.Subject(room), n})
	inbox := s.nc.NewInbox()
	ch := make(chan *nats.Msg, n+1)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("range %s: %w", room, err)
	}
	defer sub.Unsubscribe()
	subj := "$JS.API.DIRECT.GET." + StreamName(s.Partition(room))
	if err := s.nc.PublishRequest(subj, inbox, req); err != nil {
		return nil, fmt.Errorf("range %s: %w", room, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	out := make([]api.Event, 0, n)
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("range %s: %w", room, ctx.Err())
		case m := <-ch:
			switch status := m.Header.Get("Status"); status {
			case "":
			case "204", "404": // end of batch, or nothing at/after from
				return out, nil
			default:
				return nil, fmt.Errorf("range %s: status %s %s", room, status, m.Header.Get("Description"))
			}
			var ev api.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				return nil, fmt.Errorf("range %s: corrupt event at %s: %w", room, m.Header.Get("Nats-Sequence"), err)
			}
			out = append(out, ev)
			if len(out) == n {
				// The server still sends its end-of-batch marker; we need not wait.
				return out, nil
			}
		}
	}
}
