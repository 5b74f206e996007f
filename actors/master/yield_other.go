//go:build !linux

package master

// yieldCPU: see yield_linux.go; elsewhere the runtime's yield is all there is.
func yieldCPU() {}
