// Package freeport picks TCP ports for nodes that are started later: test
// nodes and the nodes of a local cluster, whose addresses must be known
// before any of them binds.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// Addr returns an address on host with a port that is free now, chosen
// below the range the kernel hands out for port 0 (32768 and up by default
// on Linux). A node's port must stay free from when it is chosen until the
// node binds it, possibly after a restart; a port the kernel handed out and
// took back could meanwhile become the local port of an outgoing
// connection, while ports below that range are only ever taken on purpose.
func Addr(host string) (string, error) {
	for range 200 {
		addr := net.JoinHostPort(host, strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", errors.New("freeport: no free port between 20000 and 32000")
}
