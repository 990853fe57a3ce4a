package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// start loads the user, the rooms and the first room's history, and opens
// the live connection if none was given.
func (s *session) start(ctx context.Context) error {
	if s.opts.Me != nil {
		s.me = *s.opts.Me
	} else {
		me, err := s.c.Me(ctx)
		if err != nil {
			return err
		}
		s.me = me.User
	}
	s.names.Add(s.me)
	s.rend.Me = s.me.ID
	rooms, err := s.c.Rooms(ctx)
	if err != nil {
		return err
	}
	for i := range rooms {
		s.rememberRoom(&rooms[i])
	}
	var first *api.Room
	if s.opts.Room != "" {
		if first, err = ResolveRoom(ctx, s.c, rooms, s.opts.Room); err != nil {
			return err
		}
		s.rememberRoom(first)
	}
	var page *api.Page
	if first != nil {
		if page, err = s.c.History(ctx, first.ID, s.historyQuery(0)); err != nil {
			return err
		}
	}
	if s.live == nil {
		lo := s.opts.LiveOptions
		if first != nil {
			lo.Cursors = map[string]uint64{first.ID: lastSeq(page)}
		}
		if s.live, err = s.c.Live(ctx, lo); err != nil {
			return err
		}
		s.ownLive = true
	}
	s.scr.SetKeyHook(s.keyHook)
	s.resize()
	s.scr.Println(s.rend.paint(RoleNotice, fmt.Sprintf("* signed in as %s — /help lists the commands, /quit leaves", s.me.Handle)))
	if first == nil {
		s.listRooms(rooms)
		s.updatePrompt()
		return nil
	}
	s.enter(ctx, first, page)
	return nil
}

func (s *session) historyQuery(n int) client.HistoryQuery {
	if n <= 0 {
		n = s.opts.HistoryLines
	}
	return client.HistoryQuery{Limit: min(n, api.MaxPageLimit)}
}

func lastSeq(p *api.Page) uint64 {
	if p == nil || len(p.Events) == 0 {
		return 0
	}
	return p.Events[len(p.Events)-1].Seq
}

// rememberRoom records a room summary and feeds the key hook's completions.
func (s *session) rememberRoom(r *api.Room) {
	if r == nil || r.ID == "" {
		return
	}
	cp := *r
	s.rooms[r.ID] = &cp
	delete(s.left, r.ID)
	if r.Peer != nil {
		s.names.Add(*r.Peer)
	}
	s.hook.setRooms(s.rooms)
}

// enter makes r the current room and shows page (its latest history).
func (s *session) enter(ctx context.Context, r *api.Room, page *api.Page) {
	s.rememberRoom(r)
	s.cur = r.ID
	s.hook.setCurrent(r.ID)
	info := members(r.Members)
	if r.Kind == api.RoomDirect {
		info = "direct"
	}
	s.scr.Println(s.rend.paint(RoleNotice, fmt.Sprintf("── %s (%s) ──", RoomLabel(r), info)))
	s.showPage(ctx, r.ID, page)
	s.updatePrompt()
}

// showPage prints a page of history of room and marks it read.
func (s *session) showPage(ctx context.Context, room string, page *api.Page) {
	if page == nil {
		return
	}
	if page.HasMore && len(page.Events) > 0 {
		s.scr.Println(s.rend.paint(RoleDim, fmt.Sprintf("   (earlier messages: /history %d)", 2*len(page.Events))))
	}
	s.names.Resolve(ctx, room, page.Events...)
	for _, l := range s.rend.Page(page.Events, true) {
		s.scr.Println(l)
	}
	if last := lastSeq(page); last > 0 {
		s.shown[room] = max(s.shown[room], last)
		_ = s.live.Receipt(room, last, last)
	}
}

// updatePrompt shows the current room, the connection state and who types.
func (s *session) updatePrompt() {
	p := "> "
	if r := s.rooms[s.cur]; r != nil {
		p = "[" + RoomLabel(r) + "] > "
	}
	if ts := s.typers(s.cur); ts != "" {
		p = "(" + ts + ") " + p
	}
	if !s.connected {
		p = "(offline) " + p
	}
	s.scr.SetPrompt(p)
}

// tick expires typing notices and follows the terminal's size.
func (s *session) tick() {
	now := time.Now()
	changed := false
	for room, users := range s.typing {
		for u, until := range users {
			if now.After(until) {
				delete(users, u)
				changed = changed || room == s.cur
			}
		}
		if len(users) == 0 {
			delete(s.typing, room)
		}
	}
	if changed {
		s.updatePrompt()
	}
	s.resize()
}

func (s *session) resize() {
	if s.opts.Size == nil {
		return
	}
	if w, h, err := s.opts.Size(); err == nil && w > 0 && w != s.width {
		s.width = w
		s.scr.SetSize(w, h)
	}
}
