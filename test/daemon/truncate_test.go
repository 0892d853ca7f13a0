package daemon_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// Truncation of the live file in place (`: > log`): the lines written
// after it are read from offset 0, whether the daemon sees the file shorter
// than its position, already grown past it (only the first bytes differ),
// or was killed across the truncation.
func TestTruncateLive(t *testing.T) {
	h := newHarness(t, opts{})
	lines := genLines(t, 21, 1, 1200, "2024-06-01")
	h.start()
	for _, l := range lines[:200] {
		h.line(l)
	}
	h.caughtUp()
	// Truncate and write more than before at once: the size may already
	// be past the old position when the daemon looks.
	if err := h.w.Truncate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[200:600] {
		h.line(l)
	}
	h.caughtUp()
	// Truncate and pause: the daemon sees a file shorter than its position.
	if err := h.w.Truncate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[600:700] {
		h.line(l)
	}
	h.caughtUp()
	// Truncated and rewritten (longer) while the daemon is down.
	h.kill()
	if err := h.w.Truncate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[700:1200] {
		h.line(l)
	}
	h.start()
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("3 truncations (one while down), %d lines, %d payloads: identical to the reference", len(lines), len(ps))
}

// logrotate's copytruncate: the daemon never reads the copy, and the lines
// after the truncation are read from 0. Limitation (of every tailer): lines
// written between the daemon's last read and the truncation are only in the
// copy and are lost; the writer therefore pauses until the daemon caught up
// before each copytruncate. SeisComP's own rotation has no such window.
func TestCopyTruncate(t *testing.T) {
	h := newHarness(t, opts{})
	lines := genLines(t, 22, 1, 900, "2024-06-02")
	h.start()
	for i, part := range [][]seiscomp.Record{lines[:300], lines[300:600], lines[600:]} {
		for _, l := range part {
			h.line(l)
		}
		h.caughtUp()
		if i < 2 {
			if err := h.w.CopyTruncate(h.logPath + ".1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("2 copytruncates, %d lines, %d payloads: identical to the reference", len(lines), len(ps))
}

// The live file is deleted and a new one created, which on ext4 usually
// gets the same inode number: the fingerprint of the first bytes tells them
// apart, with the daemon running and across a restart.
func TestInodeReuse(t *testing.T) {
	h := newHarness(t, opts{})
	lines := genLines(t, 23, 1, 1000, "2024-06-03")
	h.start()
	reused := 0
	recreate := func() {
		t.Helper()
		before := inode(t, h.logPath)
		if err := h.w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(h.logPath); err != nil {
			t.Fatal(err)
		}
		w, err := seiscomp.NewWriter(h.logPath)
		if err != nil {
			t.Fatal(err)
		}
		h.w = w
		if inode(t, h.logPath) == before {
			reused++
		}
	}
	for _, l := range lines[:200] {
		h.line(l)
	}
	h.caughtUp()
	// Running: the new file quickly grows past the old position.
	recreate()
	for _, l := range lines[200:500] {
		h.line(l)
	}
	h.caughtUp()
	// Down: deleted, recreated and written past the saved offset.
	h.kill()
	recreate()
	for _, l := range lines[500:] {
		h.line(l)
	}
	h.start()
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("2 delete+create (inode number reused %d times), %d lines, %d payloads: identical to the reference", reused, len(lines), len(ps))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
