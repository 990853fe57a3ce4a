package store

import (
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
func (s *Store) Append(ctx context.Context, ev *api.Event, msgID string, expectLast uint64) (streamSeq uint64, dup bool, err error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, false, err
	}
	m := nats.NewMsg(s.Subject(ev.Room))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expectLast, 10))
	m.Header.Set(HeaderSeq, strconv.FormatUint(ev.Seq, 10))
	m.Header.Set(HeaderType, ev.Type)
	m.Header.Set(HeaderSender, ev.Sender)
	if ev.Target > 0 {
		m.Header.Set(HeaderTarget, strconv.FormatUint(ev.Target, 10))
	}
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && isWrongLast(apiErr.ErrorCode) {
			return 0, false, ErrWrongLast
		}
		return 0, false, fmt.Errorf("append to %s: %w", ev.Room, err)
	}
	return ack.Sequence, ack.Duplicate, nil
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
