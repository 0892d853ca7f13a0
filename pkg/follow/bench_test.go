package follow

import (
	"bufio"
	"context"
	"os"
	"testing"
)

// BenchmarkCatchUp reads a 64 MiB backlog of ~300-byte lines.
func BenchmarkCatchUp(b *testing.B) {
	path := logPath(b)
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(out)
	var size int64
	for i := 0; size < 64<<20; i++ {
		l := mkLine(i)
		bw.Write(l)
		bw.WriteByte('\n')
		size += int64(len(l)) + 1
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	out.Close()
	b.SetBytes(size)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.ReportAllocs()
	for b.Loop() {
		f, err := New(Options{Path: path, Logger: quiet(), NoNotify: true})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for {
			l, err := f.Next(ctx)
			if err != nil {
				break
			}
			n += l.Length + 1
		}
		if n != size {
			b.Fatalf("read %d of %d bytes", n, size)
		}
		f.Close()
	}
}
