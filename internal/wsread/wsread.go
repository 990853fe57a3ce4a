// Package wsread reads WebSocket messages into pooled buffers. A busy
// connection carries tens of thousands of small messages a second; reading
// each into a fresh slice (as websocket.Conn.ReadMessage does) made message
// buffers the largest share of all memory allocated under load, and so of
// the garbage collector's work. A buffer is taken only once a message has
// arrived and is given back when its frames are decoded, so an idle
// connection holds none.
package wsread

import (
	"bytes"
	"sync"

	"github.com/gorilla/websocket"
)

// keepMax is the largest buffer given back to the pool: one grown by a rare
// large message is left to the garbage collector. Clients bundle sends up
// to 32 KiB in one message, and a buffer grows past that by doubling.
const keepMax = 128 << 10

// Pool lends buffers to the readers of many connections. The zero value is
// ready to use; it is safe for concurrent use.
type Pool struct{ p sync.Pool }

// Read waits for the next message of conn and reads it whole into a buffer
// of the pool. The caller must not keep the bytes past Release.
func (p *Pool) Read(conn *websocket.Conn) (*Message, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	m, _ := p.p.Get().(*Message)
	if m == nil {
		m = &Message{}
	}
	m.pool = p
	m.buf.Reset()
	if _, err := m.buf.ReadFrom(r); err != nil {
		m.Release()
		return nil, err
	}
	return m, nil
}

// Message is one WebSocket message read by a Pool.
type Message struct {
	buf  bytes.Buffer
	pool *Pool
}

// Bytes returns the message; valid until Release.
func (m *Message) Bytes() []byte { return m.buf.Bytes() }

// Release gives the buffer back to its pool.
func (m *Message) Release() {
	if m.buf.Cap() > keepMax {
		return
	}
	m.pool.p.Put(m)
}
