package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dandanchat/dandan/api"
)

// IdleConfig describes an idle-connection run.
type IdleConfig struct {
	Targets    []string      // base URLs; sessions are spread over them. Empty: an in-process node
	Conns      int           // WebSocket sessions to open
	Users      int           // users signed up; the sessions share their tokens. Default 10
	Settle     time.Duration // wait after opening, before measuring. Default 5s
	Hold       time.Duration // keep the sessions open this long after measuring
	MetricsURL string        // default: the first target's /metrics
	Sync       string        // the own node's sync setting
}

// IdleResult is the outcome of RunIdle. Deltas are between a scrape before
// the sessions were opened and one after Settle.
type IdleResult struct {
	Target       string  `json:"target"`
	InProcess    bool    `json:"in_process"` // the figures include the bench client's own memory
	Conns        int     `json:"conns"`
	Open         int     `json:"open"`
	Failed       int     `json:"failed"`
	Users        int     `json:"users"`
	Sessions     float64 `json:"server_sessions"` // dandan_ws_sessions after
	RSSBefore    float64 `json:"rss_before_bytes"`
	RSSAfter     float64 `json:"rss_after_bytes"`
	HeapBefore   float64 `json:"heap_before_bytes"`
	HeapAfter    float64 `json:"heap_after_bytes"`
	RSSPerConn   float64 `json:"rss_per_conn_bytes"`
	HeapPerConn  float64 `json:"heap_per_conn_bytes"`
	OpenSeconds  float64 `json:"open_s"` // time to open all sessions
	FirstError   string  `json:"first_error,omitempty"`
	MeasureLabel string  `json:"measure"` // what the memory figures cover
}

const idleParallel = 64

// RunIdle opens cfg.Conns authenticated, synced and then idle WebSocket
// sessions and reports the server's memory per session, from its
// Prometheus metrics (process_resident_memory_bytes and
// go_memstats_heap_inuse_bytes). Without a target it starts a node
// in-process, and the figures then include the client's memory too.
func RunIdle(ctx context.Context, cfg IdleConfig, logw io.Writer) (*IdleResult, error) {
	if cfg.Conns < 1 {
		return nil, errors.New("bench: --idle needs a number of connections")
	}
	if cfg.Users <= 0 {
		cfg.Users = 10
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 5 * time.Second
	}
	if cfg.Sync == "" {
		cfg.Sync = "default"
	}
	res := &IdleResult{Conns: cfg.Conns, Users: cfg.Users, Target: strings.Join(cfg.Targets, ","),
		MeasureLabel: "server process (from its /metrics)"}
	targets := cfg.Targets
	if len(targets) == 0 {
		n, err := startNode(ctx, cfg.Sync, logw)
		if err != nil {
			return nil, err
		}
		defer n.stop()
		targets = []string{n.url()}
		res.Target, res.InProcess = "own", true
		res.MeasureLabel = "bench process: in-process node AND its client sessions (use --target for server-only figures)"
		fmt.Fprintf(logw, "bench: idle: own node at %s; memory figures include the client side (use --target for the server alone)\n", n.url())
	}
	metricsURL := cfg.MetricsURL
	if metricsURL == "" {
		metricsURL = strings.TrimRight(targets[0], "/") + "/metrics"
	}

	users, err := signUp(ctx, targets, runPrefix(), cfg.Users, logw)
	if err != nil {
		return nil, err
	}
	scrape := func() (metricValues, error) {
		if res.InProcess {
			runtime.GC() // both sides are here: count live memory only
		}
		return scrapeMetrics(ctx, metricsURL)
	}
	before, err := scrape()
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(logw, "bench: idle: opening %d sessions with %d users' tokens\n", cfg.Conns, cfg.Users)
	conns := make([]*websocket.Conn, cfg.Conns)
	var opened, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		readers.Wait()
	}()
	dialer := &websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512,
		WriteBufferPool: &sync.Pool{}}
	t0 := time.Now()
	stopProgress := make(chan struct{})
	var progress sync.WaitGroup
	progress.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				fmt.Fprintf(logw, "bench: idle: %d/%d open, %d failed\n", opened.Load(), cfg.Conns, failed.Load())
			}
		}
	})
	_ = forEach(ctx, cfg.Conns, idleParallel, func(ctx context.Context, i int) error {
		c, err := openIdle(ctx, dialer, targets[i%len(targets)], users[i%len(users)].c.Token())
		if err != nil {
			failed.Add(1)
			s := err.Error()
			firstErr.CompareAndSwap(nil, &s)
			return nil
		}
		conns[i] = c
		opened.Add(1)
		readers.Go(func() {
			for { // answers the server's pings; idle sessions get nothing else
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		})
		return nil
	})
	close(stopProgress)
	progress.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.OpenSeconds = time.Since(t0).Seconds()
	res.Open, res.Failed = int(opened.Load()), int(failed.Load())
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
		fmt.Fprintf(logw, "bench: idle: %d sessions failed, first: %s\n", res.Failed, *p)
	}
	fmt.Fprintf(logw, "bench: idle: %d open in %.1fs; settling %v\n", res.Open, res.OpenSeconds, cfg.Settle)
	if !sleepCtx(ctx, cfg.Settle) {
		return nil, ctx.Err()
	}
	after, err := scrape()
	if err != nil {
		return nil, fmt.Errorf("%w (with %d sessions open: is the server out of file descriptors?)", err, res.Open)
	}
	res.RSSBefore, res.RSSAfter = before[metricRSS], after[metricRSS]
	res.HeapBefore, res.HeapAfter = before[metricHeap], after[metricHeap]
	res.Sessions = after[metricSessions]
	if res.Open > 0 {
		res.RSSPerConn = (res.RSSAfter - res.RSSBefore) / float64(res.Open)
		res.HeapPerConn = (res.HeapAfter - res.HeapBefore) / float64(res.Open)
	}
	if cfg.Hold > 0 {
		fmt.Fprintf(logw, "bench: idle: holding the sessions open for %v\n", cfg.Hold)
		if !sleepCtx(ctx, cfg.Hold) {
			return res, nil // interrupted while holding: the figures stand
		}
	}
	return res, nil
}

