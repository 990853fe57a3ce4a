package client

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dandanchat/dandan/api"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// decodeFrame decodes one server frame into f (which must be zero). Acks
// and events, nearly all the frames of a busy connection, are read by
// fastFrame when they have the plain shape the server writes; anything else
// by the JSON decoder, with the same result (FuzzFrame checks that).
func decodeFrame(b []byte, f *api.ServerFrame) error {
	if fastFrame(b, f) {
		return nil
	}
	*f = api.ServerFrame{}
	return jsonv1.Unmarshal(b, f)
}

// fastFrame reads a frame made only of the keys type, id, ack and event,
// whose ack and event objects hold only their own fields' exact names, each
// once, with no spaces, strings without escapes or control characters, and
// integers without sign (except a time), fraction or exponent. It reports
// false for anything else, leaving f to be reset and decoded in full.
func fastFrame(b []byte, f *api.ServerFrame) bool {
	// One copy of the frame: its fields are substrings of it.
	s := scanner{b: string(b)}
	var seen uint
	ok := s.object(func(key string) bool {
		switch key {
		case "type":
			return s.once(&seen, 1) && s.str(&f.Type)
		case "id":
			return s.once(&seen, 2) && s.str(&f.ID)
		case "ack":
			f.Ack = new(api.Ack)
			return s.once(&seen, 4) && s.ack(f.Ack)
		case "event":
			f.Event = new(api.Event)
			return s.once(&seen, 8) && s.event(f.Event)
		}
		return false
	})
	return ok && s.i == len(b)
}

// scanner reads JSON of the restricted shape fastFrame accepts.
type scanner struct {
	b string
	i int
}

func (s *scanner) once(seen *uint, bit uint) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// object reads {"key":value,...}, calling field for each key with the
// scanner at its value; field reads the value or returns false.
func (s *scanner) object(field func(key string) bool) bool {
	if !s.byte('{') {
		return false
	}
	for {
		if !s.byte('"') {
			return false
		}
		k := s.i
		for s.i < len(s.b) && (s.b[s.i] >= 'a' && s.b[s.i] <= 'z' || s.b[s.i] == '_') {
			s.i++
		}
		key := s.b[k:s.i]
		if !s.byte('"') || !s.byte(':') || !field(key) {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) str(v *string) bool {
	if !s.byte('"') {
		return false
	}
	n := strings.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return false
	}
	raw := s.b[s.i : s.i+n]
	if !plain(raw) {
		return false // an escape (\" included), a control character or bad UTF-8
	}
	*v = raw
	s.i += n + 1
	return true
}

// plain reports whether raw, the text between a string's quotes, means
// itself: no backslash, no control character, valid UTF-8. It looks at
// eight bytes at a time; texts are most of a frame's bytes.
func plain(raw string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	var high uint64 // the high bits seen: any non-ASCII byte
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		x := uint64(raw[i]) | uint64(raw[i+1])<<8 | uint64(raw[i+2])<<16 | uint64(raw[i+3])<<24 |
			uint64(raw[i+4])<<32 | uint64(raw[i+5])<<40 | uint64(raw[i+6])<<48 | uint64(raw[i+7])<<56
		// A byte below 0x20 (bytes of 0x80 and up never match: ^x clears
		// their high bit), or a byte equal to '\\'.
		bs := x ^ ('\\' * ones)
		if (x-0x20*ones)&^x&highs != 0 || (bs-ones)&^bs&highs != 0 {
			return false
		}
		high |= x & highs
	}
	for ; i < len(raw); i++ {
		c := raw[i]
		if c < 0x20 || c == '\\' {
			return false
		}
		high |= uint64(c) & 0x80
	}
	return high == 0 || utf8.ValidString(raw)
}

// digits returns the unsigned integer's text at the scanner.
func (s *scanner) digits() (string, bool) {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	d := s.b[start:s.i]
	if len(d) == 0 || d[0] == '0' && len(d) > 1 {
		return "", false
	}
	return d, true
}

func (s *scanner) uint(v *uint64) bool {
	d, ok := s.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(d, 10, 64)
	*v = n
	return err == nil
}

func (s *scanner) int(v *int64) bool {
	neg := s.byte('-')
	d, ok := s.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(d, 10, 64)
	if neg {
		n = -n
	}
	*v = n
	return err == nil
}

func (s *scanner) bool(v *bool) bool {
	switch {
	case len(s.b)-s.i >= 4 && s.b[s.i:s.i+4] == "true":
		*v, s.i = true, s.i+4
		return true
	case len(s.b)-s.i >= 5 && s.b[s.i:s.i+5] == "false":
		*v, s.i = false, s.i+5
		return true
	}
	return false
}

func (s *scanner) ack(a *api.Ack) bool {
	var seen uint
	return s.object(func(key string) bool {
		switch key {
		case "id":
			return s.once(&seen, 1) && s.str(&a.ID)
		case "room":
			return s.once(&seen, 2) && s.str(&a.Room)
		case "seq":
			return s.once(&seen, 4) && s.uint(&a.Seq)
		case "ts":
			return s.once(&seen, 8) && s.int(&a.Time)
		case "duplicate":
			return s.once(&seen, 16) && s.bool(&a.Duplicate)
		}
		return false
	})
}

func (s *scanner) event(e *api.Event) bool {
	var seen uint
	return s.object(func(key string) bool {
		switch key {
		case "room":
			return s.once(&seen, 1<<0) && s.str(&e.Room)
		case "seq":
			return s.once(&seen, 1<<1) && s.uint(&e.Seq)
		case "type":
			return s.once(&seen, 1<<2) && s.str(&e.Type)
		case "sender":
			return s.once(&seen, 1<<3) && s.str(&e.Sender)
		case "client_id":
			return s.once(&seen, 1<<4) && s.str(&e.ClientID)
		case "ts":
			return s.once(&seen, 1<<5) && s.int(&e.Time)
		case "text":
			return s.once(&seen, 1<<6) && s.str(&e.Text)
		case "reply_to":
			return s.once(&seen, 1<<7) && s.uint(&e.ReplyTo)
		case "target":
			return s.once(&seen, 1<<8) && s.uint(&e.Target)
		case "user":
			return s.once(&seen, 1<<9) && s.str(&e.User)
		case "name":
			return s.once(&seen, 1<<10) && s.str(&e.Name)
		case "kind":
			return s.once(&seen, 1<<11) && s.str(&e.Kind)
		case "deleted":
			return s.once(&seen, 1<<12) && s.bool(&e.Deleted)
		}
		return false
	})
}
