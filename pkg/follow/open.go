package follow

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// Opener opens a rotated, possibly compressed, file and returns its
// decompressed content.
type Opener func(path string) (io.ReadCloser, error)

// DefaultOpen detects bzip2, gzip or plain content by magic bytes and uses
// the standard library decoders.
func DefaultOpen(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // keep fs.ErrNotExist visible to the caller unchanged
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(magic, []byte("BZh")):
		return readCloser{bzip2.NewReader(br), f}, nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("gzip %s: %w", path, err)
		}
		return readCloser{zr, f}, nil
	default:
		return readCloser{br, f}, nil
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}
