package node

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GC settings of a node process, unless GOGC or GOMEMLIMIT say otherwise.
const (
	// gcPercent lets the heap grow to five times its live size between
	// collections. On a 2-core machine Go's default (100) collects so often
	// that the collector's share of the CPU stalls message delivery: at half
	// the saturating 1:1 load the p99 end-to-end latency was about 60 ms with
	// 100 and about 18 ms with 400 (docs/benchmarks.md).
	gcPercent = 400
	// memoryShare of the machine's (or cgroup's) memory is the soft limit at
	// which the collector works harder again, so the larger percentage
	// cannot run the process out of memory.
	memoryShare = 0.8
)

// TuneRuntime sets the garbage collector for a node process. Only main
// paths call it (it changes process-wide settings); it returns what it set,
// for the log.
func TuneRuntime() (gc int, memLimit int64) {
	gc, memLimit = -1, -1
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		gc = gcPercent
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := memoryBytes(); total > 0 {
			memLimit = int64(float64(total) * memoryShare)
			debug.SetMemoryLimit(memLimit)
		}
	}
	return gc, memLimit
}

// memoryBytes is the memory available to this process: the cgroup's limit if
// there is one, else the machine's total; 0 if unknown.
func memoryBytes() uint64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			return min(v, memTotal())
		}
	}
	return memTotal()
}

func memTotal() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, err := strconv.ParseUint(fields[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
