package chat

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// commandTimeout bounds the server requests of one command.
const commandTimeout = 30 * time.Second

// helpText lists the commands for /help.
func helpText() []string {
	return []string{
		"plain text           send to the current room (start with // to send a /)",
		"/rooms               list your rooms",
		"/join ROOM|@handle   switch to a room (id or group name) or a direct chat",
		"/dm HANDLE           switch to the direct chat with HANDLE",
		"/group NAME USER…    create a group with these members and switch to it",
		"/invite USER…        add users to the current group",
		"/rename NAME         rename the current group",
		"/leave               leave the current group",
		"/members             list the members of the current room",
		"/history [N]         show the last N messages (default 20)",
		"/reply SEQ TEXT      reply to message #SEQ",
		"/edit SEQ TEXT       change the text of your message #SEQ",
		"/delete SEQ          delete message #SEQ",
		"/who                 who you are, where, and the connection state",
		"/help                this list",
		"/quit                leave (Ctrl-D too)",
	}
}

// commandNames are completed by Tab.
func commandNames() []string {
	return []string{"/delete", "/dm", "/edit", "/group", "/help", "/history", "/invite",
		"/join", "/leave", "/members", "/quit", "/rename", "/reply", "/rooms", "/who"}
}

// handleLine acts on one line typed; true means quit.
func (s *session) handleLine(ctx context.Context, line string) bool {
	if strings.TrimSpace(line) == "" {
		return false
	}
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		s.scr.Erase(line)
		s.send(strings.TrimPrefix(line, "/"), 0, line)
		return false
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	args := strings.Fields(rest)
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	switch name {
	case "/quit", "/exit", "/q":
		return true
	case "/help", "/?":
		for _, h := range helpText() {
			s.scr.Println("  " + h)
		}
	case "/rooms":
		s.cmdRooms(ctx)
	case "/join", "/j":
		s.cmdJoin(ctx, rest)
	case "/dm":
		s.cmdJoin(ctx, "@"+strings.TrimPrefix(rest, "@"))
	case "/group":
		s.cmdGroup(ctx, args)
	case "/invite":
		s.cmdInvite(ctx, args)
	case "/rename":
		s.cmdRename(ctx, rest)
	case "/leave":
		s.cmdLeave(ctx)
	case "/members":
		s.cmdMembers(ctx)
	case "/history":
		s.cmdHistory(ctx, args)
	case "/reply", "/edit":
		s.scr.Erase(line)
		seq, text, err := seqAndText(rest)
		switch {
		case err != nil:
			s.unsent(err.Error(), line)
		case name == "/reply":
			s.send(text, seq, line)
		default:
			s.edit(seq, text, line)
		}
	case "/delete":
		s.scr.Erase(line)
		s.delete(args, line)
	case "/who":
		s.cmdWho()
	default:
		s.failure(fmt.Sprintf("✗ unknown command %s — /help lists them", name))
	}
	return false
}

// seqAndText splits "12 some text".
func seqAndText(s string) (uint64, string, error) {
	n, text, _ := strings.Cut(s, " ")
	seq, err := parseSeq(n)
	if err != nil {
		return 0, "", err
	}
	return seq, strings.TrimSpace(text), nil
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%q is not a message number", s)
	}
	return seq, nil
}

// needRoom reports whether there is a current room, saying so if not.
func (s *session) needRoom() bool {
	if s.cur == "" {
		s.failure("✗ no current room: /join one first (/rooms lists them)")
		return false
	}
	return true
}

func (s *session) send(text string, replyTo uint64, typed string) {
	if s.cur == "" {
		s.unsent("no current room: /join one first", typed)
		return
	}
	var opts []client.SendOption
	if replyTo > 0 {
		opts = append(opts, client.WithReplyTo(replyTo))
	}
	s.track(s.live.SendAsync(s.cur, text, opts...), "message", typed)
}

func (s *session) edit(seq uint64, text, typed string) {
	if s.cur == "" {
		s.unsent("no current room: /join one first", typed)
		return
	}
	s.track(s.live.EditAsync(s.cur, seq, text), "edit", typed)
}

func (s *session) delete(args []string, typed string) {
	if len(args) != 1 {
		s.failure("✗ usage: /delete SEQ")
		return
	}
	seq, err := parseSeq(args[0])
	if err != nil {
		s.failure("✗ " + err.Error())
		return
	}
	if !s.needRoom() {
		return
	}
	s.track(s.live.DeleteAsync(s.cur, seq), "deletion", typed)
}

func (s *session) cmdRooms(ctx context.Context) {
	rooms, err := s.c.Rooms(ctx)
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	for i := range rooms {
		s.rememberRoom(&rooms[i])
	}
	s.listRooms(rooms)
}

