package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dandan test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With a certificate the node serves HTTPS and WSS, and the SDK chats over them.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	n := testnode.Start(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	newClient := func() *client.Client {
		c, err := client.New(client.Options{Servers: []string{"https://" + n.Config.HTTP}, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := newClient(), newClient()
	if _, err := a.SignUp(ctx(t), api.SignUpRequest{Handle: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignUp(ctx(t), api.SignUpRequest{Handle: "bob", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	room, err := a.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	lb := live(t, &user{Client: b}, map[string]uint64{room.ID: 0})
	if _, err := a.Send(ctx(t), room.ID, "over tls"); err != nil {
		t.Fatal(err)
	}
	if got := messages(collect(t, lb, room.ID, 2, 10*time.Second)); len(got) != 1 || got[0].Text != "over tls" {
		t.Fatalf("bob got %+v", got)
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get("http://" + n.Config.HTTP + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}
