package messenger

import (
	"context"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
)

// Send stores a message in a room the caller is a member of.
func (s *Service) Send(ctx context.Context, c Caller, roomID string, r api.SendRequest) (*api.Ack, error) {
	if !api.ValidClientID(r.ID) {
		return nil, api.Errorf(api.CodeInvalid, "a message id is 1-%d letters, digits, _ or -", api.MaxClientIDLen)
	}
	if err := api.CheckText(r.Text); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	return s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: api.EventMessage, Sender: c.User,
		ClientID: r.ID, Text: r.Text, ReplyTo: r.ReplyTo})
}

// Edit replaces the text of one of the caller's messages, as a new event.
func (s *Service) Edit(ctx context.Context, c Caller, roomID string, target uint64, r api.EditRequest) (*api.Ack, error) {
	if !api.ValidClientID(r.ID) {
		return nil, api.Errorf(api.CodeInvalid, "a message id is 1-%d letters, digits, _ or -", api.MaxClientIDLen)
	}
	if err := api.CheckText(r.Text); err != nil {
		return nil, err
	}
	orig, err := s.target(ctx, c, roomID, target)
	if err != nil {
		return nil, err
	}
	if orig.Sender != c.User {
		return nil, api.Errorf(api.CodeForbidden, "only its sender can edit a message")
	}
	return s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: api.EventEdit, Sender: c.User,
		ClientID: r.ID, Text: r.Text, Target: target})
}

// Delete removes one of the caller's messages (or, for an admin, anyone's),
// as a new event.
func (s *Service) Delete(ctx context.Context, c Caller, roomID string, target uint64, clientID string) (*api.Ack, error) {
	if !api.ValidClientID(clientID) {
		return nil, api.Errorf(api.CodeInvalid, "a message id is 1-%d letters, digits, _ or -", api.MaxClientIDLen)
	}
	orig, err := s.target(ctx, c, roomID, target)
	if err != nil {
		return nil, err
	}
	if orig.Sender != c.User {
		if m, _ := s.ix.Member(roomID, c.User); m.Role != api.RoleAdmin {
			return nil, api.Errorf(api.CodeForbidden, "only its sender or an admin can delete a message")
		}
	}
	return s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: api.EventDelete, Sender: c.User,
		ClientID: clientID, Target: target})
}

// target loads the message event at seq for an edit or delete.
func (s *Service) target(ctx context.Context, c Caller, roomID string, seq uint64) (*api.Event, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	if seq == 0 || seq > s.lastSeq(ctx, roomID) {
		return nil, api.Errorf(api.CodeNotFound, "no message %d in this room", seq)
	}
	evs, err := s.events(ctx, roomID, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if seq == 0 || len(evs) == 0 || evs[0].Seq != seq || evs[0].Type != api.EventMessage {
		return nil, api.Errorf(api.CodeNotFound, "no message %d in this room", seq)
	}
	return &evs[0], nil
}

// History returns a page of a room's events. after > 0 pages forward from
// after; otherwise the page ends just before before (0: the newest event).
func (s *Service) History(ctx context.Context, c Caller, roomID string, after, before uint64, limit int) (*api.Page, error) {
	if limit <= 0 {
		limit = api.DefaultPageLimit
	}
	limit = min(limit, api.MaxPageLimit)
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	last := s.lastSeq(ctx, roomID)
	var from uint64 // exclusive
	var n uint64
	if after > 0 {
		from, n = after, uint64(limit)
	} else {
		end := last + 1
		if before > 0 && before < end {
			end = before
		}
		if end > uint64(limit) {
			from = end - 1 - uint64(limit)
		}
		n = end - 1 - from
	}
	evs, err := s.events(ctx, roomID, from, int(n))
	if err != nil {
		return nil, err
	}
	page := &api.Page{Events: evs}
	if after > 0 {
		page.HasMore = len(evs) > 0 && evs[len(evs)-1].Seq < last
	} else {
		page.HasMore = from > 0
	}
	if page.Events == nil {
		page.Events = []api.Event{}
	}
	return page, nil
}

// lastSeq is the newest seq of room known to this node: the read model's or,
// if this node stored something newer, that (after waiting for the read
// model to catch up with it, so that history shows what was acknowledged).
func (s *Service) lastSeq(ctx context.Context, roomID string) uint64 {
	last := s.ix.LastSeq(roomID)
	if k := s.heads.known(roomID); k > last {
		if _, ok := s.ix.WaitSeq(ctx, roomID, k); ok {
			last = k
		}
	}
	return last
}

// waitIndexed waits at most d (and while ctx lasts) for this node's read
// model to show seq of room, and returns its stream sequence.
func (s *Service) waitIndexed(ctx context.Context, room string, seq uint64, d time.Duration) (uint64, bool) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return s.ix.WaitSeq(wctx, room, seq)
}

