package bzip2par

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

// needBinary skips when a compressor is missing on a developer machine, but
// fails in CI, where the packages must be installed.
func needBinary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("%s not installed (apt-get install %s)", name, name)
		}
		tb.Fatalf("%s not installed in CI: %v", name, err)
	}
	return p
}

// compressWith runs a real compressor binary over data.
func compressWith(tb testing.TB, name string, args []string, data []byte) []byte {
	tb.Helper()
	cmd := exec.Command(needBinary(tb, name), append(args, "-c")...)
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %v: %v: %s", name, args, err, errb.String())
	}
	return out.Bytes()
}

// bzip2Dc is the reference: what the bzip2 binary decompresses, and whether
// it succeeded.
func bzip2Dc(tb testing.TB, data []byte) ([]byte, error) {
	tb.Helper()
	cmd := exec.Command(needBinary(tb, "bzip2"), "-dc")
	cmd.Stdin = bytes.NewReader(data)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// logLike makes n bytes of request-log-like text: compressible like the real
// logs, but varied enough to give realistic block sizes.
func logLike(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	nets := []string{"GE", "CX", "3D", "8F", "FR", "Z3"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"clientID": "ObsPy/1.%d.%d", "finished": "2024-03-01T%02d:%02d:%02d.%06dZ", "userID": %d, "trace": [`,
			rng.IntN(5), rng.IntN(9), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000000), rng.Uint32())
		for i := range rng.IntN(4) + 1 {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `{"net": %q, "sta": "S%03d", "cha": "HH%c", "bytes": %d}`,
				nets[rng.IntN(len(nets))], rng.IntN(300), "ZNE"[rng.IntN(3)], rng.IntN(1<<20))
		}
		b.WriteString("]}\n")
	}
	return b.Bytes()[:n]
}

func readAll(r io.Reader, workers int) ([]byte, error) {
	z := NewReader(r, workers)
	defer z.Close()
	return io.ReadAll(z)
}

func TestMatchesBzip2Binary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	inputs := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte("x")},
		{"short line", []byte("{\"status\": \"OK\"}\n")},
		{"log 1.5MB", logLike(1500<<10, 1)},
		{"random 300kB", random},
		// Long runs exercise the run-length stage: one block expands to MBs.
		{"zeros 3MB", make([]byte, 3<<20)},
	}
	compressors := []struct {
		name string
		args []string
	}{
		{"bzip2", []string{"-1"}},
		{"bzip2", []string{"-9"}},
		{"lbzip2", []string{"-1", "-n", "2"}},
		{"lbzip2", []string{"-9", "-n", "2"}},
		{"pbzip2", []string{"-1", "-p2"}},
		{"pbzip2", []string{"-9", "-p2"}},
	}
	for _, in := range inputs {
		for _, c := range compressors {
			t.Run(fmt.Sprintf("%s/%s%v", in.name, c.name, c.args), func(t *testing.T) {
				comp := compressWith(t, c.name, c.args, in.data)
				want, err := bzip2Dc(t, comp)
				if err != nil {
					t.Fatalf("bzip2 -dc: %v", err)
				}
				if !bytes.Equal(want, in.data) {
					t.Fatalf("bzip2 -dc does not round-trip %s", c.name)
				}
				for _, workers := range []int{1, 3} {
					got, err := readAll(bytes.NewReader(comp), workers)
					if err != nil {
						t.Fatalf("workers=%d: %v", workers, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("workers=%d: got %d bytes, bzip2 -dc %d bytes, differ", workers, len(got), len(want))
					}
				}
			})
		}
	}
}

func TestMultiStream(t *testing.T) {
	parts := [][]byte{
		compressWith(t, "bzip2", []string{"-1"}, logLike(250<<10, 2)),
		compressWith(t, "bzip2", []string{"-9"}, nil), // an empty stream between
		compressWith(t, "lbzip2", []string{"-2"}, logLike(400<<10, 3)),
		compressWith(t, "pbzip2", []string{"-1", "-p2"}, logLike(10, 4)),
		compressWith(t, "bzip2", []string{"-3"}, []byte("last\n")),
	}
	cases := []struct {
		name  string
		parts [][]byte
	}{
		{"all", parts},
		{"empty streams only", [][]byte{parts[1], parts[1]}},
		{"empty first", [][]byte{parts[1], parts[0]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comp := bytes.Join(tc.parts, nil)
			want, err := bzip2Dc(t, comp)
			if err != nil {
				t.Fatalf("bzip2 -dc: %v", err)
			}
			got, err := readAll(bytes.NewReader(comp), 2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, bzip2 -dc %d", len(got), len(want))
			}
		})
	}
}

// oneByteReader hands out one byte per Read, the worst case for the
// scanner's buffering.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

func TestSmallReads(t *testing.T) {
	data := logLike(300<<10, 5)
	comp := append(compressWith(t, "bzip2", []string{"-1"}, data), compressWith(t, "bzip2", []string{"-1"}, data)...)
	got, err := readAll(oneByteReader{bytes.NewReader(comp)}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(data, data...)) {
		t.Fatal("output differs")
	}
}

// TestFalseBoundaries cuts blocks at extra bit offsets, as a block magic that
// occurs by chance inside compressed data would; the reader must join the
// pieces again and still produce exact output.
func TestFalseBoundaries(t *testing.T) {
	data := logLike(1<<20, 6)
	comp := compressWith(t, "bzip2", []string{"-1"}, data)
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 0))
		cuts := 0
		split := func(j *job) []*job {
			if j.kind != kindBlock || j.nbits < 200 {
				return []*job{j}
			}
			out := []*job{j}
			for range rng.IntN(3) {
				last := out[len(out)-1]
				if last.nbits < 200 {
					break
				}
				at := 1 + rng.Int64N(last.nbits-1)
				a, b := cutJob(last, at)
				out = append(out[:len(out)-1], a, b)
				cuts++
			}
			return out
		}
		z := newReader(bytes.NewReader(comp), 2, split, nil)
		got, err := io.ReadAll(z)
		z.Close()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("seed %d: output differs", seed)
		}
		if cuts == 0 {
			t.Fatalf("seed %d: no cut made, test is void", seed)
		}
	}
}

// cutJob splits a block piece at bit at (relative to the piece).
func cutJob(j *job, at int64) (*job, *job) {
	a, _, _ := joinBits(j.raw, j.off, at, nil, 0, 0)
	var w bitWriter
	w.copyBits(j.raw, int64(j.off)+at, j.nbits-at)
	w.flush()
	return &job{kind: kindBlock, level: j.level, raw: a, nbits: at, pos: j.pos},
		&job{kind: kindBlock, level: j.level, raw: w.buf, nbits: j.nbits - at, pos: j.pos}
}

func TestCorruptInput(t *testing.T) {
	data := logLike(700<<10, 8)
	comp := compressWith(t, "bzip2", []string{"-2"}, data)
	good := append(append([]byte{}, comp...), compressWith(t, "bzip2", []string{"-1"}, []byte("tail\n"))...)
	want := append(append([]byte{}, data...), "tail\n"...)

	type tc struct {
		name  string
		input []byte
		is    error
	}
	cases := []tc{
		{"empty input", nil, ErrNotBzip2},
		{"not bzip2", []byte("{\"status\": \"OK\"}\n"), ErrNotBzip2},
		{"header only", []byte("BZh9"), io.ErrUnexpectedEOF},
		{"bad level", append([]byte("BZh0"), comp[4:]...), ErrNotBzip2},
		{"trailing garbage", append(append([]byte{}, good...), "garbage\n"...), ErrTrailingGarbage},
		{"trailing zeros", append(append([]byte{}, good...), make([]byte, 100)...), ErrTrailingGarbage},
	}
	for _, cut := range []int{5, 11, 100, len(comp) / 2, len(comp) - 5, len(comp) - 1, len(good) - 3} {
		cases = append(cases, tc{fmt.Sprintf("truncated at %d", cut), good[:cut], nil})
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 12 {
		bad := append([]byte{}, good...)
		i := 4 + rng.IntN(len(bad)-4)
		bad[i] ^= 1 << rng.IntN(8)
		cases = append(cases, tc{fmt.Sprintf("bit flip at %d", i), bad, nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, refErr := bzip2Dc(t, c.input)
			got, err := readAll(bytes.NewReader(c.input), 2)
			if refErr == nil && c.is == nil {
				// e.g. a flipped padding bit: then both must accept it alike.
				if err != nil || !bytes.Equal(got, ref) {
					t.Fatalf("bzip2 -dc accepts this input, reader: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("corrupt input decoded without error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v, want %v", err, c.is)
			}
			// What came out before the error must be correct data.
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("output before the error (%d bytes) is not a prefix of the data", len(got))
			}
		})
	}
}

func TestStreamChecksum(t *testing.T) {
	// Two valid blocks whose stored stream CRC is altered: each block passes
	// its own check, only the combined CRC catches it.
	comp := compressWith(t, "bzip2", []string{"-1"}, logLike(300<<10, 10))
	comp[len(comp)-2] ^= 0x10 // inside the 32-bit stream CRC
	_, err := readAll(bytes.NewReader(comp), 2)
	if !errors.Is(err, ErrChecksum) {
		if _, ok := err.(bzip2.StructuralError); !ok {
			t.Fatalf("err = %v, want a checksum error", err)
		}
	}
	if err == nil {
		t.Fatal("no error")
	}
}

func TestCloseEarly(t *testing.T) {
	comp := compressWith(t, "bzip2", []string{"-1"}, logLike(2<<20, 11))
	z := NewReader(bytes.NewReader(comp), 2)
	if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	z.Close()
	z.wg.Wait() // the scanner and the workers must all stop
	if _, err := z.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("BZh9"))
	for _, p := range []string{"", "a", "hello hello hello hello\n", string(logLike(3000, 12))} {
		if c, err := exec.LookPath("bzip2"); err == nil {
			cmd := exec.Command(c, "-c", "-1")
			cmd.Stdin = bytes.NewReader([]byte(p))
			if out, err := cmd.Output(); err == nil {
				f.Add(out)
				f.Add(append(out, out...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readAll(bytes.NewReader(in), 2)
		want, werr := io.ReadAll(bzip2.NewReader(bytes.NewReader(in)))
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("both accept, outputs differ: %q vs %q", got, want)
		}
		if err == nil && werr != nil && len(in) > 0 {
			t.Fatalf("accepted input compress/bzip2 rejects (%v)", werr)
		}
		if werr == nil && err != nil && len(in) > 0 {
			t.Fatalf("rejected input compress/bzip2 accepts: %v", err)
		}
	})
}
