package follow

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// TestRandomHistories replays random sequences of writes, split writes,
// rotations (compressed now, later, or never), reads and stop/resume, and
// checks that every line is read exactly once, in order.
func TestRandomHistories(t *testing.T) {
	seiscomp.RequireBzip2(t)
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		t.Run("", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			path := logPath(t)
			w := newWriter(t, path)
			w.NoCompress = rng.IntN(3) == 0
			f := newFollower(t, Options{Path: path, NoNotify: rng.IntN(2) == 0})
			written, read, day := 0, 0, 0
			var half []byte // second half of a line being written
			var last *Position
			check := func() {
				gs := drainNow(t, f)
				expectLines(t, gs, read, read+len(gs))
				read += len(gs)
				if len(gs) > 0 {
					p := gs[len(gs)-1].pos
					last = &p
				}
			}
			for range 60 {
				switch op := rng.IntN(10); {
				case half != nil:
					if err := w.WriteRaw(half); err != nil {
						t.Fatal(err)
					}
					half = nil
					written++
				case op < 4:
					n := 1 + rng.IntN(50)
					writeSeq(t, w, written, written+n, day)
					written += n
				case op == 4:
					l := append(mkLine(written), '\n')
					cut := 1 + rng.IntN(len(l)-1)
					if err := w.WriteRaw(l[:cut]); err != nil {
						t.Fatal(err)
					}
					half = l[cut:]
				case op == 5:
					day++ // the next line rotates
				case op == 6:
					if err := w.Wait(); err != nil {
						t.Fatal(err)
					}
				case op == 7:
					// Stop (as if killed) and resume from the last position.
					f.Close()
					// Nothing read yet: a backfill of all days is the same.
					f = newFollower(t, Options{Path: path, Start: last, BackfillSince: dayOf(0).Format(time.DateOnly)})
				default:
					check()
				}
			}
			if half != nil {
				if err := w.WriteRaw(half); err != nil {
					t.Fatal(err)
				}
				written++
			}
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			check()
			if read != written {
				t.Fatalf("read %d of %d lines", read, written)
			}
			if f.Stats().Lost != 0 {
				t.Error("position lost")
			}
		})
	}
}
