package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every node the tests start is stopped again, and must leave no goroutine
// behind: sessions, lanes, watchers, consumers and the embedded server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