// openIdle opens one session: auth, wait for ready, sync, wait for synced.
func openIdle(ctx context.Context, d *websocket.Dialer, base, token string) (*websocket.Conn, error) {
	u := "ws://" + strings.TrimPrefix(base, "http://") + "/v1/ws"
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		u = "wss://" + rest + "/v1/ws"
	}
	c, _, err := d.DialContext(ctx, u, http.Header{"User-Agent": {"dandan-bench"}})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) {
		_ = c.Close()
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteJSON(api.ClientFrame{Type: api.FrameAuth, Token: token}); err != nil {
		return fail(err)
	}
	if err := awaitFrame(c, api.FrameReady); err != nil {
		return fail(err)
	}
	if err := c.WriteJSON(api.ClientFrame{Type: api.FrameSync}); err != nil {
		return fail(err)
	}
	if err := awaitFrame(c, api.FrameSynced); err != nil {
		return fail(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// awaitFrame reads frames until one of type typ; an error frame fails.
func awaitFrame(c *websocket.Conn, typ string) error {
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		var f api.ServerFrame
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("bench: undecodable frame: %w", err)
		}
		switch {
		case f.Type == typ:
			return nil
		case f.Type == api.FrameError && f.Error != nil:
			return f.Error
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// WriteText writes a readable summary.
func (r *IdleResult) WriteText(w io.Writer) error {
	mib := func(b float64) float64 { return b / (1 << 20) }
	_, err := fmt.Fprintf(w, `dandan bench --idle: %d of %d sessions open (%d failed) on %s, %d users' tokens, opened in %.1fs
  measured     %s
  sessions     %.0f reported by the server
  rss          %.1f MiB -> %.1f MiB: %.0f bytes per connection
  heap in use  %.1f MiB -> %.1f MiB: %.0f bytes per connection
`, r.Open, r.Conns, r.Failed, r.Target, r.Users, r.OpenSeconds, r.MeasureLabel, r.Sessions,
		mib(r.RSSBefore), mib(r.RSSAfter), r.RSSPerConn, mib(r.HeapBefore), mib(r.HeapAfter), r.HeapPerConn)
	return err
}
