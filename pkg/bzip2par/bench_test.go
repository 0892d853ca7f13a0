package bzip2par

import (
	"bytes"
	"compress/bzip2"
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
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

// splitPieces returns the block pieces of a bzip2 file as the scanner cuts
// them.
func splitPieces(tb testing.TB, data []byte) []*job {
	tb.Helper()
	var pieces []*job
	s := &scanner{r: bytes.NewReader(data), buf: make([]byte, 0, 2*readChunk)}
	s.emit = func(j *job) bool {
		if j.kind == kindBlock {
			pieces = append(pieces, j)
		}
		return true
	}
	if err := s.run(); err != nil {
		tb.Fatal(err)
	}
	return pieces
}

// BenchmarkDecodeBlock compares the block decoders on one core, on at most
// 40 blocks of the input.
func BenchmarkDecodeBlock(b *testing.B) {
	data, _ := benchInput(b)
	pieces := splitPieces(b, data)
	if len(pieces) > 40 {
		pieces = pieces[:40]
	}
	var n int64
	for _, p := range pieces {
		out, _, err := decodePieceStd(p.raw, p.off, p.nbits, p.level, nil)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(out))
	}
	for _, bc := range []struct {
		name string
		fn   decodeFunc
	}{{"decoder=own", decodePiece}, {"decoder=stdlib", decodePieceStd}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(n)
			out := make([]byte, 0, 1<<20)
			// The machine may be shared: also report this thread's CPU time.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				for _, p := range pieces {
					var err error
					if out, _, err = bc.fn(p.raw, p.off, p.nbits, p.level, out[:0]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// threadCPU is the CPU time (user and system) of the calling OS thread.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
