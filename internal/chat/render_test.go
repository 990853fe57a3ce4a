package chat

import (
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

func TestRendererPage(t *testing.T) {
	now := time.Date(2025, 3, 4, 15, 0, 0, 0, time.Local)
	at := func(h, m int) int64 { return time.Date(2025, 3, 4, h, m, 0, 0, time.Local).UnixMilli() }
	names := &Names{handles: map[string]string{"ua": "alice", "ub": "bob"}, fetched: map[string]struct{}{}}
	r := &Renderer{Names: names, Me: "ua", Now: func() time.Time { return now }}
	evs := []api.Event{
		{Seq: 1, Type: api.EventRoomCreated, Sender: "ua", Kind: api.RoomGroup, Name: "team", Time: at(9, 0)},
		{Seq: 2, Type: api.EventMemberJoined, Sender: "ua", User: "ub", Time: at(9, 1)},
		{Seq: 3, Type: api.EventMessage, Sender: "ua", Text: "helo", Time: at(14, 3)},
		{Seq: 4, Type: api.EventMessage, Sender: "ub", Text: "hi", ReplyTo: 3, Time: at(14, 4)},
		{Seq: 5, Type: api.EventEdit, Sender: "ua", Target: 3, Text: "hello", Time: at(14, 5)},
		{Seq: 6, Type: api.EventMessage, Sender: "ub", Text: "oops", Time: at(14, 6)},
		{Seq: 7, Type: api.EventDelete, Sender: "ub", Target: 6, Time: at(14, 7)},
		{Seq: 8, Type: api.EventEdit, Sender: "ub", Target: 1, Text: "?", Time: at(14, 8)},
		{Seq: 9, Type: api.EventDelete, Sender: "ua", Target: 2, Time: at(14, 9)},
		{Seq: 10, Type: api.EventMemberLeft, Sender: "ub", User: "ub", Time: at(14, 10)},
		{Seq: 11, Type: api.EventMemberRemoved, Sender: "ua", User: "uc", Time: time.Date(2024, 1, 2, 3, 4, 0, 0, time.Local).UnixMilli()},
	}
	want := []string{
		`#1 09:00 * alice created the group "team"`,
		`#2 09:01 * alice added bob`,
		`#3 14:03 alice: hello (edited)`,
		`#4 14:04 bob (re #3): hi`,
		`#6 14:06 bob: (deleted)`,
		`#8 14:08 bob edited #1: ?`,
		`#9 14:09 alice deleted #2`,
		`#10 14:10 * bob left`,
		`#11 2024-01-02 03:04 * alice removed uc`,
	}
	got := r.Page(evs, true)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Page =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ev := api.Event{Seq: 3, Type: api.EventMessage, Sender: "ub", Text: "yo", Time: time.Date(2025, 1, 9, 8, 7, 0, 0, time.Local).UnixMilli()}
	if got, want := r.Line(&ev, false), "Jan 9 08:07 bob: yo"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

func TestComplete(t *testing.T) {
	s := &session{names: &Names{handles: map[string]string{"ua": "alice", "ub": "albert"}}}
	s.hook.rooms = []string{"@alice", "team", "teal", "the crew"}
	for _, tt := range []struct {
		line, want string
		ok         bool
	}{
		{"/jo", "/join ", true},
		{"/d", "", false}, // ambiguous: /delete, /dm
		{"/hi", "/history ", true},
		{"hi @alb", "hi @albert ", true},
		{"hi @al", "hi @al", false},
		{"/join te", "/join tea", true},
		{"/join tex", "", false},
		{"/join the c", "/join the crew ", true},
		{"plain", "", false},
	} {
		line, pos, ok := s.complete(tt.line, len(tt.line))
		if ok != tt.ok || ok && (line != tt.want || pos != len(tt.want)) {
			t.Errorf("complete(%q) = %q, %d, %v; want %q, %v", tt.line, line, pos, ok, tt.want, tt.ok)
		}
	}
}
