//go:build linux

package batch

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eida/eidastatsd/pkg/input"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
)

// A mapped file is cut into chunks in place; the result equals reading it,
// over-long lines and a last line without newline included, over chunk
// boundaries (the file spans several chunks).
func TestMappedEqualsRead(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*chunkSize; i++ {
		b.WriteString(ev(i))
		b.WriteByte('\n')
		switch i % 1500 {
		case 7:
			b.WriteString(strings.Repeat("x", 5000) + "\n") // too long
		case 8:
			b.WriteString("\n")
		}
	}
	b.WriteString(ev(1)) // no final newline
	path := filepath.Join(t.TempDir(), "day.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	run := func(mapIt bool, workers int) string {
		open := input.Open
		if mapIt {
			open = input.OpenMapped
		}
		var rs []io.Reader
		for range 2 { // two inputs: the last line of the first stays a line
			rc, _, err := open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			rs = append(rs, rc)
		}
		if _, ok := rs[0].(mapped); ok != mapIt {
			t.Fatalf("mapped input: %v", ok)
		}
		tb, counts, err := Run(context.Background(), rs, Options{Resolver: reg, Workers: workers, MaxLine: 4000})
		if err != nil {
			t.Fatal(err)
		}
		if counts.SkippedLines[logline.ReasonTooLong] == 0 {
			t.Fatal("no over-long line counted")
		}
		return fmt.Sprint(counts, tb.Payload("x", "y"))
	}
	want := run(false, 1)
	for _, workers := range []int{1, 3} {
		if got := run(true, workers); got != want {
			t.Fatalf("workers=%d: mapped result differs from read", workers)
		}
	}
}

// A mapped file truncated under a run makes it fail with an error, not
// crash the process with SIGBUS, whether the splitter or a parser touches
// the lost pages first.
func TestMappedTruncatedFails(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 4*chunkSize; i++ {
		b.WriteString(ev(i))
		b.WriteByte('\n')
	}
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	for _, keep := range []int64{0, chunkSize / 2, 3 * chunkSize} {
		path := filepath.Join(t.TempDir(), "day.log")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		rc, _, err := input.OpenMapped(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rc.(mapped); !ok {
			t.Fatal("not mapped")
		}
		if err := os.Truncate(path, keep); err != nil {
			t.Fatal(err)
		}
		_, _, err = Run(context.Background(), []io.Reader{rc}, Options{Resolver: reg, Workers: 2})
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), "truncated while being read") {
			t.Fatalf("truncated to %d: err %v", keep, err)
		}
	}
}
