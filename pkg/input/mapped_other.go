//go:build !linux

package input

import "io"

// OpenMapped is Open where mapping files is not supported.
func OpenMapped(path string, stdin io.Reader) (io.ReadCloser, Kind, error) {
	return Open(path, stdin)
}
