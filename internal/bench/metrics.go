package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The metrics RunIdle reads.
const (
	metricRSS      = "process_resident_memory_bytes"
	metricHeap     = "go_memstats_heap_inuse_bytes"
	metricSessions = "dandan_ws_sessions"
	metricCPU      = "process_cpu_seconds_total"
)

// metricValues maps an unlabelled metric's name to its value.
type metricValues map[string]float64

// scrapeMetrics returns the metrics RunIdle needs from url, a Prometheus
// text exposition; the memory ones must be there.
func scrapeMetrics(ctx context.Context, url string) (metricValues, error) {
	m, err := fetchMetrics(ctx, url, metricRSS, metricHeap, metricSessions)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{metricRSS, metricHeap} {
		if _, ok := m[name]; !ok {
			return nil, fmt.Errorf("bench: metrics: %s has no %s", url, name)
		}
	}
	return m, nil
}

// fetchMetrics fetches a Prometheus text exposition and returns the values
// of the named unlabelled metrics it has.
func fetchMetrics(ctx context.Context, url string, names ...string) (metricValues, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: metrics: %s answered %s", url, resp.Status)
	}
	return parseMetrics(resp.Body, names...)
}

// parseMetrics reads the values of the named unlabelled metrics.
func parseMetrics(r io.Reader, names ...string) (metricValues, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	m := metricValues{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// targetsCPU is the CPU time the target nodes' processes have used, summed
// (process_cpu_seconds_total of each one's /metrics; 10 ms resolution).
func targetsCPU(ctx context.Context, targets []string) (time.Duration, error) {
	var sum float64
	for _, t := range targets {
		url := strings.TrimRight(t, "/") + "/metrics"
		m, err := fetchMetrics(ctx, url, metricCPU)
		if err != nil {
			return 0, err
		}
		v, ok := m[metricCPU]
		if !ok {
			return 0, fmt.Errorf("bench: metrics: %s has no %s", url, metricCPU)
		}
		sum += v
	}
	return time.Duration(sum * float64(time.Second)), nil
}
