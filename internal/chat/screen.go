package chat

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// screen is where the session reads lines and shows output.
type screen interface {
	ReadLine() (string, error)
	Println(s string)
	SetPrompt(p string) // shown while a line is read (terminal only)
	Erase(line string)  // remove the echo of the line just read (terminal only)
	SetSize(w, h int)
	Paint(r Role, s string) string
	// SetKeyHook sets a function called on key presses while a line is
	// edited (terminal only), with term.Terminal.AutoCompleteCallback's contract.
	SetKeyHook(func(line string, pos int, key rune) (string, int, bool))
}

// plainScreen reads and writes lines, for pipes and tests.
type plainScreen struct {
	in *bufio.Reader
	mu sync.Mutex
	w  io.Writer
}

func newPlainScreen(in io.Reader, out io.Writer) *plainScreen {
	return &plainScreen{in: bufio.NewReader(in), w: out}
}

func (s *plainScreen) ReadLine() (string, error) {
	line, err := s.in.ReadString('\n')
	if err != nil && line != "" {
		err = nil // the last line without newline; EOF comes next time
	}
	return strings.TrimRight(line, "\r\n"), err
}

func (s *plainScreen) Println(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.w, line)
}

func (s *plainScreen) SetPrompt(string)                                       {}
func (s *plainScreen) Erase(string)                                           {}
func (s *plainScreen) SetSize(int, int)                                       {}
func (s *plainScreen) Paint(_ Role, t string) string                          { return t }
func (s *plainScreen) SetKeyHook(func(string, int, rune) (string, int, bool)) {}

// ttyScreen edits lines with term.Terminal; In/Out must be a terminal in
// raw mode. Output is written above the line being edited.
type ttyScreen struct {
	t   *term.Terminal
	out io.Writer

	mu     sync.Mutex
	prompt string
	width  int
	hook   func(string, int, rune) (string, int, bool)
}

func newTTYScreen(in io.Reader, out io.Writer) *ttyScreen {
	s := &ttyScreen{out: out, width: 80}
	s.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "")
	s.t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook == nil {
			return "", 0, false
		}
		return hook(line, pos, key)
	}
	return s
}

func (s *ttyScreen) ReadLine() (string, error) { return s.t.ReadLine() }

func (s *ttyScreen) Println(line string) {
	_, _ = s.t.Write([]byte(line + "\n"))
}

func (s *ttyScreen) SetPrompt(p string) {
	s.mu.Lock()
	changed := s.prompt != p
	s.prompt = p
	s.mu.Unlock()
	if changed {
		s.t.SetPrompt(p)
		_, _ = s.t.Write(nil) // repaint the prompt if it is shown
	}
}

// Erase moves up over the rows the prompt and line took and clears them. It
// is called between ReadLine calls, when the terminal is at a row start.
func (s *ttyScreen) Erase(line string) {
	s.mu.Lock()
	n := utf8.RuneCountInString(s.prompt) + utf8.RuneCountInString(line)
	up := n/s.width + 1
	s.mu.Unlock()
	fmt.Fprintf(s.out, "\x1b[%dA\r\x1b[J", up)
}

func (s *ttyScreen) SetSize(w, h int) {
	if w <= 0 {
		return
	}
	s.mu.Lock()
	s.width = w
	s.mu.Unlock()
	_ = s.t.SetSize(w, h)
}

func (s *ttyScreen) SetKeyHook(f func(string, int, rune) (string, int, bool)) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

func (s *ttyScreen) Paint(r Role, t string) string {
	e := s.t.Escape
	var c []byte
	switch r {
	case RoleSelf:
		c = e.Green
	case RoleOther:
		h := fnv.New32a()
		h.Write([]byte(t))
		c = [][]byte{e.Cyan, e.Magenta, e.Blue, e.Yellow}[h.Sum32()%4]
	case RoleNotice:
		c = e.Yellow
	case RoleError:
		c = e.Red
	case RoleDim:
		if len(e.Reset) > 0 {
			c = []byte("\x1b[2m")
		}
	}
	if len(c) == 0 {
		return t
	}
	return string(c) + t + string(e.Reset)
}
