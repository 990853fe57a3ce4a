package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHTTPTimeout bounds each HTTP request of the default HTTP client.
const DefaultHTTPTimeout = 15 * time.Second

// DefaultOverloadRetries is how many times a request refused as overloaded
// or rate_limited is retried by default.
const DefaultOverloadRetries = 4

// Options configure a Client.
type Options struct {
	// Servers are the base URLs of every node, e.g. "http://127.0.0.1:8080".
	// On a network failure the client moves on to the next one.
	Servers    []string
	Token      string
	HTTPClient *http.Client // nil: a default with a 15 s timeout
	Logger     *slog.Logger // nil: discard
	UserAgent  string       // "": "dandan-go-client"

	// OverloadRetries is how many times a request refused as overloaded or
	// rate_limited is retried on the same server, after the wait the server
	// asks for; 0 = DefaultOverloadRetries, negative = never.
	OverloadRetries int
}

// Client talks to a dandan cluster. It is safe for concurrent use.
type Client struct {
	bases []string // server base URLs without a trailing slash
	cur   atomic.Uint64
	hc    *http.Client
	log   *slog.Logger
	ua    string
	// retries of a request refused for load; 0: none
	overloadRetries int

	mu    sync.RWMutex
	token string
}

// New returns a client for the given servers. It fails if there is no server
// or a URL is malformed (it must be http or https with a host).
func New(opts Options) (*Client, error) {
	if len(opts.Servers) == 0 {
		return nil, errors.New("client: no server given")
	}
	c := &Client{hc: opts.HTTPClient, log: opts.Logger, ua: opts.UserAgent, token: opts.Token}
	for _, s := range opts.Servers {
		b, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		c.bases = append(c.bases, b)
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ua == "" {
		c.ua = "dandan-go-client"
	}
	switch {
	case opts.OverloadRetries == 0:
		c.overloadRetries = DefaultOverloadRetries
	case opts.OverloadRetries > 0:
		c.overloadRetries = opts.OverloadRetries
	}
	return c, nil
}

func parseServer(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("client: server %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("client: server %q: scheme must be http or https", s)
	case u.Host == "":
		return "", fmt.Errorf("client: server %q: no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("client: server %q: must not have user info, query or fragment", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Servers returns the base URLs of the servers, as normalised by New.
func (c *Client) Servers() []string { return append([]string(nil), c.bases...) }

// Token returns the current token ("" if none).
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken replaces the token used by later requests and reconnects.
func (c *Client) SetToken(tok string) {
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
}
