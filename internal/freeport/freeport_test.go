package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Addr gives a bindable port below the kernel's ephemeral range, and a
// taken one is never given.
func TestAddr(t *testing.T) {
	seen := map[string]bool{}
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for range 20 {
		addr, err := Addr("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(addr)
		if port, _ := strconv.Atoi(p); port < 20000 || port >= 32000 {
			t.Fatalf("port %d, want 20000-31999", port)
		}
		if seen[addr] {
			t.Fatalf("%s given twice while held", addr)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("bind %s: %v", addr, err)
		}
		held = append(held, ln)
	}
}
