package sdnotify

import (
	"syscall"
	"time"
	"unsafe"
)

// monotonicNow reads CLOCK_MONOTONIC, the clock systemd compares
// MONOTONIC_USEC against. Go's time package hides its monotonic reading.
func monotonicNow() time.Duration {
	var ts syscall.Timespec
	const clockMonotonic = 1
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
