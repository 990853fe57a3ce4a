package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dandanchat/dandan/internal/freeport"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startCluster starts one broker per data centre, all at once, as a
// cluster's first start does.
func startCluster(t *testing.T, secrets []string) []*Broker {
	return startClusterTLS(t, secrets, nil)
}

func startClusterTLS(t *testing.T, secrets []string, tlsFor func(i int) *tls.Config) []*Broker {
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
		var tc *tls.Config
		if tlsFor != nil {
			tc = tlsFor(i)
		}
		go func(i int) {
			b, err := Start(Config{Dir: dir, Name: fmt.Sprintf("n%d", i), Cluster: &Cluster{
				Listen: addrs[i], Peers: peers, DC: fmt.Sprintf("dc%d", i), Secret: secrets[i], TLS: tc}})
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
	if err := waitMeta(ctx, bs[0]); err != nil {
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
	if err := waitMeta(ctx, bs[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // give a wrongly accepted route time to show
	for i, b := range bs[:2] {
		if n := b.srv.NumRoutes(); n == 0 {
			t.Errorf("n%d has no route", i)
		}
	}
	// A route being refused is counted while its handshake lasts (which
	// can be a while on a loaded machine); an accepted one stays.
	for deadline := time.Now().Add(5 * time.Second); bs[2].srv.NumRoutes() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("n2, with the wrong secret, has kept %d routes for 5 s", bs[2].srv.NumRoutes())
			break
		}
	}
	if metaCurrent(bs[2]) {
		t.Error("n2, refused by the others, says it is in touch with a meta leader")
	}
}

// TestClusterRoutesOverTLS checks that routes form over mutual TLS with
// certificates from the cluster's CA, and that a node whose certificate
// another CA signed is kept out even with the right secret.
func TestClusterRoutesOverTLS(t *testing.T) {
	good, other := newCA(t), newCA(t)
	secret := "0123456789abcdef-secret"
	bs := startClusterTLS(t, []string{secret, secret, secret}, func(i int) *tls.Config {
		ca := good
		if i == 2 {
			ca = other
		}
		return &tls.Config{Certificates: []tls.Certificate{ca.issue(t)}, RootCAs: good.pool, ClientCAs: good.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitMeta(ctx, bs[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for i, b := range bs {
		if n := b.srv.NumRoutes(); (i < 2 && n == 0) || (i == 2 && n != 0) {
			t.Errorf("n%d has %d routes", i, n)
		}
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dandan test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for 127.0.0.1, good for both ends of a route.
func (ca *testCA) issue(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// waitMeta waits until b knows the cluster's meta leader and is current
// with it.
func waitMeta(ctx context.Context, b *Broker) error {
	for !metaCurrent(b) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no JetStream meta leader: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// metaCurrent reports whether b is in touch with a JetStream meta leader.
func metaCurrent(b *Broker) bool { return b.srv.JetStreamIsCurrent() }

// TestClusterClientListener checks the client listener a clustered node
// must open: it takes the node's own password only, and the server, which
// keeps only the password's hash, does not warn of a plaintext one.
func TestClusterClientListener(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	// A clustered node is ready once it has a route: start two.
	addrs := []string{freeAddr(t), freeAddr(t)}
	errs := make(chan error, 2)
	var b *Broker
	for i := range addrs {
		dir := t.TempDir()
		go func() {
			n, err := Start(Config{Dir: dir, Name: fmt.Sprintf("n%d", i), Logger: log, Cluster: &Cluster{
				Listen: addrs[i], Peers: []string{addrs[1-i]}, DC: fmt.Sprintf("dc%d", i), Secret: "0123456789abcdef-secret"}})
			if err == nil {
				t.Cleanup(n.Shutdown)
				if i == 0 {
					b = n
				}
			}
			errs <- err
		}()
	}
	var failed error
	for range addrs { // both, so that no Start outlives the test
		if err := <-errs; err != nil {
			failed = err
		}
	}
	if failed != nil {
		t.Fatal(failed)
	}
	url := b.srv.ClientURL()
	if nc, err := nats.Connect(url, nats.UserInfo(b.user, b.pass)); err != nil {
		t.Errorf("the node's own password refused: %v", err)
	} else {
		nc.Close()
	}
	for _, pass := range []string{"", "wrong"} {
		if nc, err := nats.Connect(url, nats.UserInfo(b.user, pass), nats.NoReconnect()); err == nil {
			nc.Close()
			t.Errorf("password %q accepted", pass)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "Plaintext password") {
		t.Errorf("the server warns of a plaintext password:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
