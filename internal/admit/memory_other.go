//go:build !linux

package admit

// SystemMemory is the memory available to this process; 0: unknown on this
// system.
func SystemMemory() uint64 { return 0 }
