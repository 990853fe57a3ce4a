package bench

import (
	"bytes"
	"os"
	"strconv"
)

// machineTicks reads the machine's CPU time from /proc/stat, in clock
// ticks: the total over all states, and the part stolen by the hypervisor
// for other guests. ok is false if it cannot be read.
func machineTicks() (total, steal uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	return parseProcStat(b)
}

// parseProcStat reads the first line of /proc/stat: "cpu" and the ticks
// spent in user, nice, system, idle, iowait, irq, softirq, steal, ...
// (guest time is counted in user already, so it is left out of the total).
func parseProcStat(b []byte) (total, steal uint64, ok bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 8 {
			steal = v
		}
	}
	return total, steal, true
}
