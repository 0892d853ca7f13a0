package daemon_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// The network registry answers 503 at the first start and there is no
// cached copy: the daemon waits without reading a line (not ready), the log
// rotates meanwhile, and once the registry answers everything is counted.
func TestRegistryUnavailableAtStart(t *testing.T) {
	seiscomp.RequireBzip2(t)
	body, err := os.ReadFile("../../testdata/fdsn-networks.json")
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !up.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	h := newHarness(t, opts{registry: srv.URL + "/fdsnws/networks/1/query", listen: true})
	lines := genLines(t, 51, 2, 300, "2024-10-01")
	for _, l := range lines[:100] {
		h.line(l)
	}
	off := h.startNoWait()
	waitFor(t, 30*time.Second, "two registry attempts", func() bool { return calls.Load() >= 2 })
	// The day rotates while the daemon waits.
	for _, l := range lines[100:400] {
		h.line(l)
	}
	code, ready := h.ready()
	if code == 200 || !strings.Contains(ready, "registry") {
		t.Errorf("/-/ready while the registry is unreachable: %d %q", code, ready)
	}
	if n := h.metric("eidastatsd_lines_read_total"); n != 0 {
		t.Errorf("%v lines read without a registry", n)
	}
	if b := readFile(t, h.dlog)[off:]; strings.Contains(b, "msg=reading") {
		t.Errorf("the daemon reads the log without a registry:\n%s", b)
	}
	if files, _ := filepath.Glob(filepath.Join(h.stateDir, "spool", "*")); len(files) > 0 {
		t.Errorf("payloads spooled without a registry: %v", files)
	}
	up.Store(true)
	h.waitLog(off, "msg=reading", 90*time.Second)
	for _, l := range lines[400:] {
		h.line(l)
	}
	if err := h.w.Wait(); err != nil {
		t.Fatal(err)
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	if code, ready := h.ready(); code != 200 {
		t.Errorf("/-/ready once the registry answers: %d %q", code, ready)
	}
	h.stop()
	t.Logf("%d registry requests (503 then 200), %d payloads: identical to the reference", calls.Load(), len(ps))
}

// SIGTERM saves the state and exits 0 within a few seconds, idle and in the
// middle of a large backlog; the restart then counts every line once.
func TestSIGTERM(t *testing.T) {
	h := newHarness(t, opts{noWriter: true})
	genLog(t, h.logPath, 52, 1, 100000, "2024-10-05")
	h.start() // reading: about 110 MB of backlog ahead
	busy := h.stop()
	s, err := loadState(filepath.Join(h.stateDir, "state.json"))
	if err != nil || s.Position == nil {
		t.Fatalf("no position saved at SIGTERM: %v", err)
	}
	size := fileSize(h.logPath)
	h.start()
	ref, _ := aggregate(t, h.logPath)
	ps := h.check(ref)
	idle := h.stop()
	t.Logf("SIGTERM during the backlog (at byte %d of %d): exit 0 after %v; idle: exit 0 after %v; %d payloads: identical to the reference",
		s.Position.Offset, size, busy.Round(time.Millisecond), idle.Round(time.Millisecond), len(ps))
	if busy > 10*time.Second || idle > 10*time.Second {
		t.Errorf("SIGTERM took %v (busy) / %v (idle)", busy, idle)
	}
}

// A busy day (1,000,000 requests, about 1.1 GB) already in the log when
// the daemon starts: peak RSS (VmHWM) stays well under 1 GiB and the result
// equals `aggregate`.
func TestMemoryBusyDay(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 lines: about 40 s")
	}
	h := newHarness(t, opts{noWriter: true, checkpointEvery: "10s"})
	genLog(t, h.logPath, 53, 1, 1000000, "2024-10-10")
	size := fileSize(h.logPath)
	t0 := time.Now()
	h.start()
	waitFor(t, 120*time.Second, "the day sealed", func() bool {
		h.alive()
		files, _ := filepath.Glob(filepath.Join(h.stateDir, "spool", "*.json.gz"))
		return len(files) > 0
	})
	took := time.Since(t0)
	hwm := vmHWM(t, h.d.cmd.Process.Pid)
	h.stop()
	ref, _ := aggregate(t, h.logPath)
	ps := h.check(ref)
	t.Logf("%d MB log, 1,000,000 lines: sealed after %v, peak RSS %d MiB, %d rows, %d payloads: identical to the reference",
		size>>20, took.Round(100*time.Millisecond), hwm>>20, len(ref.Stats), len(ps))
	if hwm >= 1<<30 {
		t.Errorf("peak RSS %d MiB, want well under 1 GiB", hwm>>20)
	}
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
