package chat

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dandanchat/dandan/api"
)

// hookState is what the key hook needs, shared with the reader goroutine.
type hookState struct {
	mu         sync.Mutex
	cur        string
	rooms      []string // completions for /join
	lastTyping time.Time
}

func (h *hookState) setCurrent(id string) {
	h.mu.Lock()
	h.cur = id
	h.mu.Unlock()
}

func (h *hookState) setRooms(rooms map[string]*api.Room) {
	refs := make([]string, 0, len(rooms))
	for _, r := range rooms {
		refs = append(refs, joinRef(r))
	}
	slices.Sort(refs)
	h.mu.Lock()
	h.rooms = refs
	h.mu.Unlock()
}

// keyHook runs on the reader goroutine for key presses: Tab completes
// commands, @handles and rooms; other keys tell the room the user types.
func (s *session) keyHook(line string, pos int, key rune) (string, int, bool) {
	if key == '\t' {
		return s.complete(line, pos)
	}
	// line is the line before the key is added.
	typed := line[:pos] + string(key) + line[pos:]
	if key < ' ' || strings.HasPrefix(typed, "/") && !strings.HasPrefix(typed, "//") {
		return "", 0, false
	}
	s.hook.mu.Lock()
	cur, due := s.hook.cur, time.Since(s.hook.lastTyping) > typingEvery
	if due && cur != "" {
		s.hook.lastTyping = time.Now()
	}
	s.hook.mu.Unlock()
	if due && cur != "" {
		_ = s.live.Typing(cur)
	}
	return "", 0, false
}

// complete completes the word before pos.
func (s *session) complete(line string, pos int) (string, int, bool) {
	start := strings.LastIndexByte(line[:pos], ' ') + 1
	word := line[start:pos]
	var cands []string
	switch {
	case start == 0 && strings.HasPrefix(word, "/"):
		cands = commandNames()
	case strings.HasPrefix(word, "@"):
		for _, h := range s.names.Known() {
			cands = append(cands, "@"+h)
		}
	case strings.HasPrefix(line[:pos], "/join ") || strings.HasPrefix(line[:pos], "/j "):
		start = strings.IndexByte(line, ' ') + 1 // room names may have spaces
		word = line[start:pos]
		s.hook.mu.Lock()
		cands = slices.Clone(s.hook.rooms)
		s.hook.mu.Unlock()
	case strings.HasPrefix(line, "/dm ") || strings.HasPrefix(line, "/invite ") || strings.HasPrefix(line, "/group "):
		cands = s.names.Known()
	default:
		return "", 0, false
	}
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) && c != word {
			match = append(match, c)
		}
	}
	if len(match) == 0 {
		return "", 0, false
	}
	fill := commonPrefix(match)
	if len(match) == 1 {
		fill += " "
	}
	if len(fill) <= len(word) {
		return "", 0, false
	}
	nl := line[:start] + fill + line[pos:]
	return nl, start + len(fill), true
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			_, n := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-n]
		}
	}
	return p
}
