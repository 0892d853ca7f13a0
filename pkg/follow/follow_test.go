package follow

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

func TestFastWritesNoRotation(t *testing.T) {
	const n = 200_000
	path := logPath(t)
	w := newWriter(t, path)
	f := newFollower(t, Options{Path: path})
	ch := startReader(t, f)
	goWrite(t, func() error {
		for i := range n {
			if err := w.WriteLine(mkLine(i), dayOf(0)); err != nil {
				return err
			}
		}
		return w.WriteLine([]byte(endMark), dayOf(0))
	})
	expectSeq(t, ch, 0, n)
	expectEnd(t, ch)
}

// The writer rotates while the reader reads: lines written in the last
// instant before each rename must arrive, compressed or not.
func TestRotationsWhileReading(t *testing.T) {
	seiscomp.RequireBzip2(t)
	for _, tc := range []struct {
		name     string
		noNotify bool
		delay    time.Duration
	}{
		{"fsnotify", false, 0},
		{"poll-only", true, 0},
		{"fsnotify-late-bzip2", false, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const days, perDay = 25, 400
			path := logPath(t)
			w := newWriter(t, path)
			w.CompressDelay = tc.delay
			f := newFollower(t, Options{Path: path, NoNotify: tc.noNotify})
			ch := startReader(t, f)
			// The first line is read before anything rotates: the reader
			// then has the live file open and must see it rotate (started
			// later, it would find the days already rotated and count no
			// rotation, which is right but not what this test is about).
			if err := w.WriteLine(mkLine(0), dayOf(0)); err != nil {
				t.Fatal(err)
			}
			expectSeq(t, ch, 0, 1)
			goWrite(t, func() error {
				for k := range days {
					for i := max(k*perDay, 1); i < (k+1)*perDay; i++ {
						if err := w.WriteLine(mkLine(i), dayOf(k)); err != nil {
							return err
						}
					}
				}
				return w.WriteLine([]byte(endMark), dayOf(days))
			})
			expectSeq(t, ch, 1, days*perDay)
			expectEnd(t, ch)
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := f.Stats().Rotations; got == 0 || got > days {
				t.Errorf("rotations = %d, want 1..%d", got, days)
			}
		})
	}
}

// The reader is suspended while several rotations happen; it drains the old
// file, then reads the days rotated meanwhile, then the live file.
func TestSeveralRotationsWhileSuspended(t *testing.T) {
	seiscomp.RequireBzip2(t)
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "bzip2"}[compress], func(t *testing.T) {
			path := logPath(t)
			w := newWriter(t, path)
			w.NoCompress = !compress
			f := newFollower(t, Options{Path: path})
			writeSeq(t, w, 0, 100, 0)
			expectLines(t, drainNow(t, f), 0, 100)
			writeSeq(t, w, 100, 150, 0) // unread lines of the old file
			writeSeq(t, w, 150, 200, 1)
			writeSeq(t, w, 200, 250, 2)
			writeSeq(t, w, 250, 300, 3)
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			expectLines(t, drainNow(t, f), 100, 300)
			if compress && !exists(path+"."+dayOf(1).Format(time.DateOnly)+".bz2") {
				t.Fatal("bzip2 did not run")
			}
		})
	}
}

func expectLines(t testing.TB, gs []got, from, to int) {
	t.Helper()
	if len(gs) != to-from {
		t.Fatalf("got %d lines, want %d (%d..%d)", len(gs), to-from, from, to)
	}
	for i, g := range gs {
		if n, ok := seqOf(g.data); !ok || n != from+i || !bytes.Equal(g.data, mkLine(n)) {
			t.Fatalf("line %d: want seq %d, got %.60q", i, from+i, g.data)
		}
	}
}

