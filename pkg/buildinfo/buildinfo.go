// Package buildinfo names this build: version, VCS revision, Go version.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at link time (-ldflags "-X .../buildinfo.Version=...").
var Version = "0.1.0-dev"

// revision may be set at link time (-X .../buildinfo.revision=...) where
// Go's own VCS stamping is off (GOFLAGS=-buildvcs=false).
var revision string

// Revision is the VCS commit the binary was built from, or "unknown".
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }

// PayloadVersion is the payload's `version` (the central service allows 32
// characters).
func PayloadVersion() string {
	v := "eidastatsd " + Version
	if len(v) > 32 {
		v = v[:32]
	}
	return v
}
