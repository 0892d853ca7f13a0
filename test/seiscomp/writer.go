// Package seiscomp is a test helper that writes a request log the way
// SeisComP's fdsnws does: one write per line, lazy rotation at the first line
// of a new UTC day (rename to PATH.YYYY-MM-DD, new file, real bzip2 of the
// renamed file in the background), plus the truncations operators cause.
package seiscomp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Writer appends lines to Path. Its methods are safe for concurrent use.
type Writer struct {
	Path string
	// CompressDelay postpones the background bzip2 after a rotation, to
	// widen the window in which only the plain rotated file exists.
	CompressDelay time.Duration
	// NoCompress leaves rotated files uncompressed.
	NoCompress bool

	mu   sync.Mutex
	f    *os.File
	day  string
	wg   sync.WaitGroup
	errs []error
	n    int // rotations
}

// NewWriter opens (creating if needed) path for appending. The day of the
// open file is unknown until the first WriteLine.
func NewWriter(path string) (*Writer, error) {
	w := &Writer{Path: path}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	w.f = f
	return nil
}

// Day is the UTC day the open file covers ("" before the first line).
func (w *Writer) Day() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.day
}

// Rotations is how many rotations happened.
func (w *Writer) Rotations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// WriteLine appends line plus '\n' in one write, rotating first when
// finished falls on another UTC day than the open file.
func (w *Writer) WriteLine(line []byte, finished time.Time) error {
	return w.WriteSplit(line, finished, 0, 0)
}

// WriteSplit is WriteLine in two writes: line[:cut], a pause, then the rest
// and '\n'. cut <= 0 or >= len(line) means one write.
func (w *Writer) WriteSplit(line []byte, finished time.Time, cut int, pause time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.rotateIfNeeded(finished.UTC().Format(time.DateOnly)); err != nil {
		return err
	}
	rec := make([]byte, 0, len(line)+1)
	rec = append(append(rec, line...), '\n')
	if cut > 0 && cut < len(line) {
		if _, err := w.f.Write(rec[:cut]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		time.Sleep(pause)
		rec = rec[cut:]
	}
	if _, err := w.f.Write(rec); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// WriteRaw appends b as is (e.g. a torn fragment without newline).
func (w *Writer) WriteRaw(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (w *Writer) rotateIfNeeded(day string) error {
	if w.day == "" {
		w.day = day
		return nil
	}
	if day == w.day {
		return nil
	}
	old := w.day
	w.day = day
	return w.rotate(old)
}

// Rotate renames the live file to PATH.day now, like a rollover, and opens a
// new live file.
func (w *Writer) Rotate(day string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rotate(day)
}

// rotate mirrors TimedRotatingFileHandler.doRollover: close, rename, reopen,
// then SeisComP's background bzip2.
func (w *Writer) rotate(day string) error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	dst := w.Path + "." + day
	if err := os.Rename(w.Path, dst); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	w.n++
	if err := w.open(); err != nil {
		return err
	}
	if !w.NoCompress {
		w.compress(dst, w.CompressDelay)
	}
	return nil
}

// Compress starts bzip2 on path in the background after delay.
func (w *Writer) Compress(path string, delay time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.compress(path, delay)
}

func (w *Writer) compress(path string, delay time.Duration) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		time.Sleep(delay)
		out, err := exec.Command("bzip2", path).CombinedOutput()
		if err != nil {
			w.mu.Lock()
			w.errs = append(w.errs, fmt.Errorf("bzip2 %s: %w: %s", path, err, out))
			w.mu.Unlock()
		}
	}()
}

// Truncate empties the live file in place; writes continue at offset 0
// (the descriptor is O_APPEND), as after `: > log`.
func (w *Writer) Truncate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	return nil
}

// CopyTruncate copies the live file to dst and truncates it, like
// logrotate's copytruncate.
func (w *Writer) CopyTruncate(dst string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	src, err := os.Open(w.Path)
	if err != nil {
		return fmt.Errorf("copytruncate: %w", err)
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copytruncate: %w", err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return fmt.Errorf("copytruncate: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copytruncate: %w", err)
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("copytruncate: %w", err)
	}
	return nil
}

// Wait blocks until every background compression finished and returns
// their errors.
func (w *Writer) Wait() error {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// Close closes the live file and waits for background compressions.
func (w *Writer) Close() error {
	w.mu.Lock()
	err := w.f.Close()
	w.mu.Unlock()
	return errors.Join(err, w.Wait())
}

// RequireBzip2 skips the test when the bzip2 binary is missing, unless the
// CI environment variable is set: in CI a missing bzip2 is a failure.
func RequireBzip2(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("bzip2 binary missing in CI (apt-get install bzip2): %v", err)
		}
		t.Skipf("bzip2 binary missing: %v", err)
	}
}
