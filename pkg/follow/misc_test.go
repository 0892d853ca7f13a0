package follow

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eida/eidastatsd/test/seiscomp"
)

func TestDefaultOpen(t *testing.T) {
	seiscomp.RequireBzip2(t)
	content := bytes.Repeat([]byte("line of the log\n"), 1000)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cmd  []string // compressor run on the file, which it replaces
		ext  string
	}{
		{"plain", nil, ""},
		{"bzip2", []string{"bzip2"}, ".bz2"},
		{"gzip", []string{"gzip"}, ".gz"},
		// Named like the other format: the magic bytes decide.
		{"bzip2-named-gz", []string{"bzip2"}, ".bz2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.cmd != nil {
				if _, err := exec.LookPath(tc.cmd[0]); err != nil {
					t.Skip(err)
				}
				if out, err := exec.Command(tc.cmd[0], append(tc.cmd[1:], p)...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}
			name := p + tc.ext
			if strings.HasSuffix(tc.name, "-named-gz") {
				if err := os.Rename(name, p+".gz"); err != nil {
					t.Fatal(err)
				}
				name = p + ".gz"
			}
			rc, err := DefaultOpen(name)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("content differs: %d bytes", len(got))
			}
		})
	}
	if _, err := DefaultOpen(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	path := logPath(t)
	w := newWriter(t, path)
	w.NoCompress = true
	writeSeq(t, w, 0, 100, 0)
	f := newFollower(t, Options{Path: path, Metrics: m, MaxLineBytes: 200})
	gs := drainNow(t, f)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := float64(fi.Size())
	if got := testutil.ToFloat64(m.bytesRead); got != size {
		t.Errorf("bytes read = %v, want %v", got, size)
	}
	if got := testutil.ToFloat64(m.offset); got != size {
		t.Errorf("offset = %v, want %v", got, size)
	}
	if got := testutil.ToFloat64(m.lag); got != 0 {
		t.Errorf("lag = %v, want 0", got)
	}
	var long int
	for _, g := range gs {
		if g.tooLong {
			long++
		}
	}
	if long == 0 {
		t.Fatal("no line over 200 bytes: test data changed?")
	}
	if got := testutil.ToFloat64(m.overlong); got != float64(long) {
		t.Errorf("overlong = %v, want %d", got, long)
	}
	if err := w.Truncate(); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 100, 101, 0)
	if err := w.Rotate("2024-03-01"); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 101, 102, 1)
	drainNow(t, f)
	if got := testutil.ToFloat64(m.truncations); got != 1 {
		t.Errorf("truncations = %v", got)
	}
	if got := testutil.ToFloat64(m.rotations); got != 1 {
		t.Errorf("rotations = %v", got)
	}
	s := f.Stats()
	if s.Rotations != 1 || s.Truncations != 1 || !s.Live || s.File != path || !s.AtEOF {
		t.Errorf("stats = %+v", s)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 8 {
		t.Errorf("gathered %d families, err %v", n, err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

// FuzzFollow writes data in random chunks, reading between chunks, and
// checks the lines against a plain split: complete lines only, in order,
// over-long ones reported with their length, and positions that resume.
func FuzzFollow(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), []byte{1, 2, 3})
	f.Add([]byte("0123456789012345678901234\nshort\nxx"), []byte{5, 30})
	f.Add([]byte("\n\n\n"), []byte{0})
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data, cuts []byte) {
	{
		const max = 16
		path := filepath.Join(t.TempDir(), "log")
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		fl := newFollower(t, Options{Path: path, MaxLineBytes: max, NoNotify: true})
		var got []got
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			if _, err := out.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			got = append(got, drainNow(t, fl)...)
		}
		if _, err := out.Write(rest); err != nil {
			t.Fatal(err)
		}
		got = append(got, drainNow(t, fl)...)

		want := bytes.Split(data, []byte("\n"))
		want = want[:len(want)-1] // the unterminated rest is held back
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		var off int64
		for i, w := range want {
			g := got[i]
			off += int64(len(w)) + 1
			if g.length != int64(len(w)) || g.tooLong != (len(w) > max) || g.pos.Offset != off {
				t.Fatalf("line %d: got len %d tooLong %v off %d, want len %d off %d", i, g.length, g.tooLong, g.pos.Offset, len(w), off)
			}
			if !g.tooLong && !bytes.Equal(g.data, w) {
				t.Fatalf("line %d: got %q want %q", i, g.data, w)
			}
		}
		// Resuming from any handed-out position gives the rest.
		if len(got) > 1 {
			k := len(data) % (len(got) - 1)
			f2 := newFollower(t, Options{Path: path, MaxLineBytes: max, Start: &got[k].pos, NoNotify: true})
			again := drainNow(t, f2)
			if len(again) != len(got)-k-1 {
				t.Fatalf("resume after line %d: got %d lines, want %d", k, len(again), len(got)-k-1)
			}
		}
	}
}
