package daemon_test

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// Lines are written in a tight loop across several midnights of the log
// clock: the lines just before each rotation reach the old file an instant
// before it is renamed (and bzip2-compressed in the background), and those
// just after land in the new file. Some rotations happen while the daemon
// is killed (-9) and restarted.
func TestMidnightTightLoop(t *testing.T) {
	seiscomp.RequireBzip2(t)
	h := newHarness(t, opts{})
	// Few lines per day: many midnights, each surrounded by back-to-back
	// writes.
	lines := genLines(t, 11, 8, 300, "2024-03-01")
	rng := rand.New(rand.NewSource(11))
	h.start()
	kills := 0
	for i := 0; i < len(lines); {
		// Write up to the first line of the next day plus a few more with
		// no pause at all.
		day := lines[i].Finished.Format(time.DateOnly)
		for i < len(lines) && lines[i].Finished.Format(time.DateOnly) == day {
			h.line(lines[i])
			i++
		}
		for j := 0; j < 5 && i < len(lines); j, i = j+1, i+1 {
			h.line(lines[i])
		}
		if rng.Intn(3) == 0 {
			// kill -9 right after the rotation, while bzip2 runs.
			h.kill()
			kills++
			h.start()
		}
		time.Sleep(time.Duration(rng.Intn(30)) * time.Millisecond)
	}
	if err := h.w.Wait(); err != nil {
		t.Fatal(err)
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("%d lines, %d rotations, %d kill -9, %d payloads: identical to the reference", len(lines), h.w.Rotations(), kills, len(ps))
}

// The daemon is down for several days: the rotated files are compressed
// while it is down, and the last rotated one is being compressed when it
// restarts (plain file complete, .bz2 half written). It then finishes and
// the plain file disappears while the daemon runs; a kill -9 and restart
// after that resume in the compressed file.
func TestDownSeveralDaysHalfWrittenBz2(t *testing.T) {
	seiscomp.RequireBzip2(t)
	h := newHarness(t, opts{})
	h.w.NoCompress = true // compressed by hand below
	lines := genLines(t, 12, 7, 400, "2024-05-01")
	byDay := map[string][]seiscomp.Record{}
	var days []string
	for _, l := range lines {
		d := l.Finished.Format(time.DateOnly)
		if len(byDay[d]) == 0 {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], l)
	}
	if len(days) != 7 {
		t.Fatalf("%d days", len(days))
	}
	h.start()
	for _, l := range byDay[days[0]] {
		h.line(l)
	}
	half := byDay[days[1]][:200]
	for _, l := range half {
		h.line(l)
	}
	h.caughtUp()
	h.kill()
	// Down from days[1] to days[5]: days[1..4] rotate.
	for _, l := range byDay[days[1]][200:] {
		h.line(l)
	}
	for _, d := range days[2:6] {
		for _, l := range byDay[d] {
			h.line(l)
		}
	}
	for _, d := range days[:4] {
		bzip2File(t, h.logPath+"."+d)
	}
	// days[4]: compression in progress.
	rotated := h.logPath + "." + days[4]
	full := bzip2Bytes(t, rotated)
	if err := os.WriteFile(rotated+".bz2", full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.caughtUp()
	// bzip2 finishes: complete .bz2, plain file unlinked.
	if err := os.WriteFile(rotated+".bz2.tmp", full, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(rotated+".bz2.tmp", rotated+".bz2"); err != nil {
		t.Fatal(err)
	}
	os.Remove(rotated)
	h.kill()
	h.start()
	h.w.NoCompress = false
	for _, l := range byDay[days[6]] {
		h.line(l)
	}
	if err := h.w.Wait(); err != nil {
		t.Fatal(err)
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("%d lines over %d days, down for %d rotations, %d payloads: identical to the reference", len(lines), len(days), 4, len(ps))
}

func bzip2File(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("bzip2", path).CombinedOutput(); err != nil {
		t.Fatalf("bzip2 %s: %v\n%s", filepath.Base(path), err, out)
	}
}

func bzip2Bytes(t *testing.T, path string) []byte {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("bzip2", "-c", path)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
