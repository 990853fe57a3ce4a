package chat

import (
	"context"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// pendingSend is a send, edit or deletion awaiting its acknowledgement.
type pendingSend struct {
	what string // "message", "edit", "deletion"
	text string // what the user typed, to show it back if it fails
	seen bool   // its event was shown: the user knows it went through
	slow bool   // "(sending…)" was shown
}

// slowSend says a send is still unanswered after Options.SendingNotice.
type slowSend struct{ id string }

// sendDone is the answer to a send.
type sendDone struct {
	id  string
	ack *api.Ack
	err error
}

// track follows p: a notice if it is slow, the error if it fails. Its
// event, not the ack, shows that it went through.
func (s *session) track(p *client.Pending, what, text string) {
	s.pending[p.ID] = &pendingSend{what: what, text: text}
	s.wg.Go(func() {
		t := time.NewTimer(s.opts.SendingNotice)
		defer t.Stop()
		select {
		case <-p.Done():
		case <-t.C:
			if !s.report(slowSend{p.ID}) {
				return
			}
			select {
			case <-p.Done():
			case <-s.quit:
				return
			}
		case <-s.quit:
			return
		}
		ack, err := p.Wait(context.Background())
		s.report(sendDone{p.ID, ack, err})
	})
}

// report hands r to the loop; false if the session is over.
func (s *session) report(r any) bool {
	select {
	case s.results <- r:
		return true
	case <-s.quit:
		return false
	}
}

func (s *session) handleResult(r any) {
	switch r := r.(type) {
	case slowSend:
		if p := s.pending[r.id]; p != nil && !p.seen {
			p.slow = true
			s.scr.Println(s.rend.paint(RoleDim, "   (sending…) "+p.text))
		}
	case sendDone:
		p := s.pending[r.id]
		delete(s.pending, r.id)
		if p == nil {
			return
		}
		if r.err != nil {
			s.failure("✗ " + p.what + " not sent (" + errorText(r.err) + "): " + p.text)
		}
	}
}

// unsent shows that something typed could not even be queued.
func (s *session) unsent(why, text string) {
	s.failure("✗ not sent (" + why + "): " + text)
}
