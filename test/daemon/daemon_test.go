// Package daemon_test drives the real eidastatsd binary against a log
// written the way SeisComP writes it, killing it with SIGKILL at random
// moments, and checks that the union of every payload it spooled equals the
// reference aggregation of the same lines: every line counted exactly once.
package daemon_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/eida/eidastatsd/internal/paritytest"
	"github.com/eida/eidastatsd/internal/testbin"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/test/seiscomp"
)

var bin string

func TestMain(m *testing.M) {
	bin = testbin.MustBuild(testbin.Eidastatsd)
	os.Exit(testbin.Main(m))
}

// readLog reads a bzip2 log of the synthetic test days with the time each
// line is written at.
func readLog(t *testing.T, path string) []seiscomp.Record {
	t.Helper()
	rs, err := seiscomp.ReadRecords(path, time.Date(2020, 9, 29, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type daemon struct {
	cmd *exec.Cmd
	out *os.File
}

func start(t *testing.T, cfg, logPath string) *daemon {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &daemon{cmd, out}
}

func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
	d.out.Close()
}

func (d *daemon) stop(t *testing.T) {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		d.kill()
		t.Error("daemon did not stop within 30s of SIGTERM")
	}
	d.out.Close()
}

func spooled(t *testing.T, stateDir string) []*payload.Payload {
	files, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*.json.gz"))
	var ps []*payload.Payload
	for _, f := range files {
		p, err := payload.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func writeConfig(t *testing.T, dir, logPath string) string {
	cfg := filepath.Join(dir, "eidastatsd.yaml")
	abs, _ := filepath.Abs("../../testdata/fdsn-networks.json")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`log:
  path: %s
  poll_interval: 50ms
state_dir: %s
aggregation:
  checkpoint_every: 1s
networks:
  registry: %s
http:
  listen: ""
`, logPath, filepath.Join(dir, "state"), abs)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitSettled waits until the spool holds payloads covering want and stops
// changing.
func waitSettled(t *testing.T, stateDir string, ref *payload.Payload) []*payload.Payload {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ps := spooled(t, stateDir)
		if d, err := paritytest.Diff([]*payload.Payload{ref}, ps); err == nil && len(d) == 0 {
			return ps
		}
		time.Sleep(200 * time.Millisecond)
	}
	return spooled(t, stateDir)
}

func TestKill9DuringMultiDayReplay(t *testing.T) {
	seiscomp.RequireBzip2(t)
	ref, err := payload.ReadFile("../../testdata/synthetic-3k.reference.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	lines := readLog(t, "../../testdata/synthetic-3k.log.bz2")
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	os.MkdirAll(logDir, 0o755)
	logPath := filepath.Join(logDir, "fdsnws-requests.log")
	cfg := writeConfig(t, dir, logPath)
	w, err := seiscomp.NewWriter(logPath)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	d := start(t, cfg, filepath.Join(dir, "daemon.log"))
	kills := 0
	for i := 0; i < len(lines); {
		n := 1 + rng.Intn(150)
		for j := 0; j < n && i < len(lines); j, i = j+1, i+1 {
			l := lines[i]
			var err error
			if rng.Intn(50) == 0 {
				// Some lines arrive in two writes with a pause between.
				err = w.WriteSplit(l.Data, l.Finished, 1+rng.Intn(len(l.Data)), 20*time.Millisecond)
			} else {
				err = w.WriteLine(l.Data, l.Finished)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Duration(rng.Intn(60)) * time.Millisecond)
		if rng.Intn(3) == 0 {
			d.kill()
			kills++
			d = start(t, cfg, filepath.Join(dir, "daemon.log"))
		}
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	ps := waitSettled(t, filepath.Join(dir, "state"), ref)
	d.stop(t)
	diffs, err := paritytest.Diff([]*payload.Payload{ref}, ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		logs, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		t.Fatalf("after %d kills, %d payloads: %d differences, first %v\n%s", kills, len(ps), len(diffs), diffs[:min(5, len(diffs))], tail(logs))
	}
	if paritytest.Days(ps...) != paritytest.Days(ref) {
		t.Errorf("days %s, want %s", paritytest.Days(ps...), paritytest.Days(ref))
	}
	t.Logf("%d lines, %d rotations, %d kill -9, %d payloads: identical to the reference", len(lines), w.Rotations(), kills, len(ps))
}

// The daemon was down across rotations and compressions: it finds the
// rotated files (plain or bzip2) and reads each from where it stopped.
func TestDownAcrossRotations(t *testing.T) {
	seiscomp.RequireBzip2(t)
	ref, _ := payload.ReadFile("../../testdata/synthetic-3k.reference.json.gz")
	lines := readLog(t, "../../testdata/synthetic-3k.log.bz2")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "log"), 0o755)
	logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
	cfg := writeConfig(t, dir, logPath)
	w, _ := seiscomp.NewWriter(logPath)
	d := start(t, cfg, filepath.Join(dir, "daemon.log"))
	for _, l := range lines[:500] {
		w.WriteLine(l.Data, l.Finished)
	}
	time.Sleep(1500 * time.Millisecond)
	d.kill()
	for _, l := range lines[500:] {
		w.WriteLine(l.Data, l.Finished)
	}
	w.Wait()
	d = start(t, cfg, filepath.Join(dir, "daemon.log"))
	ps := waitSettled(t, filepath.Join(dir, "state"), ref)
	d.stop(t)
	if diffs, _ := paritytest.Diff([]*payload.Payload{ref}, ps); len(diffs) > 0 {
		logs, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		t.Fatalf("%d differences, first %v\n%s", len(diffs), diffs[0], tail(logs))
	}
}

// A corrupt state file (both generations) does not crash-loop, and days
// already in the spool are not shipped twice.
func TestCorruptStateNoCrashLoop(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "log"), 0o755)
	logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
	data, _ := os.ReadFile("../../testdata/gfz-2020-09-18.log")
	os.WriteFile(logPath, data, 0o644)
	cfg := writeConfig(t, dir, logPath)
	ref, _ := payload.ReadFile("../../testdata/gfz-2020-09-18.reference.json")
	d := start(t, cfg, filepath.Join(dir, "daemon.log"))
	waitSettled(t, filepath.Join(dir, "state"), ref)
	d.stop(t)
	for _, name := range []string{"state.json", "state.prev.json"} {
		os.WriteFile(filepath.Join(dir, "state", name), make([]byte, 512), 0o600) // NUL-filled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfg)
	out, _ := cmd.CombinedOutput() // runs until the timeout kills it
	ps := spooled(t, filepath.Join(dir, "state"))
	if diffs, _ := paritytest.Diff([]*payload.Payload{ref}, ps); len(diffs) > 0 {
		t.Fatalf("after corrupt state: %d payloads, %d differences (day shipped twice?)\n%s", len(ps), len(diffs), out)
	}
	if !regexp.MustCompile(`state unusable`).Match(out) {
		t.Errorf("no warning about the unusable state:\n%s", out)
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
