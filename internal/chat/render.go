package chat

import (
	"fmt"
	"strconv"
	"time"

	"github.com/dandanchat/dandan/api"
)

// Role says how a piece of text is shown; a Paint function may colour it.
type Role int

// The roles of rendered text.
const (
	RolePlain  Role = iota
	RoleSelf        // the signed-in user's handle
	RoleOther       // another user's handle
	RoleNotice      // membership changes, connection state
	RoleError       // failures
	RoleDim         // seqs, times, "(edited)"
)

// Renderer turns events into one-line texts such as "#12 14:03 alice: hello".
type Renderer struct {
	Names *Names                    // resolves sender ids; nil shows ids
	Me    string                    // the signed-in user's id, painted RoleSelf
	Now   func() time.Time          // nil: time.Now; decides whether to show the date
	Paint func(Role, string) string // nil: plain text
}

func (r *Renderer) paint(role Role, s string) string {
	if r.Paint == nil || s == "" {
		return s
	}
	return r.Paint(role, s)
}

func (r *Renderer) who(id string) string {
	h := id
	if r.Names != nil {
		h = r.Names.Handle(id)
	}
	if id == r.Me {
		return r.paint(RoleSelf, h)
	}
	return r.paint(RoleOther, h)
}

// Time formats a unix-millisecond time: "14:03" today, "Jan 2 14:03" this
// year, else "2006-01-02 14:03".
func (r *Renderer) Time(ms int64) string {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	t := time.UnixMilli(ms).In(now.Location())
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan 2 15:04")
	default:
		return t.Format("2006-01-02 15:04")
	}
}

// Line renders one event, with its seq first if withSeq.
func (r *Renderer) Line(ev *api.Event, withSeq bool) string {
	return r.line(ev, withSeq, r.body(ev))
}

func (r *Renderer) line(ev *api.Event, withSeq bool, body string) string {
	head := r.Time(ev.Time) + " "
	if withSeq {
		head = "#" + strconv.FormatUint(ev.Seq, 10) + " " + head
	}
	return r.paint(RoleDim, head) + body
}

func (r *Renderer) body(ev *api.Event) string {
	who := r.who(ev.Sender)
	switch ev.Type {
	case api.EventMessage:
		if ev.ReplyTo > 0 {
			return fmt.Sprintf("%s %s: %s", who, r.paint(RoleDim, fmt.Sprintf("(re #%d)", ev.ReplyTo)), ev.Text)
		}
		return who + ": " + ev.Text
	case api.EventEdit:
		return fmt.Sprintf("%s %s: %s", who, r.paint(RoleDim, fmt.Sprintf("edited #%d", ev.Target)), ev.Text)
	case api.EventDelete:
		return who + " " + r.paint(RoleDim, fmt.Sprintf("deleted #%d", ev.Target))
	}
	return r.paint(RoleNotice, "* "+r.notice(ev))
}

func (r *Renderer) notice(ev *api.Event) string {
	who := r.plainWho(ev.Sender)
	switch ev.Type {
	case api.EventRoomCreated:
		if ev.Kind == api.RoomDirect {
			return who + " started the conversation"
		}
		return fmt.Sprintf("%s created the group %q", who, ev.Name)
	case api.EventRoomRenamed:
		return fmt.Sprintf("%s renamed the group to %q", who, ev.Name)
	case api.EventMemberJoined:
		if ev.User == ev.Sender || ev.User == "" {
			return who + " joined"
		}
		return who + " added " + r.plainWho(ev.User)
	case api.EventMemberLeft:
		if ev.User == "" {
			return who + " left"
		}
		return r.plainWho(ev.User) + " left"
	case api.EventMemberRemoved:
		return who + " removed " + r.plainWho(ev.User)
	}
	return who + " " + ev.Type
}

func (r *Renderer) plainWho(id string) string {
	if r.Names != nil {
		return r.Names.Handle(id)
	}
	return id
}

// Page renders a page of history, oldest first. Edits and deletions whose
// target is on the page are folded into it ("hello! (edited)", "(deleted)");
// the others get a line of their own.
func (r *Renderer) Page(evs []api.Event, withSeq bool) []string {
	type state struct {
		text    string
		edited  bool
		deleted bool
	}
	msgs := map[uint64]*state{}
	folded := make([]bool, len(evs))
	for i, ev := range evs {
		switch ev.Type {
		case api.EventMessage:
			msgs[ev.Seq] = &state{text: ev.Text}
		case api.EventEdit, api.EventDelete:
			st, ok := msgs[ev.Target]
			if !ok {
				continue
			}
			folded[i] = true
			if ev.Type == api.EventEdit {
				st.text, st.edited = ev.Text, true
			} else {
				st.deleted = true
			}
		}
	}
	lines := make([]string, 0, len(evs))
	for i := range evs {
		ev := &evs[i]
		if folded[i] {
			continue
		}
		st, ok := msgs[ev.Seq]
		if ev.Type != api.EventMessage || !ok || (!st.edited && !st.deleted) {
			lines = append(lines, r.Line(ev, withSeq))
			continue
		}
		e := *ev
		e.Text = st.text
		body := r.body(&e)
		switch {
		case st.deleted:
			body = r.who(ev.Sender) + ": " + r.paint(RoleDim, "(deleted)")
		case st.edited:
			body += " " + r.paint(RoleDim, "(edited)")
		}
		lines = append(lines, r.line(ev, withSeq, body))
	}
	return lines
}