// Stop, let rotations and compressions happen, resume from the saved
// Position: the rest arrives exactly once.
func TestResumeAcrossRotations(t *testing.T) {
	seiscomp.RequireBzip2(t)
	for _, tc := range []struct {
		name string
		// prepare turns the rotated file of day 0 (plain) into the state
		// under test.
		prepare func(t *testing.T, rotated string)
	}{
		{"rotated-plain", func(t *testing.T, rotated string) {}},
		{"rotated-bz2", func(t *testing.T, rotated string) { runBzip2(t, rotated, false) }},
		{"mid-compression", func(t *testing.T, rotated string) {
			// bzip2 still writing: a partial .bz2 next to the complete plain file.
			runBzip2(t, rotated, true)
			b, err := os.ReadFile(rotated + ".bz2")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rotated+".bz2", b[:len(b)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotated-gzip", func(t *testing.T, rotated string) {
			if out, err := exec.Command("gzip", rotated).CombinedOutput(); err != nil {
				t.Skipf("gzip: %v %s", err, out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			w := newWriter(t, path)
			w.NoCompress = true
			f := newFollower(t, Options{Path: path})
			writeSeq(t, w, 0, 120, 0)
			gs := drainNow(t, f)
			expectLines(t, gs[:70], 0, 70)
			pos := gs[69].pos // stopped here (kill -9 after line 70)
			f.Close()

			writeSeq(t, w, 120, 130, 1) // rotates day 0
			writeSeq(t, w, 130, 140, 2)
			writeSeq(t, w, 140, 150, 3)
			// Day 1 fully compressed, day 2 still plain: mixed history.
			runBzip2(t, path+"."+dayOf(1).Format(time.DateOnly), false)
			tc.prepare(t, path+"."+dayOf(0).Format(time.DateOnly))

			f2 := newFollower(t, Options{Path: path, Start: &pos})
			gs = drainNow(t, f2)
			expectLines(t, gs, 70, 150)
			// The positions handed out resume correctly too.
			f2.Close()
			f3 := newFollower(t, Options{Path: path, Start: &gs[5].pos})
			expectLines(t, drainNow(t, f3), 76, 150)
			if f3.Stats().Lost != 0 {
				t.Error("position reported lost")
			}
		})
	}
}

func runBzip2(t *testing.T, path string, keep bool) {
	t.Helper()
	args := []string{path}
	if keep {
		args = []string{"-k", path}
	}
	if out, err := exec.Command("bzip2", args...).CombinedOutput(); err != nil {
		t.Fatalf("bzip2: %v %s", err, out)
	}
}

// Resume while bzip2 really runs in the background on the file of the
// saved position.
func TestResumeDuringBackgroundCompression(t *testing.T) {
	seiscomp.RequireBzip2(t)
	path := logPath(t)
	w := newWriter(t, path)
	f := newFollower(t, Options{Path: path})
	// Big enough that bzip2 takes a moment.
	writeSeq(t, w, 0, 20000, 0)
	gs := drainNow(t, f)
	pos := gs[999].pos
	f.Close()
	writeSeq(t, w, 20000, 20010, 1) // rotation starts bzip2
	f2 := newFollower(t, Options{Path: path, Start: &pos})
	ch := startReader(t, f2)
	expectSeq(t, ch, 1000, 20010)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	writeEnd(t, w, 1)
	expectEnd(t, ch)
}

func TestTruncation(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(w *seiscomp.Writer, path string) error
	}{
		{"truncate", func(w *seiscomp.Writer, _ string) error { return w.Truncate() }},
		{"copytruncate", func(w *seiscomp.Writer, path string) error { return w.CopyTruncate(path + ".1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			w := newWriter(t, path)
			f := newFollower(t, Options{Path: path})
			writeSeq(t, w, 0, 100, 0)
			expectLines(t, drainNow(t, f), 0, 100)
			if err := tc.op(w, path); err != nil {
				t.Fatal(err)
			}
			// More bytes than before: only the fingerprint can tell.
			writeSeq(t, w, 100, 300, 0)
			expectLines(t, drainNow(t, f), 100, 300)
			if err := tc.op(w, path); err != nil {
				t.Fatal(err)
			}
			writeSeq(t, w, 300, 310, 0) // smaller than before
			expectLines(t, drainNow(t, f), 300, 310)
			if got := f.Stats().Truncations; got != 2 {
				t.Errorf("truncations = %d, want 2", got)
			}
		})
	}
}

func TestInodeReuse(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	writeSeq(t, w, 0, 50, 0)
	f := newFollower(t, Options{Path: path})
	gs := drainNow(t, f)
	f.Close()
	pos := gs[len(gs)-1].pos

	t.Run("same-inode-other-content", func(t *testing.T) {
		// The logic, without relying on the filesystem reusing the inode.
		p := pos
		p.Fingerprint = fingerprint(bytes.Repeat([]byte("x"), fpMax))
		f := newFollower(t, Options{Path: path, Start: &p})
		expectLines(t, drainNow(t, f), 0, 50)
		if f.Stats().Lost != 1 {
			t.Errorf("lost = %d, want 1", f.Stats().Lost)
		}
	})
	t.Run("file-replaced", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		w2 := newWriter(t, path) // may well get the same inode
		writeSeq(t, w2, 1000, 1100, 0)
		f := newFollower(t, Options{Path: path, Start: &pos})
		expectLines(t, drainNow(t, f), 1000, 1100)
	})
}

func TestPartialLine(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	f := newFollower(t, Options{Path: path})
	ch := startReader(t, f)
	writeSeq(t, w, 0, 10, 0)
	// The reader sees the first half for a while; it must not hand it out.
	l := mkLine(10)
	if err := w.WriteSplit(l, dayOf(0), len(l)/2, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 11, 20, 0)
	writeEnd(t, w, 0)
	expectSeq(t, ch, 0, 20)
	expectEnd(t, ch)
}

func TestResumeBetweenHalves(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	f := newFollower(t, Options{Path: path})
	writeSeq(t, w, 0, 10, 0)
	l := mkLine(10)
	if err := w.WriteRaw(l[:100]); err != nil {
		t.Fatal(err)
	}
	gs := drainNow(t, f)
	expectLines(t, gs, 0, 10)
	if !f.AtEOF() {
		t.Error("not at EOF with only a partial line pending")
	}
	pos := gs[9].pos
	f.Close()
	if err := w.WriteRaw(append(l[100:], '\n')); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 11, 15, 0)
	f2 := newFollower(t, Options{Path: path, Start: &pos})
	expectLines(t, drainNow(t, f2), 10, 15)
}

func TestLongLines(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	f := newFollower(t, Options{Path: path})
	huge := bytes.Repeat([]byte("h"), 20<<20)
	big := bytes.Repeat([]byte("b"), 15<<20)
	writeSeq(t, w, 0, 3, 0)
	if err := w.WriteLine(huge, dayOf(0)); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 3, 6, 0)
	if err := w.WriteLine(big, dayOf(0)); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 6, 9, 0)
	gs := drainNow(t, f)
	if len(gs) != 11 {
		t.Fatalf("got %d lines, want 11", len(gs))
	}
	expectLines(t, gs[:3], 0, 3)
	if !gs[3].tooLong || gs[3].length != int64(len(huge)) || gs[3].data != nil {
		t.Errorf("huge line: tooLong=%v length=%d", gs[3].tooLong, gs[3].length)
	}
	expectLines(t, gs[4:7], 3, 6)
	if gs[7].tooLong || !bytes.Equal(gs[7].data, big) {
		t.Errorf("15 MiB line not returned whole: tooLong=%v len=%d", gs[7].tooLong, len(gs[7].data))
	}
	expectLines(t, gs[8:], 6, 9)
	if f.Stats().TooLong != 1 {
		t.Errorf("TooLong = %d", f.Stats().TooLong)
	}
	if c := cap(f.buf); c > DefaultMaxLineBytes+readChunk {
		t.Errorf("buffer grew to %d", c)
	}
}

