package broker

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster starts one broker per data centre, all at once, as a
// cluster's first start does.
func startCluster(t *testing.T, secrets []string) []*Broker {
	t.Helper()
	addrs := make([]string, len(secrets))
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	type result struct {
		i int
		b *Broker
	}
	done := make(chan result, len(addrs))
	for i := range addrs {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		dir := t.TempDir()
		go func(i int) {
			b, err := Start(Config{Dir: dir, Name: fmt.Sprintf("n%d", i), Cluster: &Cluster{
				Listen: addrs[i], Peers: peers, DC: fmt.Sprintf("dc%d", i), Secret: secrets[i]}})
			if err != nil {
				t.Errorf("start n%d: %v", i, err)
			}
			done <- result{i, b}
		}(i)
	}
	bs := make([]*Broker, len(addrs))
	for range addrs {
		r := <-done
		bs[r.i] = r.b
		if r.b != nil {
			t.Cleanup(r.b.Shutdown)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return bs
}

// TestClusterPlacesReplicasInEveryDC checks that three brokers in three data
// centres form one JetStream cluster and that an R3 stream gets one replica
// in each data centre.
func TestClusterPlacesReplicasInEveryDC(t *testing.T) {
	secret := "0123456789abcdef-secret"
	bs := startCluster(t, []string{secret, secret, secret})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := bs[0].WaitMeta(ctx); err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := bs[1].JetStream().CreateStream(cctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
		if err == nil {
			info, err = s.Info(cctx)
		}
		ccancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("R3 stream not placed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	servers := map[string]bool{info.Cluster.Leader: true}
	for _, r := range info.Cluster.Replicas {
		servers[r.Name] = true
	}
	if len(servers) != 3 {
		t.Fatalf("replicas on %v, want n0, n1 and n2 (one per dc)", servers)
	}
	// A write through one node is readable through another.
	if _, err := bs[2].JetStream().Publish(ctx, "t.x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
}

// TestClusterRefusesWrongSecret checks that a node with another secret
// cannot join: the two with the right one form a cluster of two peers.
func TestClusterRefusesWrongSecret(t *testing.T) {
	secret := "0123456789abcdef-secret"
	bs := startCluster(t, []string{secret, secret, "not-the-right-secret-at-all"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bs[0].WaitMeta(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // give a wrongly accepted route time to show
	for i, b := range bs {
		if n := b.srv.NumRoutes(); (i < 2 && n == 0) || (i == 2 && n != 0) {
			t.Errorf("n%d has %d routes", i, n)
		}
	}
	if bs[2].MetaCurrent() {
		t.Error("n2, refused by the others, says it is in touch with a meta leader")
	}
}
