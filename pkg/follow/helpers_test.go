package follow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

const endMark = `{"end":true}`

// day0 is the first day the tests write.
var day0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func dayOf(k int) time.Time { return day0.AddDate(0, 0, k) }

// mkLine returns a log-like line carrying its sequence number; lengths vary
// so that lines straddle read chunks and the 256-byte fingerprint.
func mkLine(seq int) []byte {
	pad := make([]byte, 40+(seq*7919)%300)
	for i := range pad {
		pad[i] = 'a' + byte((seq+i)%26)
	}
	return fmt.Appendf(nil, `{"seq":%09d,"pad":"%s"}`, seq, pad)
}

func seqOf(b []byte) (int, bool) {
	const p = `{"seq":`
	if len(b) < len(p)+9 || string(b[:len(p)]) != p {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[len(p) : len(p)+9]))
	return n, err == nil
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newFollower(t testing.TB, o Options) *Follower {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.MinWake == 0 {
		// Most tests are about what is read, not how often: wake at once.
		// TestWakeBatching covers the batching.
		o.MinWake = -1
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func newWriter(t testing.TB, path string) *seiscomp.Writer {
	t.Helper()
	w, err := seiscomp.NewWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return w
}

// got is a line copied out of the follower, for another goroutine.
type got struct {
	data    []byte
	pos     Position
	tooLong bool
	length  int64
	err     error
}

// startReader runs Next in a goroutine until ctx ends or Next fails with
// anything but a transient error, sending copies of the lines.
// It stops (and is waited for) at the end of the test, before f is closed.
func startReader(t testing.TB, f *Follower) <-chan got {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan got, 1024)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		for range ch { // unblock a pending send
		}
		<-done
	})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			l, err := f.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, ErrIdle) {
					continue
				}
				ch <- got{err: err}
				continue
			}
			ch <- got{data: append([]byte(nil), l.Data...), pos: l.Pos, tooLong: l.TooLong, length: l.Length}
		}
	}()
	return ch
}

// expectSeq receives lines from ch and checks they are exactly from..to-1
// in order. It returns the position after the last one.
func expectSeq(t testing.TB, ch <-chan got, from, to int) Position {
	t.Helper()
	var last Position
	timeout := time.NewTimer(2 * time.Minute) // a hang guard, not a speed check
	defer timeout.Stop()
	for want := from; want < to; {
		select {
		case g, ok := <-ch:
			if !ok {
				t.Fatalf("reader stopped before seq %d", want)
			}
			if g.err != nil {
				t.Logf("transient error: %v", g.err)
				continue
			}
			n, ok := seqOf(g.data)
			if !ok || n != want {
				t.Fatalf("want seq %d, got %.60q (tooLong=%v)", want, g.data, g.tooLong)
			}
			if string(g.data) != string(mkLine(n)) {
				t.Fatalf("seq %d: content differs", n)
			}
			last = g.pos
			want++
		case <-timeout.C:
			t.Fatalf("no line seq %d after 2 minutes", want)
		}
	}
	return last
}

// expectEnd checks that the next line is the end mark: nothing extra was
// read before it.
func expectEnd(t testing.TB, ch <-chan got) {
	t.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case g, ok := <-ch:
			if !ok {
				t.Fatal("reader stopped before the end mark")
			}
			if g.err != nil {
				t.Logf("transient error: %v", g.err)
				continue
			}
			if string(g.data) != endMark {
				t.Fatalf("want end mark, got %.60q", g.data)
			}
			return
		case <-timeout.C:
			t.Fatal("no end mark after 2 minutes")
		}
	}
}

// writeSeq writes lines from..to-1 on day k.
func writeSeq(t testing.TB, w *seiscomp.Writer, from, to, k int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.WriteLine(mkLine(i), dayOf(k)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeEnd(t testing.TB, w *seiscomp.Writer, k int) {
	t.Helper()
	if err := w.WriteLine([]byte(endMark), dayOf(k)); err != nil {
		t.Fatal(err)
	}
}

// drainNow returns every line available without waiting.
func drainNow(t testing.TB, f *Follower) []got {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []got
	for {
		l, err := f.Next(ctx)
		if errors.Is(err, context.Canceled) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got{data: append([]byte(nil), l.Data...), pos: l.Pos, tooLong: l.TooLong, length: l.Length})
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func logPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "fdsnws-requests.log")
}

// goWrite runs write concurrently; the test waits for it before its
// cleanups close the writer, and fails if it fails.
func goWrite(t testing.TB, write func() error) {
	done := make(chan error, 1)
	go func() { done <- write() }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
	})
}
