package daemon_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// spooledNames lists (day, seq) of every payload in spool/.
func spooledNames(t *testing.T, stateDir string) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*.json.gz"))
	out := map[string]int{}
	for _, f := range files {
		var y, m, d, seq int
		if _, err := fmt.Sscanf(filepath.Base(f), "%04d-%02d-%02d_%06d_", &y, &m, &d, &seq); err != nil {
			t.Fatalf("payload name %s: %v", f, err)
		}
		day := fmt.Sprintf("%04d-%02d-%02d", y, m, d)
		if s, ok := out[day]; !ok || seq > s {
			out[day] = seq
		}
	}
	return out
}

// checkGenerations: every payload in the spool is sealed in both state
// generations, so that falling back to the previous one never reads its
// lines into a second payload.
func checkGenerations(t *testing.T, stateDir string) {
	t.Helper()
	for day, seq := range spooledNames(t, stateDir) {
		for _, name := range []string{"state.json", "state.prev.json"} {
			s, err := loadState(filepath.Join(stateDir, name))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if s.Next[day] <= seq {
				t.Errorf("%s does not know that payload %d of %s is spooled (next %d): a fallback to it would count the day twice", name, seq, day, s.Next[day])
			}
		}
	}
}

// The current state generation is damaged (empty, NUL-filled, cut, garbage)
// right after a day was sealed by the log clock: the daemon falls back to
// the previous generation and still counts every line once.
func TestCorruptCurrentGeneration(t *testing.T) {
	seiscomp.RequireBzip2(t)
	h := newHarness(t, opts{})
	lines := genLines(t, 41, 5, 400, "2024-08-01")
	damage := []struct {
		name string
		f    func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"NUL-filled", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"cut in half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"one byte flipped", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-2] ^= 1; return b }},
	}
	h.start()
	seals := 0
	i := 0
	for k := 0; i < len(lines); k++ {
		// One day and the first lines of the next past the grace period in
		// one burst: the day is sealed by the log clock while reading.
		day := lines[i].Finished.Format(time.DateOnly)
		for i < len(lines) && lines[i].Finished.Format(time.DateOnly) == day {
			h.line(lines[i])
			i++
		}
		for i < len(lines) && lines[i].Finished.Hour() == 0 && lines[i].Finished.Minute() < 20 {
			h.line(lines[i])
			i++
		}
		if i >= len(lines) {
			break
		}
		seals++
		h.waitLog(0, `msg="day sealed" day=`+day, 60*time.Second)
		h.kill()
		checkGenerations(t, h.stateDir)
		d := damage[k%len(damage)]
		cur := filepath.Join(h.stateDir, "state.json")
		b, err := os.ReadFile(cur)
		if err != nil {
			t.Fatal(err)
		}
		// Replace the file rather than write into it: a kill -9 inside a
		// save can leave state.json and state.prev.json as two names of one
		// inode (link, then rename), which is harmless but would make an
		// in-place write damage both generations.
		if err := os.WriteFile(cur+".damaged", d.f(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cur+".damaged", cur); err != nil {
			t.Fatal(err)
		}
		h.start()
		if !strings.Contains(h.logTail(), "current state file unusable, using the previous generation") {
			t.Errorf("%s state.json: no warning about the fallback", d.name)
		}
	}
	if err := h.w.Wait(); err != nil {
		t.Fatal(err)
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	checkGenerations(t, h.stateDir)
	t.Logf("%d lines, %d kill -9 right after a seal with state.json damaged, %d payloads: identical to the reference", len(lines), seals, len(ps))
}

// Both generations unusable after everything was shipped: the daemon starts
// over without crash-looping, does not ship the days already in the spool
// again, and counts the days that follow.
func TestCorruptBothGenerations(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{{"empty", nil}, {"NUL-filled", make([]byte, 4096)}, {"garbage", []byte("eidastatsd-state 1 sha256=00\n{")}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts{})
			lines := genLines(t, 42, 2, 300, "2024-08-10")
			h.start()
			for _, l := range lines[:300] {
				h.line(l)
			}
			ref1, _ := h.reference()
			h.check(ref1)
			h.kill()
			for _, name := range []string{"state.json", "state.prev.json"} {
				if err := os.WriteFile(filepath.Join(h.stateDir, name), tc.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			for _, l := range lines[300:] {
				h.line(l)
			}
			ref, _ := h.reference()
			ps := h.check(ref)
			h.stop()
			if !strings.Contains(h.logTail(), "saved state unusable") {
				t.Errorf("no error about the unusable state")
			}
			t.Logf("%d payloads: identical to the reference", len(ps))
		})
	}
}

// breakDir makes a directory unwritable in one of two ways and returns the
// function that repairs it.
type breaker struct {
	name  string
	setup func(t *testing.T, dir string) // before the daemon starts
	brk   func(t *testing.T, dir string) (repair func())
}

var breakers = []breaker{
	{"immutable", func(*testing.T, string) {}, func(t *testing.T, dir string) func() {
		chattr(t, "+i", dir)
		return func() { chattr(t, "-i", dir) }
	}},
	{"full", func(t *testing.T, dir string) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("mount tmpfs not permitted: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	}, func(t *testing.T, dir string) func() {
		filler := filepath.Join(dir, "filler")
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
		f.Close()
		return func() { os.Remove(filler) }
	}},
}

func chattr(t *testing.T, flag, dir string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, dir).CombinedOutput(); err != nil {
		t.Skipf("chattr %s not possible here: %v %s", flag, err, out)
	}
	if flag == "+i" {
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
}

// The state directory becomes unwritable (immutable, or a full file
// system): the daemon keeps reading, reports it (log, metric, readiness),
// keeps the data in memory, does not flood its log, survives a kill -9 and
// restart in that condition, and once the directory is writable again ships
// everything exactly once.
func TestStateDirUnwritable(t *testing.T) {
	requireRoot(t)
	for _, b := range breakers {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, opts{listen: true})
			b.setup(t, h.stateDir)
			lines := genLines(t, 43, 3, 300, "2024-08-20")
			h.start()
			for _, l := range lines[:150] {
				h.line(l)
			}
			h.caughtUp()
			repair := b.brk(t, h.stateDir)
			off := fileSize(h.dlog)
			for _, l := range lines[150:750] {
				h.line(l)
			}
			waitFor(t, 30*time.Second, "save failures in the metrics", func() bool {
				return h.metric("eidastatsd_state_save_failures_total") >= 2
			})
			code, body := h.ready()
			if code == 200 || !strings.Contains(body, "state") {
				t.Errorf("/-/ready while the state cannot be saved: %d %q", code, body)
			}
			// Lines go on being read and days sealed into memory only.
			time.Sleep(2 * time.Second)
			h.alive()
			failures := h.metric("eidastatsd_state_save_failures_total")
			logged := strings.Count(readFile(t, h.dlog)[off:], "cannot save state")
			if logged < 1 || logged > 3 {
				t.Errorf("%d 'cannot save state' log lines in a few seconds, want 1 (rate-limited)", logged)
			}
			if n := strings.Count(readFile(t, h.dlog)[off:], "cannot write payload"); n > 2 {
				t.Errorf("%d 'cannot write payload' log lines in a few seconds, want at most 1 (rate-limited)", n)
			}
			// Restarted (kill -9) while still unwritable: it starts, re-reads
			// from the last checkpoint that could be saved.
			h.kill()
			h.start()
			repair()
			for _, l := range lines[750:] {
				h.line(l)
			}
			ref, _ := h.reference()
			ps := h.check(ref)
			if code, body := h.ready(); code != 200 {
				t.Errorf("/-/ready after repair: %d %q", code, body)
			}
			h.stop()
			checkGenerations(t, h.stateDir)
			t.Logf("%v save failures while %s; then %d payloads: identical to the reference", failures, b.name, len(ps))
		})
	}
}

