package bzip2par

import (
	"bytes"
	"compress/bzip2"
	"io"
	"os"
	"testing"
)

// benchInput returns the bzip2 file named by BZIP2PAR_BENCH (a large log,
// e.g. made by test/bench/bench.sh) or a small generated one.
func benchInput(b *testing.B) ([]byte, int64) {
	b.Helper()
	var data []byte
	if f := os.Getenv("BZIP2PAR_BENCH"); f != "" {
		var err error
		if data, err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	} else {
		data = compressWith(b, "bzip2", []string{"-9"}, logLike(8<<20, 1))
	}
	n, err := io.Copy(io.Discard, bzip2.NewReader(bytes.NewReader(data)))
	if err != nil {
		b.Fatal(err)
	}
	return data, n
}

func BenchmarkReader(b *testing.B) {
	data, n := benchInput(b)
	for _, bc := range []struct {
		name    string
		workers int
	}{{"workers=1", 1}, {"workers=2", 2}, {"workers=4", 4}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				r := NewReader(bytes.NewReader(data), bc.workers)
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

// BenchmarkStdlib is the single-threaded baseline.
func BenchmarkStdlib(b *testing.B) {
	data, n := benchInput(b)
	b.SetBytes(n)
	for b.Loop() {
		if _, err := io.Copy(io.Discard, bzip2.NewReader(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
	}
}