func TestMissingFileAtStart(t *testing.T) {
	for _, noNotify := range []bool{false, true} {
		t.Run(map[bool]string{false: "fsnotify", true: "poll-only"}[noNotify], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "not", "yet")
			path := filepath.Join(dir, "fdsnws-requests.log")
			f := newFollower(t, Options{Path: path, NoNotify: noNotify, IdleTimeout: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := f.Next(ctx); !errors.Is(err, ErrIdle) {
				t.Fatalf("want ErrIdle, got %v", err)
			}
			if !f.AtEOF() {
				t.Error("not AtEOF while the file is missing")
			}
			ch := startReader(t, f)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			w := newWriter(t, path)
			writeSeq(t, w, 0, 100, 0)
			writeEnd(t, w, 0)
			expectSeq(t, ch, 0, 100)
			expectEnd(t, ch)
		})
	}
}

func TestStartModes(t *testing.T) {
	seiscomp.RequireBzip2(t)
	path := logPath(t)
	w := newWriter(t, path)
	w.NoCompress = true
	writeSeq(t, w, 0, 10, 0)
	writeSeq(t, w, 10, 20, 1)
	writeSeq(t, w, 20, 30, 2)
	writeSeq(t, w, 30, 40, 3)
	runBzip2(t, path+"."+dayOf(1).Format(time.DateOnly), false)
	runBzip2(t, path+"."+dayOf(2).Format(time.DateOnly), true) // plain and .bz2 both present
	for _, tc := range []struct {
		name     string
		since    string
		from, to int
	}{
		{"live-only", "", 30, 40},
		{"backfill-day1", dayOf(1).Format(time.DateOnly), 10, 40},
		{"backfill-before-all", "2020-01-01", 0, 40},
		{"backfill-future", "2030-01-01", 30, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFollower(t, Options{Path: path, BackfillSince: tc.since})
			expectLines(t, drainNow(t, f), tc.from, tc.to)
		})
	}
	if _, err := New(Options{Path: path, BackfillSince: "yesterday"}); err == nil {
		t.Error("bad backfill date accepted")
	}
}

