package client

import (
	"context"
	"net/http"

	"github.com/dandanchat/dandan/api"
)

// Cluster returns the nodes of the cluster as the current server knows
// them. It needs no sign-in.
func (c *Client) Cluster(ctx context.Context) (*api.Cluster, error) {
	var out api.Cluster
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster", out: &out, noAuth: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DiscoverServers returns the client's servers followed by every other
// node the cluster announces, so that a client given one site's address
// can remember them all and fail over to any. If the cluster cannot be
// asked, it returns the client's servers and the error.
func (c *Client) DiscoverServers(ctx context.Context) ([]string, error) {
	out := c.Servers()
	cl, err := c.Cluster(ctx)
	if err != nil {
		return out, err
	}
	known := make(map[string]bool, len(out))
	for _, s := range out {
		known[s] = true
	}
	for _, n := range cl.Nodes {
		b, err := parseServer(n.URL)
		if err != nil || known[b] {
			continue
		}
		known[b] = true
		out = append(out, b)
	}
	return out, nil
}
