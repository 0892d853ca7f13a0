package payload

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"testing"
)

func rowsPayload(n int) *Payload {
	p := &Payload{GeneratedAt: "2024-03-02 00:00:00", Version: "test <&> \u2028", DaysCoverage: []string{"2024-03-01"}, AggregationScore: 3}
	p.Stats = []Row{}
	for i := range n {
		p.Stats = append(p.Stats, Row{
			Month: "2024-03-01", Network: "NL", Station: fmt.Sprintf("S%d", i),
			Location: "--", Channel: "BH\"Z", Country: []string{"DE", "", "<&>", "\x01\u00e9\xff"}[i%4],
			Bytes: int64(i) * 1000003, NbRequests: int64(i), NbSuccessfulRequests: int64(i) / 2,
			NbUnsuccessfulRequests: int64(i) - int64(i)/2, Clients: `\x128B7F00000000000000` + fmt.Sprintf("%02X", i%256),
		})
	}
	return p
}

// WriteGzip's file decompresses, with gzip's own checks (CRC-32, size),
// to exactly Marshal's bytes, for every row count around the block size;
// `gzip -t` accepts it, and it does not depend on the number of cores.
func TestWriteGzipIsMarshal(t *testing.T) {
	gzipTool, _ := exec.LookPath("gzip")
	for _, n := range []int{0, 1, 2, gzipBlockRows - 1, gzipBlockRows, gzipBlockRows + 1, 3*gzipBlockRows + 17} {
		p := rowsPayload(n)
		want, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var files [][]byte
		for _, procs := range []int{1, 2, 5} {
			old := runtime.GOMAXPROCS(procs)
			var buf bytes.Buffer
			err := p.WriteGzip(&buf)
			runtime.GOMAXPROCS(old)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, buf.Bytes())
		}
		for _, f := range files[1:] {
			if !bytes.Equal(f, files[0]) {
				t.Fatalf("%d rows: file depends on GOMAXPROCS", n)
			}
		}
		zr, err := gzip.NewReader(bytes.NewReader(files[0]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d rows: gunzipped\n%.300s\nwant\n%.300s", n, got, want)
		}
		if gzipTool != "" {
			cmd := exec.Command(gzipTool, "-t")
			cmd.Stdin = bytes.NewReader(files[0])
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%d rows: gzip -t: %v %s", n, err, out)
			}
		}
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(b []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(b), nil
}

// A failing writer is reported, wherever it fails.
func TestWriteGzipWriterError(t *testing.T) {
	p := rowsPayload(3 * gzipBlockRows)
	for after := range 7 {
		if err := p.WriteGzip(&failWriter{after: after}); err == nil {
			t.Fatalf("failing after %d writes: no error", after)
		}
	}
}
