//go:build !linux

package localcluster

func peakRSS(int) uint64 { return 0 }
