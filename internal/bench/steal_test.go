package bench

import "testing"

func TestParseProcStat(t *testing.T) {
	for _, c := range []struct {
		in           string
		total, steal uint64
		ok           bool
	}{
		{"cpu  100 2 30 400 5 6 7 50 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n", 600, 50, true},
		{"cpu  1 2 3 4 5 6 7 8\n", 36, 8, true},
		{"cpu  1 2 3 4 5 6 7\n", 0, 0, false}, // before steal was counted
		{"cpu0 1 2 3 4 5 6 7 8\n", 0, 0, false},
		{"cpu  1 2 x 4 5 6 7 8\n", 0, 0, false},
		{"", 0, 0, false},
	} {
		total, steal, ok := parseProcStat([]byte(c.in))
		if total != c.total || steal != c.steal || ok != c.ok {
			t.Errorf("parseProcStat(%q) = %d, %d, %v; want %d, %d, %v", c.in, total, steal, ok, c.total, c.steal, c.ok)
		}
	}
}
