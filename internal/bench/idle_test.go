package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunIdleOwnNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	res, err := RunIdle(ctx, IdleConfig{Conns: 30, Users: 3, Settle: 200 * time.Millisecond}, &log)
	if err != nil {
		t.Fatalf("RunIdle: %v\n%s", err, log.String())
	}
	if res.Open != 30 || res.Failed != 0 || res.Sessions < 30 {
		t.Errorf("open %d, failed %d (%s), server sessions %v", res.Open, res.Failed, res.FirstError, res.Sessions)
	}
	if !res.InProcess || res.RSSBefore <= 0 || res.HeapAfter <= 0 {
		t.Errorf("result %+v", res)
	}
	var b bytes.Buffer
	if err := res.WriteText(&b); err != nil || !strings.Contains(b.String(), "per connection") {
		t.Errorf("WriteText: %v\n%s", err, b.String())
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345e+08
go_memstats_heap_inuse_bytes 4.2e+06
go_memstats_heap_inuse_bytes_total 9
dandan_ws_sessions 17
dandan_refused_total{code="x"} 3
`
	m, err := parseMetrics(strings.NewReader(in), metricRSS, metricHeap, metricSessions)
	if err != nil {
		t.Fatal(err)
	}
	if m[metricRSS] != 1.2345e8 || m[metricHeap] != 4.2e6 || m[metricSessions] != 17 || len(m) != 3 {
		t.Errorf("parsed %v", m)
	}
}
