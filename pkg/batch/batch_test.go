package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/input"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
)

func ev(i int) string {
	return fmt.Sprintf(`{"status": "OK", "userID": %d, "userLocation": {"country": "FR"}, "finished": "2024-03-%02dT00:00:00Z", "trace": [{"net": "FR", "sta": "S%d", "loc": "", "cha": "HHZ", "start": "2010", "status": "OK", "bytes": %d}]}`, i, 1+i%28, i%13, i)
}

func sequential(t *testing.T, data []byte) *aggregate.Table {
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	in := aggregate.NewIngester(reg)
	tb := aggregate.NewTable()
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		in.Line(l, func(logline.Date, int) *aggregate.Table { return tb })
	}
	tb.Lines = in.Counts.Lines
	return tb
}

func TestRunEqualsSequential(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		b.WriteString(ev(i))
		b.WriteByte('\n')
		if i%997 == 0 {
			b.WriteString("broken {\n")
		}
	}
	b.WriteString(ev(99999)) // no final newline: still a line
	data := []byte(b.String())
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	for _, workers := range []int{1, 2, 5} {
		// OneByteReader and HalfReader cut reads at awkward places.
		for name, r := range map[string]io.Reader{"whole": bytes.NewReader(data), "half": iotest.HalfReader(bytes.NewReader(data))} {
			tb, counts, err := Run(context.Background(), []io.Reader{r}, Options{Resolver: reg, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			want := sequential(t, data)
			got, exp := tb.Payload("x", "y"), want.Payload("x", "y")
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("workers=%d %s: differs from sequential", workers, name)
			}
			if counts.Lines != 20000+21+1 || counts.SkippedLines[logline.ReasonNotJSON] != 21 {
				t.Fatalf("counts %+v", counts)
			}
		}
	}
}

func TestOverlongLines(t *testing.T) {
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	long := strings.Repeat("x", 5000)
	data := ev(1) + "\n" + long + "\n" + ev(2) + "\n" + strings.Repeat("y", 3000) + "\n" + ev(3) + "\n" + strings.Repeat("z", 2000)
	tb, counts, err := Run(context.Background(), []io.Reader{iotest.OneByteReader(strings.NewReader(data))}, Options{Resolver: reg, MaxLine: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if counts.SkippedLines[logline.ReasonTooLong] != 3 || counts.Lines != 6 || tb.Len() != 3 {
		t.Fatalf("counts %+v rows %d", counts, tb.Len())
	}
	if counts.Bytes != int64(len(data))+1 {
		t.Fatalf("bytes %d want %d", counts.Bytes, len(data)+1)
	}
}

func TestReadError(t *testing.T) {
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	_, _, err := Run(context.Background(), []io.Reader{iotest.ErrReader(io.ErrUnexpectedEOF)}, Options{Resolver: reg})
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err %v", err)
	}
}

func BenchmarkRun(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 50000; i++ {
		buf.WriteString(ev(i))
		buf.WriteByte('\n')
	}
	reg, _ := networks.Parse([]byte(`{"networks": []}`))
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, _, err := Run(context.Background(), []io.Reader{bytes.NewReader(buf.Bytes())}, Options{Resolver: reg}); err != nil {
			b.Fatal(err)
		}
	}
}

// Speed never changes a number: parallel decompression and parsing give
// the same payload as one core with the standard library's decoder.
func TestParallelEqualsSingleThreaded(t *testing.T) {
	data, err := os.ReadFile("../../testdata/fdsn-networks.json")
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := networks.Parse(data)
	run := func(dec func(io.Reader) (io.ReadCloser, error), workers int) string {
		f, err := os.Open("../../testdata/synthetic-3k.log.bz2")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rc, err := dec(f)
		if err != nil {
			t.Fatal(err)
		}
		tb, _, err := Run(context.Background(), []io.Reader{rc}, Options{Resolver: reg, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(tb.Payload("x", "y"))
	}
	single := run(input.Sequential, 1)
	if got := run(input.Bzip2Reader, 4); got != single {
		t.Fatal("parallel result differs from the single-threaded one")
	}
}
