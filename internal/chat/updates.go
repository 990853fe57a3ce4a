package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// handleUpdate shows what the live connection delivers.
func (s *session) handleUpdate(ctx context.Context, u client.Update) {
	switch u.Kind {
	case client.Connected:
		if !s.connected {
			s.connected = true
			s.notice("* connected")
			s.updatePrompt()
		}
	case client.Disconnected:
		s.lastErr = u.Err
		if api.IsCode(u.Err, api.CodeUnauthorized) {
			s.failure("✗ the server refused the session: sign in again")
		} else if s.connected {
			s.connected = false
			s.notice("* connection lost — reconnecting…")
			s.updatePrompt()
		}
	case client.EventUpdate:
		s.handleEvent(ctx, u.Event)
	case client.RoomUpdate:
		_, known := s.rooms[u.Room.ID]
		s.rememberRoom(u.Room)
		if !known {
			s.notice(fmt.Sprintf("* you are now in %s — /join %s", RoomLabel(u.Room), joinRef(u.Room)))
		}
		if u.Room.ID == s.cur {
			s.updatePrompt()
		}
	case client.Left:
		r, known := s.rooms[u.RoomID]
		if !known || s.left[u.RoomID] {
			return
		}
		delete(s.rooms, u.RoomID)
		s.left[u.RoomID] = true
		s.hook.setRooms(s.rooms)
		s.notice(fmt.Sprintf("* you are no longer in %s", RoomLabel(r)))
		if s.cur == u.RoomID {
			s.setCurrent("")
		}
	case client.Typing:
		s.handleTyping(ctx, u.RoomID, u.User)
	case client.ReceiptUpdate:
		s.handleReceipt(ctx, u.Receipt)
	case client.Refused:
		s.handleRefused(u)
	}
}

// handleRefused tells the user, at most every few seconds, that the server
// is busy and their message waits in the queue: it will be sent by itself.
func (s *session) handleRefused(u client.Update) {
	if u.Ref != api.FrameSend && u.Ref != api.FrameEdit && u.Ref != api.FrameDelete {
		return
	}
	now := time.Now()
	if now.Sub(s.busyNoticeAt) < busyNoticeEvery {
		return
	}
	s.busyNoticeAt = now
	wait := "shortly"
	var e *api.Error
	if errors.As(u.Err, &e) && e.RetryAfter() > 0 {
		wait = "in " + e.RetryAfter().Round(100*time.Millisecond).String()
	}
	s.notice("* the server is busy: your message is queued and will be sent " + wait)
}

// busyNoticeEvery is how often "the server is busy" is shown at most.
const busyNoticeEvery = 5 * time.Second

// handleReceipt shows, in the current room, when another member has read my
// latest message: "✓ seen by bob" (once per message and reader).
func (s *session) handleReceipt(ctx context.Context, r *api.Receipt) {
	if r == nil || r.User == s.me.ID || r.Room != s.cur {
		return
	}
	mine := s.ownLast[r.Room]
	if mine == 0 || r.Read < mine {
		return
	}
	by := s.seenBy[r.Room]
	if by == nil {
		by = map[string]uint64{}
		s.seenBy[r.Room] = by
	}
	if by[r.User] >= mine {
		return
	}
	by[r.User] = mine
	s.names.Resolve(ctx, r.Room, api.Event{Sender: r.User})
	s.scr.Println(s.rend.paint(RoleDim, fmt.Sprintf("  ✓ seen by %s", s.names.Handle(r.User))))
}

// joinRef is what to type after /join to enter r (/join takes the rest of
// the line, so a name may have spaces).
func joinRef(r *api.Room) string {
	if r.Kind == api.RoomDirect && r.Peer != nil {
		return "@" + r.Peer.Handle
	}
	if r.Name == "" {
		return r.ID
	}
	return r.Name
}

func (s *session) setCurrent(id string) {
	s.cur = id
	s.hook.setCurrent(id)
	s.updatePrompt()
}

func (s *session) handleEvent(ctx context.Context, ev *api.Event) {
	if ev == nil || s.left[ev.Room] || ev.Seq <= s.shown[ev.Room] {
		return
	}
	s.shown[ev.Room] = ev.Seq
	switch ev.Type {
	case api.EventMemberJoined:
		s.names.Forget(ev.Room)
	case api.EventRoomRenamed:
		if r := s.rooms[ev.Room]; r != nil {
			r.Name = ev.Name
			s.hook.setRooms(s.rooms)
			if ev.Room == s.cur {
				s.updatePrompt()
			}
		}
	}
	s.names.Resolve(ctx, ev.Room, *ev)
	if p := s.pending[ev.ClientID]; p != nil && ev.Sender == s.me.ID {
		p.seen = true
	}
	if ev.Sender == s.me.ID && ev.Type == api.EventMessage {
		s.ownLast[ev.Room] = ev.Seq
	}
	if users := s.typing[ev.Room]; users != nil && ev.Type == api.EventMessage {
		if _, ok := users[ev.Sender]; ok {
			delete(users, ev.Sender)
			s.updatePrompt()
		}
	}
	if ev.Room == s.cur {
		s.scr.Println(s.rend.Line(ev, true))
		_ = s.live.Receipt(ev.Room, ev.Seq, ev.Seq)
		return
	}
	label := ev.Room
	if r := s.rooms[ev.Room]; r != nil {
		label = RoomLabel(r)
	}
	s.scr.Println(s.rend.paint(RoleDim, "["+label+"] ") + s.rend.Line(ev, false))
	_ = s.live.Receipt(ev.Room, ev.Seq, 0)
}

// handleTyping notes that user types in room: in the prompt on a terminal,
// else as a line (once per burst).
func (s *session) handleTyping(ctx context.Context, room, user string) {
	if user == s.me.ID || room != s.cur || room == "" {
		return
	}
	users := s.typing[room]
	if users == nil {
		users = map[string]time.Time{}
		s.typing[room] = users
	}
	_, already := users[user]
	users[user] = time.Now().Add(s.opts.TypingFor)
	if already {
		return
	}
	s.names.Resolve(ctx, room, api.Event{Sender: user})
	if s.opts.Terminal {
		s.updatePrompt()
	} else {
		s.scr.Println(s.rend.paint(RoleDim, "("+s.names.Handle(user)+" is typing…)"))
	}
}

// typers describes who types in room: "bob is typing…".
func (s *session) typers(room string) string {
	var hs []string
	for u := range s.typing[room] {
		hs = append(hs, s.names.Handle(u))
	}
	slices.Sort(hs)
	switch len(hs) {
	case 0:
		return ""
	case 1:
		return hs[0] + " is typing…"
	case 2:
		return hs[0] + " and " + hs[1] + " are typing…"
	}
	return fmt.Sprintf("%d people are typing…", len(hs))
}

func (s *session) notice(t string)  { s.scr.Println(s.rend.paint(RoleNotice, t)) }
func (s *session) failure(t string) { s.scr.Println(s.rend.paint(RoleError, t)) }

// errorText is how an error is shown: "message (code)" for API errors.
func errorText(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%s (%s)", e.Message, e.Code)
	}
	return err.Error()
}