// The spool folder cannot be written: sealed payloads stay committed in the
// outbox, are retried while running and after a kill -9, and reach the
// spool exactly once when it is writable again.
func TestSpoolUnwritable(t *testing.T) {
	requireRoot(t)
	h := newHarness(t, opts{})
	lines := genLines(t, 44, 3, 300, "2024-09-01")
	h.start()
	for _, l := range lines[:100] {
		h.line(l)
	}
	h.caughtUp()
	spoolDir := filepath.Join(h.stateDir, "spool")
	chattr(t, "+i", spoolDir)
	before := len(spooledNames(t, h.stateDir))
	for _, l := range lines[100:600] {
		h.line(l)
	}
	h.waitLog(0, "cannot move payload into the spool", 30*time.Second)
	h.kill()
	h.start()
	for _, l := range lines[600:] {
		h.line(l)
	}
	h.caughtUp()
	if n := len(spooledNames(t, h.stateDir)); n != before {
		t.Fatalf("spool changed while immutable: %d -> %d", before, n)
	}
	outbox, _ := filepath.Glob(filepath.Join(h.stateDir, "outbox", "*.json.gz"))
	if len(outbox) == 0 {
		t.Fatal("no payload waiting in the outbox")
	}
	chattr(t, "-i", spoolDir)
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	if left, _ := filepath.Glob(filepath.Join(h.stateDir, "outbox", "*.json.gz")); len(left) > 0 {
		t.Errorf("payloads left in the outbox: %v", left)
	}
	t.Logf("%d payloads waited in the outbox; then %d payloads: identical to the reference", len(outbox), len(ps))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
