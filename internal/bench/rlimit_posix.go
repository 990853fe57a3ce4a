//go:build linux || darwin

package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// RaiseFileLimit raises RLIMIT_NOFILE as far as allowed, best effort: both
// limits to the kernel's maximum (fs.nr_open) if permitted (root), else the
// soft limit to the hard one. It returns the soft limit in force.
func RaiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	want := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = n
		}
	}
	if want > lim.Max {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			return want
		}
	}
	if lim.Cur < lim.Max {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max}) == nil {
			return lim.Max
		}
	}
	return lim.Cur
}
