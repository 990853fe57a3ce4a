package surge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
)

// sample is one latency measured at a moment.
type sample struct {
	at time.Time
	d  time.Duration
}

// stats are what the clients observed, as raw samples; Result is computed
// from them at the end.
type stats struct {
	mu          sync.Mutex
	acks        []sample // admitted attempt → acknowledgement
	syncs       []sample // connected → synced
	receipts    []sample // read receipt sent → seen by another member
	typings     []sample // typing notice sent → seen by another member
	reads       []sample // history pages served
	readRefused []time.Time
	readFailed  int
	refusals    map[string][]time.Time // by the refused frame's type
	drops       int
	ackTimeouts int
	storm       time.Time
	resynced    []time.Time // first sync of each client after the storm
}

func newStats() *stats { return &stats{refusals: map[string][]time.Time{}} }

func (s *stats) add(into *[]sample, at time.Time, d time.Duration) {
	s.mu.Lock()
	*into = append(*into, sample{at, d})
	s.mu.Unlock()
}

func (s *stats) ack(at time.Time, d time.Duration)     { s.add(&s.acks, at, d) }
func (s *stats) receipt(at time.Time, d time.Duration) { s.add(&s.receipts, at, d) }
func (s *stats) typing(at time.Time, d time.Duration)  { s.add(&s.typings, at, d) }

func (s *stats) sync(at time.Time, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs = append(s.syncs, sample{at, d})
}

func (s *stats) resync(at time.Time) {
	s.mu.Lock()
	s.resynced = append(s.resynced, at)
	s.mu.Unlock()
}

func (s *stats) history(start time.Time, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.reads = append(s.reads, sample{start.Add(d), d})
	case api.IsCode(err, api.CodeOverloaded) || api.IsCode(err, api.CodeRateLimited):
		s.readRefused = append(s.readRefused, start)
	default:
		s.readFailed++
	}
}

func (s *stats) refused(at time.Time, ref string) {
	s.mu.Lock()
	s.refusals[ref] = append(s.refusals[ref], at)
	s.mu.Unlock()
}

func (s *stats) disconnected(_ time.Time, ackTimeout bool) {
	s.mu.Lock()
	s.drops++
	if ackTimeout {
		s.ackTimeouts++
	}
	s.mu.Unlock()
}

func (s *stats) stormAt(t time.Time) {
	s.mu.Lock()
	s.storm = t
	s.mu.Unlock()
}

func (s *stats) stormTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storm
}

// quantile of samples' durations (nearest rank); 0 if none.
func quantile(ss []sample, q float64) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = s.d
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds)) + 0.5)
	return ds[min(max(i-1, 0), len(ds)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// between returns the samples taken in [from, to).
func between(ss []sample, from, to time.Time) []sample {
	var out []sample
	for _, s := range ss {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// metrics are one node's /metrics, keyed by series: name{labels} as the
// node prints them (labels in sorted order).
type metrics map[string]float64

func (m metrics) get(series string) float64 { return m[series] }

// scrapeAll reads every node's /metrics.
func (r *run) scrapeAll(ctx context.Context) (map[string]metrics, error) {
	out := map[string]metrics{}
	for _, n := range r.c.Nodes() {
		m, err := scrape(ctx, n.URL+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("surge: metrics of %s: %w", n.Name, err)
		}
		out[n.Name] = m
	}
	return out, nil
}

func scrape(ctx context.Context, url string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the dandan_ and process_ series of a Prometheus text
// exposition.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "dandan_") && !strings.HasPrefix(line, "process_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// point is one second of the timeline as the nodes saw it.
type point struct {
	at    time.Time
	load  float64             // the highest load of any node
	loads map[string]float64  // by node
	shed  map[string]float64  // cumulative sheds by tier, all nodes
	rss   float64             // the largest resident memory of any node
	send  map[float64]float64 // cumulative send durations on the nodes: bucket upper bound (s) → count, all nodes
}

// sendBucket is the prefix of the nodes' send-duration histogram buckets.
const sendBucket = `dandan_op_duration_seconds_bucket{op="send",le="`

// sendBuckets adds m's send-duration buckets into into.
func sendBuckets(m metrics, into map[float64]float64) {
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, sendBucket)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err == nil {
			into[le] += v
		}
	}
}

// bucketQuantile is the upper bound of the bucket holding quantile q of the
// observations between two cumulative histograms; 0 if none.
func bucketQuantile(from, to map[float64]float64, q float64) float64 {
	var les []float64
	for le := range to {
		les = append(les, le)
	}
	slices.Sort(les)
	total := to[math.Inf(1)] - from[math.Inf(1)]
	if total <= 0 {
		return 0
	}
	for _, le := range les {
		if to[le]-from[le] >= q*total {
			return le
		}
	}
	return math.Inf(1)
}

// watch samples every node's load, sheds and memory once a second.
func (r *run) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			all, err := r.scrapeAll(ctx)
			if err != nil {
				continue
			}
			p := point{at: now, shed: map[string]float64{}, loads: map[string]float64{}, send: map[float64]float64{}}
			for name, m := range all {
				sendBuckets(m, p.send)
				p.loads[name] = m.get("dandan_load")
				p.load = max(p.load, p.loads[name])
				p.rss = max(p.rss, m.get("process_resident_memory_bytes"))
				for _, tier := range tiers {
					p.shed[tier] += m.get(`dandan_shed_total{tier="` + tier + `"}`)
				}
			}
			r.mu.Lock()
			r.points = append(r.points, p)
			r.mu.Unlock()
		}
	}
}

// tiers are the admission tiers, most important first, as the nodes name
// them.
var tiers = []string{"message", "sync", "receipt", "typing"}
