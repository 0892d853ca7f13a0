//go:build !linux

package sdnotify

import "time"

var start = time.Now()

// monotonicNow is only meaningful on Linux, where systemd runs.
func monotonicNow() time.Duration { return time.Since(start) }
