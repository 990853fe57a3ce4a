package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/broker"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/gateway"
	"github.com/dandanchat/dandan/internal/httpapi"
	"github.com/dandanchat/dandan/internal/store"
)

// Cluster membership as clients see it: every node announces its client
// URL in the replicated nodes bucket, and GET /v1/cluster lists them all, so
// a client that knows one site's address learns every other one.

// announceEvery is how often a node rewrites its record; a record older than
// staleAfter is shown as not up.
const (
	announceEvery = 10 * time.Second
	staleAfter    = 3 * announceEvery
)

// brokerCluster turns the cluster options into the broker's.
func brokerCluster(cfg config.Config) (*broker.Cluster, error) {
	if !cfg.Clustered() {
		return nil, nil
	}
	c := &broker.Cluster{Listen: cfg.Cluster, Peers: cfg.PeerList(), DC: cfg.DC, Secret: cfg.ClusterSecret}
	if cfg.ClusterTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClusterTLSCert, cfg.ClusterTLSKey)
		if err != nil {
			return nil, fmt.Errorf("cluster tls: %w", err)
		}
		pem, err := os.ReadFile(cfg.ClusterTLSCA)
		if err != nil {
			return nil, fmt.Errorf("cluster tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster tls: no certificate in %s", cfg.ClusterTLSCA)
		}
		// Both ends of a route prove themselves with a certificate from the
		// cluster's CA.
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// openStore opens the store, waiting as long as ctx allows for the cluster
// to have a quorum and enough data centres to place every replica.
func (n *Node) openStore(ctx context.Context, opts store.Options) (*store.Store, error) {
	var lastLog time.Time
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := store.Open(octx, n.broker.JetStream(), n.broker.Conn(), opts)
		cancel()
		if err == nil {
			return st, nil
		}
		if !n.cfg.Clustered() || ctx.Err() != nil {
			return nil, err
		}
		if time.Since(lastLog) > 5*time.Second {
			n.log.Warn("waiting for the cluster (a quorum, and a node in enough data centres)", "err", err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// nodeName is this node's name in the cluster ("dandan" on a single node).
func (n *Node) nodeName() string {
	if n.cfg.Node != "" {
		return n.cfg.Node
	}
	return "dandan"
}

// advertisedURL is where clients reach this node: --advertise, or the
// listen URL unless that names no host (0.0.0.0), which clients cannot use.
func (n *Node) advertisedURL() string {
	if n.cfg.Advertise != "" {
		return n.cfg.Advertise
	}
	if a, ok := n.ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		return ""
	}
	return n.URL()
}

// announce writes this node's record now and every announceEvery until ctx
// ends.
func (n *Node) announce(ctx context.Context) {
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	for {
		rec := store.NodeRecord{Name: n.nodeName(), DC: n.cfg.DC, URL: n.advertisedURL(), Seen: time.Now().UnixMilli()}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := store.PutJSON(pctx, n.store.Nodes, rec.Name, rec); err != nil && ctx.Err() == nil {
			n.log.Debug("announce failed", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchCutOff checks every quarter second whether the node is cut off from
// the cluster's majority, and tells the gateway and the HTTP API when that
// changes. A second of grace keeps a route's reconnection from sending
// every client away.
func (n *Node) watchCutOff(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var since time.Time // when the current cut began, or zero
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cut := n.broker.CutOff()
		switch {
		case !cut:
			since = time.Time{}
			if n.cutOff.Swap(false) {
				n.log.Warn("reconnected to the cluster's majority: serving clients again")
				n.gw.SetCutOff(false)
			}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= time.Second && !n.cutOff.Load():
			n.cutOff.Store(true)
			n.log.Warn("cut off from the cluster's majority: sending clients to other sites")
			n.gw.SetCutOff(true)
		}
	}
}

// unlessCutOff refuses API requests with cut_off while the node is cut off
// from the cluster, so that clients go to a site where they can write.
func (n *Node) unlessCutOff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.cutOff.Load() {
			httpapi.WriteError(w, gateway.ErrCutOff)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// clusterInfo serves GET /v1/cluster; ?leaders=1 adds each partition's leader.
func (n *Node) clusterInfo(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := api.Cluster{Node: n.nodeName(), DC: n.cfg.DC, Nodes: []api.ClusterNode{}}
	keys, err := n.store.Nodes.ListKeys(ctx)
	if err == nil {
		for k := range keys.Keys() {
			var rec store.NodeRecord
			if _, err := store.GetJSON(ctx, n.store.Nodes, k, &rec); err != nil {
				continue
			}
			if rec.URL == "" {
				continue // listening on every interface without --advertise
			}
			up := time.Since(time.UnixMilli(rec.Seen)) < staleAfter
			out.Nodes = append(out.Nodes, api.ClusterNode{Name: rec.Name, DC: rec.DC, URL: rec.URL, Up: up})
		}
	}
	if len(out.Nodes) == 0 && n.advertisedURL() != "" {
		// The bucket cannot be read (or this node has not announced itself
		// yet): at least this node is here.
		out.Nodes = append(out.Nodes, api.ClusterNode{Name: n.nodeName(), DC: n.cfg.DC, URL: n.advertisedURL(), Up: true})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	if r.URL.Query().Get("leaders") == "1" && n.cfg.Clustered() {
		for p, leader := range n.leaders(ctx) {
			out.Partitions = append(out.Partitions, api.Partition{Stream: store.StreamName(p), Leader: leader})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(out); err != nil && !errors.Is(err, context.Canceled) {
		n.log.Debug("write cluster info", "err", err)
	}
}

// leaders returns, per message stream, the node leading it ("" while it
// elects one, or when it cannot be asked).
func (n *Node) leaders(ctx context.Context) []string {
	out := make([]string, n.store.Partitions())
	for p := range out {
		if s, err := n.broker.JetStream().Stream(ctx, store.StreamName(p)); err == nil {
			if info := s.CachedInfo(); info != nil && info.Cluster != nil {
				out[p] = info.Cluster.Leader // as of the lookup just made
			}
		}
	}
	return out
}
