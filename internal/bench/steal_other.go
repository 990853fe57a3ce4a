//go:build !linux

package bench

func machineTicks() (total, steal uint64, ok bool) { return 0, 0, false }
