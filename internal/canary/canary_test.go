package canary

import (
	"strings"
	"testing"

	"github.com/dandanchat/dandan/api"
)

// The canary account's handle must be valid whatever the node is called;
// the canary itself is tested on a real node (internal/node TestCanary).
func TestCanaryHandle(t *testing.T) {
	for _, node := range []string{"dc1", "DC-2.example", "seoul/a", strings.Repeat("n", 80), "노드"} {
		h := canaryHandle(node)
		if !api.ValidHandle(h) || !strings.HasPrefix(h, "canary_") {
			t.Errorf("node %q: handle %q is not a valid canary handle", node, h)
		}
	}
	if a, b := canaryHandle("dc1"), canaryHandle("dc2"); a == b {
		t.Errorf("dc1 and dc2 share the handle %q", a)
	}
	if k := statusKey("dc-1.a/b"); strings.ContainsAny(k, "./") {
		t.Errorf("status key %q has a separator", k)
	}
}