func TestIdle(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	writeSeq(t, w, 0, 5, 0)
	f := newFollower(t, Options{Path: path, IdleTimeout: 20 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := f.Next(ctx); err != nil {
			t.Fatal(err)
		}
		if i < 4 && f.AtEOF() {
			t.Error("AtEOF with lines pending") // the whole file came in one read
		}
	}
	if _, err := f.Next(ctx); !errors.Is(err, ErrIdle) {
		t.Fatalf("want ErrIdle, got %v", err)
	}
	if !f.AtEOF() {
		t.Error("idle but not AtEOF")
	}
	writeSeq(t, w, 5, 6, 0)
	l, err := f.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := seqOf(l.Data); n != 5 {
		t.Errorf("got %q", l.Data)
	}
	// A busy log (a line more often than IdleTimeout) still reports idle
	// now and then, and no line is lost around it.
	idles, next := 0, 6
	for i := 6; idles < 2; i++ {
		if i > 20000 {
			t.Fatal("no ErrIdle while lines trickle in")
		}
		// Written while Next waits at the end of the file.
		go func() {
			time.Sleep(time.Millisecond)
			w.WriteLine(mkLine(i), dayOf(0))
		}()
		for {
			l, err := f.Next(ctx)
			if errors.Is(err, ErrIdle) {
				idles++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := seqOf(l.Data); n != next {
				t.Fatalf("got seq %d, want %d", n, next)
			}
			next++
			break
		}
	}
}

// A complete rotated file may end in a torn record (crash of fdsnws): it is
// still handed out, once.
func TestTornTailOfRotatedFile(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	w.NoCompress = true
	f := newFollower(t, Options{Path: path})
	writeSeq(t, w, 0, 5, 0)
	if err := w.WriteRaw([]byte(`{"torn`)); err != nil {
		t.Fatal(err)
	}
	expectLines(t, drainNow(t, f), 0, 5)
	if err := w.Rotate(dayOf(0).Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
	writeSeq(t, w, 5, 8, 1)
	gs := drainNow(t, f)
	if len(gs) != 4 || string(gs[0].data) != `{"torn` {
		t.Fatalf("got %d lines, first %q", len(gs), gs[0].data)
	}
	expectLines(t, gs[1:], 5, 8)
}

// Lines written one at a time are read in batches, at most one read per
// MinWake, even when the poll interval is shorter (fsnotify reported the
// write, polling has nothing to add); the idle deadline still comes on time.
// Bounds are loose: this counts wake-ups, it does not time anything.
func TestWakeBatching(t *testing.T) {
	path := logPath(t)
	w := newWriter(t, path)
	writeSeq(t, w, 0, 1, 0)
	f := newFollower(t, Options{Path: path, MinWake: 400 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, IdleTimeout: 150 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type event struct {
		idle bool
		at   time.Time
	}
	events := make(chan event, 10000)
	go func() {
		defer close(events)
		for {
			_, err := f.Next(ctx)
			if ctx.Err() != nil {
				return
			}
			events <- event{idle: errors.Is(err, ErrIdle), at: time.Now()}
		}
	}()
	const n = 120 // one line every 10 ms: 1.2 s
	for i := 1; i <= n; i++ {
		if err := w.WriteLine(mkLine(i), dayOf(0)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines, idles, batches := 0, 0, 0
	var last time.Time
	for lines < n+1 {
		ev := <-events
		if ev.idle {
			idles++
			continue
		}
		if ev.at.Sub(last) > 5*time.Millisecond {
			batches++ // lines of one read come back to back
		}
		last = ev.at
		lines++
	}
	cancel()
	for range events { // the reader has returned before Close runs
	}
	// 1.2 s of writes: about 3 reads of 400 ms, plus idle returns (the
	// caller reads on after them). Without batching: one per line or poll.
	if batches > 20 {
		t.Errorf("%d lines read in %d batches: writes are not batched", lines, batches)
	}
	if idles < 3 {
		t.Errorf("%d idle returns in 1.2 s with IdleTimeout 150ms", idles)
	}
}