// waitIndex bounds how long a read waits for this node's read model to
// catch up with an event another node (or this one) already stored.
const waitIndex = 5 * time.Second

// liveWaitIndex is how long a live session's catch-up waits for this
// node's read model to learn a seq a client already holds (it came from
// another node). Short: the session's acknowledgements wait behind it, and
// a read model that lags for longer (its partition is electing a leader)
// is caught up with later, when the room's next live event fills the gap.
const liveWaitIndex = 200 * time.Millisecond

// EventsAfter returns up to n events of room with seq > after, in order,
// reading the store to its end, for a live session's catch-up. If this
// node's read model does not know after yet, it waits briefly and then
// answers nothing. It does not check membership: callers have.
func (s *Service) EventsAfter(ctx context.Context, roomID string, after uint64, n int) ([]api.Event, error) {
	return s.eventsWaiting(ctx, roomID, after, n, liveWaitIndex)
}

func (s *Service) events(ctx context.Context, roomID string, after uint64, n int) ([]api.Event, error) {
	return s.eventsWaiting(ctx, roomID, after, n, waitIndex)
}

// eventsWaiting returns up to n events of room after seq after, waiting at
// most maxWait for the read model to know after.
func (s *Service) eventsWaiting(ctx context.Context, roomID string, after uint64, n int, maxWait time.Duration) ([]api.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	from := uint64(1)
	if after > 0 {
		sseq, ok := s.ix.StreamSeq(roomID, after)
		if !ok {
			// Another node may have stored it a moment ago: give this node's
			// read model a little time, then answer that nothing follows.
			wait := maxWait
			if after > max(s.ix.LastSeq(roomID), s.heads.known(roomID)) {
				wait = min(wait, time.Second)
			}
			if sseq, ok = s.waitIndexed(ctx, roomID, after, wait); !ok {
				return nil, nil
			}
		}
		from = sseq + 1
	}
	evs, err := s.st.Range(ctx, roomID, from, n)
	if err != nil {
		return nil, s.unavailable("range", err)
	}
	evs, err = s.fillHoles(ctx, roomID, evs, after, n)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		if evs[i].Type == api.EventMessage && s.ix.Deleted(roomID, evs[i].Seq) {
			evs[i].Text, evs[i].Deleted = "", true // withheld from everyone once deleted
		}
	}
	return evs, nil
}

// fillHoles returns the events after+1, after+2, … (at most n) from evs, a
// batch read from some replica, reading from the stream leader every one
// this node's read model knows but the batch lacks. A replica may lag its
// leader (the batch ends early) or be catching up after a restart (the
// batch has a hole); without this a catch-up or a history page could skip
// an event. The result ends where neither the batch nor the read model has
// the next event.
func (s *Service) fillHoles(ctx context.Context, roomID string, evs []api.Event, after uint64, n int) ([]api.Event, error) {
	out := make([]api.Event, 0, min(n, len(evs)+1))
	next, i := after+1, 0
	for len(out) < n {
		for i < len(evs) && evs[i].Seq < next {
			i++ // before the range asked (the read model was behind)
		}
		if i < len(evs) && evs[i].Seq == next {
			out = append(out, evs[i])
			i, next = i+1, next+1
			continue
		}
		sseq, ok := s.ix.StreamSeq(roomID, next)
		if !ok {
			break
		}
		ev, err := s.st.EventAt(ctx, roomID, sseq)
		if err != nil {
			return nil, s.unavailable("read event", err)
		}
		out = append(out, *ev)
		next++
	}
	return out, nil
}

// authorize checks membership: the read model first, the members bucket if
// the read model does not know yet (a membership created a moment ago).
func (s *Service) authorize(ctx context.Context, roomID, user string) error {
	if s.ix.IsMember(roomID, user) {
		return nil
	}
	if !api.ValidID(roomID) {
		return errNotMember
	}
	var m store.MemberRecord
	if _, err := s.st.GetJSON(ctx, s.st.Members, store.MemberKey(roomID, user), &m); err != nil {
		if err == store.ErrNotFound {
			return errNotMember
		}
		return s.unavailable("get member", err)
	}
	return nil
}
