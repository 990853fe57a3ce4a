package wsread

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestRead sends messages of several sizes, small and over the kept size,
// and checks each is read whole and unchanged, also when a buffer is reused,
// and that an oversized message fails with the read limit's error.
func TestRead(t *testing.T) {
	sizes := []int{1, 100, 4096, keepMax + 1, 3, 600, 0, 70000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for i, n := range sizes {
			if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{byte('a' + i)}, n)); err != nil {
				return
			}
		}
		_, _, _ = c.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var p Pool
	for i, n := range sizes[:len(sizes)-1] {
		m, err := p.Read(c)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(m.Bytes(), want) {
			t.Fatalf("message %d: read %d bytes %.10q…, want %d bytes of %q", i, len(m.Bytes()), m.Bytes(), n, rune('a'+i))
		}
		m.Release()
	}
	c.SetReadLimit(65536)
	if m, err := p.Read(c); err != websocket.ErrReadLimit {
		t.Fatalf("a message over the read limit: got %v (message %v), want ErrReadLimit", err, m != nil)
	}
}