// listRooms prints rooms, the current one marked.
func (s *session) listRooms(rooms []api.Room) {
	if len(rooms) == 0 {
		s.notice("* you are in no room yet: /dm HANDLE or /group NAME USER… starts one")
		return
	}
	slices.SortFunc(rooms, func(a, b api.Room) int { return strings.Compare(RoomLabel(&a), RoomLabel(&b)) })
	s.scr.Println("rooms (/join one):")
	for i := range rooms {
		r := &rooms[i]
		mark := " "
		if r.ID == s.cur {
			mark = "*"
		}
		info := members(r.Members)
		if r.Kind == api.RoomDirect {
			info = "direct"
		}
		if r.Unread > 0 {
			info += fmt.Sprintf(", %d unread", r.Unread)
		}
		s.scr.Println(fmt.Sprintf(" %s %-24s %s  %s", mark, RoomLabel(r), info, s.rend.paint(RoleDim, r.ID)))
	}
}

func (s *session) cmdJoin(ctx context.Context, ref string) {
	if ref == "" || ref == "@" {
		s.failure("✗ usage: /join ROOM or /join @handle")
		return
	}
	list := make([]api.Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		list = append(list, *r)
	}
	r, err := ResolveRoom(ctx, s.c, list, ref)
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	s.switchTo(ctx, r)
}

// switchTo enters r, showing its latest history.
func (s *session) switchTo(ctx context.Context, r *api.Room) {
	page, err := s.c.History(ctx, r.ID, s.historyQuery(0))
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	s.enter(ctx, r, page)
}

func (s *session) cmdGroup(ctx context.Context, args []string) {
	if len(args) == 0 {
		s.failure("✗ usage: /group NAME USER…")
		return
	}
	r, err := s.c.CreateGroup(ctx, args[0], args[1:])
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	s.switchTo(ctx, r)
}

func (s *session) cmdInvite(ctx context.Context, users []string) {
	if len(users) == 0 {
		s.failure("✗ usage: /invite USER…")
		return
	}
	if !s.needRoom() {
		return
	}
	for i, u := range users {
		users[i] = strings.TrimPrefix(u, "@")
	}
	ms, err := s.c.Invite(ctx, s.cur, users)
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	for _, m := range ms {
		s.names.Add(m.User)
	}
}

func (s *session) cmdRename(ctx context.Context, name string) {
	if name == "" {
		s.failure("✗ usage: /rename NAME")
		return
	}
	if !s.needRoom() {
		return
	}
	if _, err := s.c.RenameRoom(ctx, s.cur, name); err != nil {
		s.failure("✗ " + errorText(err))
	}
}

func (s *session) cmdLeave(ctx context.Context) {
	if !s.needRoom() {
		return
	}
	r := s.rooms[s.cur]
	if err := s.c.Leave(ctx, s.cur); err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	s.left[s.cur] = true
	delete(s.rooms, s.cur)
	s.hook.setRooms(s.rooms)
	s.notice(fmt.Sprintf("* you left %s — /rooms lists the others", RoomLabel(r)))
	s.setCurrent("")
}

func (s *session) cmdMembers(ctx context.Context) {
	if !s.needRoom() {
		return
	}
	ms, err := s.c.Members(ctx, s.cur)
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	slices.SortFunc(ms, func(a, b api.Member) int { return strings.Compare(a.Handle, b.Handle) })
	s.scr.Println(fmt.Sprintf("%d members of %s:", len(ms), RoomLabel(s.rooms[s.cur])))
	for _, m := range ms {
		s.names.Add(m.User)
		line := "  " + m.Handle
		if m.DisplayName != "" {
			line += " (" + m.DisplayName + ")"
		}
		if m.Role == api.RoleAdmin {
			line += " " + s.rend.paint(RoleDim, "admin")
		}
		s.scr.Println(line)
	}
}

func (s *session) cmdHistory(ctx context.Context, args []string) {
	if !s.needRoom() {
		return
	}
	n := 0
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v <= 0 {
			s.failure("✗ usage: /history [N]")
			return
		}
		n = v
	}
	page, err := s.c.History(ctx, s.cur, s.historyQuery(n))
	if err != nil {
		s.failure("✗ " + errorText(err))
		return
	}
	s.showPage(ctx, s.cur, page)
}

func (s *session) cmdWho() {
	where := "in no room"
	if r := s.rooms[s.cur]; r != nil {
		where = "in " + RoomLabel(r) + " (" + r.ID + ")"
	}
	state := "connected"
	if !s.connected {
		state = "reconnecting"
	}
	s.notice(fmt.Sprintf("* you are %s (%s), %s; %s to %s", s.me.Handle, s.me.ID, where, state, strings.Join(s.c.Servers(), ", ")))
}
