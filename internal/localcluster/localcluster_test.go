package localcluster_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/localcluster"
	"github.com/dandanchat/dandan/internal/testnode"
)

func TestMain(m *testing.M) { testnode.Main(m) }

// code returns the error code a node answers an unauthenticated API
// request with ("" if it answers otherwise).
func code(url string) api.Code {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url + "/v1/me")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// waitCode waits up to d for url to answer want.
func waitCode(t *testing.T, url string, want api.Code, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for code(url) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %q, want %q (%s)", url, code(url), want, time.Now().Format("15:04:05.000"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCutAndHeal cuts a data centre off and heals it, several times: its
// node must notice within seconds each time and answer cut_off (sending
// clients elsewhere) while the others keep serving, then serve again.
func TestCutAndHeal(t *testing.T) {
	exe, env := testnode.Exe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{DCs: 3, Dir: t.TempDir(), Exe: exe,
		Env: env, Flags: []string{"--password-hash=fast"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if got := c.DCs(); len(got) != 3 || len(c.URLs()) != 3 {
		t.Fatalf("DCs %v, URLs %v", got, c.URLs())
	}
	victim := c.InDC("dc3")[0]
	other := c.InDC("dc1")[0]
	for round := range 4 {
		c.Cut("dc3")
		waitCode(t, victim.URL, api.CodeCutOff, 5*time.Second)
		if got := code(other.URL); got != api.CodeUnauthorized {
			t.Fatalf("round %d: the majority's node answers %q, want unauthorized", round, got)
		}
		c.Heal("dc3")
		waitCode(t, victim.URL, api.CodeUnauthorized, 10*time.Second)
	}
	c.Kill("dc2")
	if c.InDC("dc2")[0].Running() {
		t.Fatal("dc2 still runs after Kill")
	}
	if err := c.Restart(ctx, "dc2"); err != nil {
		t.Fatal(err)
	}
}

// TestSingleNode starts one data centre of one node: an unclustered node,
// whose peak memory is known.
func TestSingleNode(t *testing.T) {
	exe, env := testnode.Exe(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{DCs: 1, Dir: t.TempDir(), Exe: exe, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	n := c.Nodes()[0]
	for _, arg := range c.Command(n) {
		if arg == "--cluster" {
			t.Errorf("a single node was started as a cluster: %v", c.Command(n))
		}
	}
	if got := code(n.URL); got != api.CodeUnauthorized {
		t.Errorf("the node answers %q, want unauthorized", got)
	}
	if rss := n.PeakRSS(); runtime.GOOS == "linux" && (rss < 1<<20 || rss > 1<<40) {
		t.Errorf("PeakRSS = %d bytes", rss)
	}
}
