//go:build !linux && !darwin

package bench

// RaiseFileLimit does nothing on this system.
func RaiseFileLimit() uint64 { return 0 }
