package surge

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP dandan_load x
# TYPE dandan_load gauge
dandan_load 0.75
dandan_shed_total{tier="typing"} 12
go_goroutines 40
process_resident_memory_bytes 1.5e+08
garbage
dandan_bad notanumber
`))
	if err != nil {
		t.Fatal(err)
	}
	want := metrics{"dandan_load": 0.75, `dandan_shed_total{tier="typing"}`: 12, "process_resident_memory_bytes": 1.5e8}
	if len(m) != len(want) {
		t.Fatalf("parsed %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestShedOrder(t *testing.T) {
	node := func(times map[string]float64) metrics {
		m := metrics{}
		for tier, at := range times {
			m[`dandan_first_shed_timestamp_seconds{tier="`+tier+`"}`] = at
		}
		return m
	}
	tests := []struct {
		name  string
		nodes map[string]metrics
		order []string
		ok    bool
	}{
		{"nothing shed", map[string]metrics{"a": node(nil)}, nil, true},
		{"in order", map[string]metrics{"a": node(map[string]float64{"typing": 1, "receipt": 2, "sync": 3, "message": 4})},
			[]string{"typing", "receipt", "sync", "message"}, true},
		{"two nodes, in order on each", map[string]metrics{
			"a": node(map[string]float64{"typing": 5, "receipt": 6}),
			"b": node(map[string]float64{"typing": 1})}, []string{"typing", "receipt"}, true},
		{"messages before typing", map[string]metrics{"a": node(map[string]float64{"typing": 2, "message": 1, "receipt": 1.5, "sync": 1.7})},
			[]string{"message", "receipt", "sync", "typing"}, false},
		{"receipts shed, typing never", map[string]metrics{"a": node(map[string]float64{"receipt": 1})}, []string{"receipt"}, false},
		{"in order on one node, not the other", map[string]metrics{
			"a": node(map[string]float64{"typing": 1, "receipt": 2}),
			"b": node(map[string]float64{"sync": 1.5})}, []string{"typing", "sync", "receipt"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, ok := shedOrder(tt.nodes)
			if !slices.Equal(order, tt.order) || ok != tt.ok {
				t.Errorf("shedOrder = %v, %v; want %v, %v", order, ok, tt.order, tt.ok)
			}
		})
	}
}

func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(1)
	from := map[float64]float64{0.01: 10, 0.1: 10, 1: 10, inf: 10}
	to := map[float64]float64{0.01: 100, 0.1: 195, 1: 209, inf: 210}
	// 200 new observations: 90 ≤ 10 ms, 185 ≤ 100 ms, 199 ≤ 1 s, 200 in all.
	for _, tt := range []struct{ q, want float64 }{{0.4, 0.01}, {0.9, 0.1}, {0.99, 1}, {1, inf}} {
		if got := bucketQuantile(from, to, tt.q); got != tt.want {
			t.Errorf("quantile %v = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := bucketQuantile(to, to, 0.99); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
	m := metrics{sendBucket + `0.01"}`: 3, sendBucket + `+Inf"}`: 4, `dandan_op_duration_seconds_bucket{op="edit",le="0.01"}`: 9}
	into := map[float64]float64{}
	sendBuckets(m, into)
	if len(into) != 2 || into[0.01] != 3 || into[inf] != 4 {
		t.Errorf("sendBuckets = %v", into)
	}
}
