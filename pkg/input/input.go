// Package input opens log files and streams, plain or compressed, detecting
// the compression from the content (magic bytes), never from the name.
package input

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/eida/eidastatsd/pkg/bzip2par"
)

// Kind is a detected stream format.
type Kind string

// Formats.
const (
	Plain Kind = "plain"
	Gzip  Kind = "gzip"
	Bzip2 Kind = "bzip2"
)

// Bzip2Reader decodes bzip2 (possibly multi-stream). The default decodes
// blocks on every core (rotated logs are bzip2: catching up is
// decompression-bound); Sequential is the standard library's decoder.
var Bzip2Reader = func(r io.Reader) (io.ReadCloser, error) {
	return bzip2par.NewReader(r, 0), nil
}

// Sequential is the single-threaded standard-library bzip2 decoder.
func Sequential(r io.Reader) (io.ReadCloser, error) {
	return io.NopCloser(bzip2.NewReader(r)), nil
}

// Detect names the format of the first bytes.
func Detect(head []byte) Kind {
	switch {
	case len(head) >= 3 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h':
		return Bzip2
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return Gzip
	}
	return Plain
}

type readCloser struct {
	io.Reader
	closers []io.Closer
}

func (r *readCloser) Close() error {
	var first error
	for _, c := range r.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// NewReader wraps r, decompressing it if its content is gzip or bzip2.
func NewReader(r io.Reader) (io.ReadCloser, Kind, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("read: %w", err)
	}
	switch k := Detect(head); k {
	case Bzip2:
		d, err := Bzip2Reader(br)
		if err != nil {
			return nil, k, fmt.Errorf("bzip2: %w", err)
		}
		return d, k, nil
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, k, fmt.Errorf("gzip: %w", err)
		}
		return zr, k, nil
	default:
		return io.NopCloser(br), k, nil
	}
}

// Open opens a file ("-" is standard input) with decompression by content.
func Open(path string, stdin io.Reader) (io.ReadCloser, Kind, error) {
	return open(path, stdin, nil)
}

// open is Open, except that a file that mapFile returns a reader for (a
// plain file it maps) is read through that reader; mapFile may be nil.
func open(path string, stdin io.Reader, mapFile func(*os.File) (io.ReadCloser, error)) (io.ReadCloser, Kind, error) {
	if path == "-" {
		return NewReader(stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	if mapFile != nil {
		m, err := mapFile(f)
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		if m != nil {
			f.Close() // the mapping outlives the descriptor
			return m, Plain, nil
		}
	}
	rc, k, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, k, fmt.Errorf("%s: %w", path, err)
	}
	return &readCloser{Reader: rc, closers: []io.Closer{rc, f}}, k, nil
}
