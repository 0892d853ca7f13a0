package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eida/eidastatsd/internal/paritytest"
	"github.com/eida/eidastatsd/internal/testbin"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/test/seiscomp"
)

// genlogBin is the log generator, built on first use.
var (
	genlogOnce sync.Once
	genlogBin  string
	genlogErr  error
)

// genLines returns the lines of a generated log (test/genlog), each with its
// finished time (the previous one for lines without a readable one).
func genLines(t *testing.T, seed, days, perDay int, start string) []seiscomp.Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.log")
	genLog(t, path, seed, days, perDay, start)
	return readPlain(t, path)
}

func genLog(t *testing.T, path string, seed, days, perDay int, start string) {
	t.Helper()
	genlogOnce.Do(func() {
		genlogBin, genlogErr = testbin.Build("github.com/eida/eidastatsd/test/genlog")
	})
	if genlogErr != nil {
		t.Fatal(genlogErr)
	}
	out, err := exec.Command(genlogBin, "-seed", strconv.Itoa(seed), "-days", strconv.Itoa(days),
		"-lines", strconv.Itoa(perDay), "-start", start, "-o", path).CombinedOutput()
	if err != nil {
		t.Fatalf("genlog: %v\n%s", err, out)
	}
}

func readPlain(t *testing.T, path string) []seiscomp.Record {
	t.Helper()
	rs, err := seiscomp.ReadRecords(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// harness is one daemon installation: a log directory written by a
// SeisComP-like writer, a state directory, and a copy of every byte written
// (ref) so that the reference aggregation sees exactly the same lines.
type harness struct {
	t        *testing.T
	dir      string
	logPath  string
	stateDir string
	cfg      string
	dlog     string // the daemon's own output (all runs)
	w        *seiscomp.Writer
	ref      *os.File
	d        *daemon
	metrics  string // http://addr of the running daemon, when listening
}

type opts struct {
	registry        string // default: testdata/fdsn-networks.json
	listen          bool   // serve /metrics on 127.0.0.1:0
	checkpointEvery string // default 1s
	noWriter        bool
}

func newHarness(t *testing.T, o opts) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, logPath: filepath.Join(dir, "log", "fdsnws-requests.log"),
		stateDir: filepath.Join(dir, "state"), dlog: filepath.Join(dir, "daemon.log")}
	if err := os.MkdirAll(filepath.Dir(h.logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	reg := o.registry
	if reg == "" {
		reg, _ = filepath.Abs("../../testdata/fdsn-networks.json")
	}
	listen := `""`
	if o.listen {
		listen = "127.0.0.1:0"
	}
	every := o.checkpointEvery
	if every == "" {
		every = "1s"
	}
	h.cfg = filepath.Join(dir, "eidastatsd.yaml")
	err := os.WriteFile(h.cfg, []byte(fmt.Sprintf(`log:
  path: %s
  poll_interval: 50ms
state_dir: %s
aggregation:
  checkpoint_every: %s
networks:
  registry: %s
  refresh: 24h
http:
  listen: %s
`, h.logPath, h.stateDir, every, reg, listen)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if h.ref, err = os.Create(filepath.Join(dir, "reference-input.log")); err != nil {
		t.Fatal(err)
	}
	if !o.noWriter {
		if h.w, err = seiscomp.NewWriter(h.logPath); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if h.d != nil {
			h.d.kill()
		}
		if h.w != nil {
			h.w.Close()
		}
		h.ref.Close()
	})
	return h
}

// line writes one complete line to the log and to the reference input.
func (h *harness) line(l seiscomp.Record) {
	h.t.Helper()
	if err := h.w.WriteLine(l.Data, l.Finished); err != nil {
		h.t.Fatal(err)
	}
	h.refWrite(append(append([]byte(nil), l.Data...), '\n'))
}

// raw writes bytes as they are (a fragment, a torn line).
func (h *harness) raw(b []byte) {
	h.t.Helper()
	if err := h.w.WriteRaw(b); err != nil {
		h.t.Fatal(err)
	}
	h.refWrite(b)
}

func (h *harness) refWrite(b []byte) {
	if _, err := h.ref.Write(b); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the daemon and waits until it reads the log (a first start
// reads only the live file: lines written before it opens the file and
// rotated away would not be part of its input).
func (h *harness) start() {
	h.t.Helper()
	off := h.startNoWait()
	h.waitLog(off, "msg=reading", 30*time.Second)
}

// waitLog waits for a pattern in the daemon's output after offset off.
func (h *harness) waitLog(off int64, pattern string, d time.Duration) {
	h.t.Helper()
	waitFor(h.t, d, pattern+" in the daemon log", func() bool {
		h.alive()
		b, _ := os.ReadFile(h.dlog)
		return int64(len(b)) >= off && bytes.Contains(b[off:], []byte(pattern))
	})
}

// startNoWait runs the daemon; with listen, it waits for its metrics
// address. It returns the offset of the daemon log at the start.
func (h *harness) startNoWait() int64 {
	h.t.Helper()
	var off int64
	if st, err := os.Stat(h.dlog); err == nil {
		off = st.Size()
	}
	h.d = start(h.t, h.cfg, h.dlog)
	h.metrics = ""
	if strings.Contains(readFile(h.t, h.cfg), "127.0.0.1:0") {
		re := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)
		waitFor(h.t, 30*time.Second, "metrics address in the daemon log", func() bool {
			b, _ := os.ReadFile(h.dlog)
			if int64(len(b)) < off {
				return false
			}
			if m := re.FindSubmatch(b[off:]); m != nil {
				h.metrics = "http://" + string(m[1])
				return true
			}
			return false
		})
	}
	return off
}

func (h *harness) kill() {
	h.d.kill()
	h.d = nil
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (h *harness) stop() time.Duration {
	t0 := time.Now()
	h.d.stop(h.t)
	h.d = nil
	return time.Since(t0)
}

// alive fails the test if the daemon exited by itself (a crash).
func (h *harness) alive() {
	h.t.Helper()
	if h.d == nil {
		return
	}
	if err := h.d.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		h.t.Fatalf("daemon is gone: %v\n%s", err, h.logTail())
	}
	var ws syscall.WaitStatus
	if pid, _ := syscall.Wait4(h.d.cmd.Process.Pid, &ws, syscall.WNOHANG, nil); pid != 0 {
		h.t.Fatalf("daemon exited by itself (%v)\n%s", ws, h.logTail())
	}
}

func (h *harness) logTail() string {
	b, _ := os.ReadFile(h.dlog)
	return tail(b)
}

// reference aggregates the reference input with `eidastatsd aggregate`.
func (h *harness) reference() (*payload.Payload, string) {
	h.t.Helper()
	if err := h.ref.Sync(); err != nil {
		h.t.Fatal(err)
	}
	return aggregate(h.t, h.ref.Name())
}

// aggregate runs `eidastatsd aggregate` on files and returns its payload and
// summary.
func aggregate(t *testing.T, files ...string) (*payload.Payload, string) {
	t.Helper()
	out := t.TempDir()
	reg, _ := filepath.Abs("../../testdata/fdsn-networks.json")
	args := append([]string{"aggregate", "--fdsn-networks", reg, "-o", out}, files...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("aggregate: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	files, _ = filepath.Glob(filepath.Join(out, "*.json.gz"))
	if len(files) != 1 {
		t.Fatalf("aggregate wrote %d files\n%s", len(files), stdout.String())
	}
	p, err := payload.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return p, stdout.String()
}

// check compares the union of the spooled payloads with ref, waiting up to
// a generous deadline for the daemon to ship everything.
func (h *harness) check(ref *payload.Payload) []*payload.Payload {
	h.t.Helper()
	ps := waitSettled(h.t, h.stateDir, ref)
	h.alive()
	diffs, err := paritytest.Diff([]*payload.Payload{ref}, ps)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(diffs) > 0 {
		if keep := os.Getenv("EIDASTATSD_TEST_KEEP"); keep != "" {
			exec.Command("cp", "-a", h.dir, keep).Run() // for debugging
		}
		h.t.Fatalf("%d payloads, %d differences with the reference, first %v\n%s", len(ps), len(diffs), diffs[:min(5, len(diffs))], h.logTail())
	}
	if got, want := paritytest.Days(ps...), paritytest.Days(ref); got != want {
		h.t.Errorf("days %s, want %s", got, want)
	}
	return ps
}

// savedState is the part of state.json the tests look at.
type savedState struct {
	Position *struct {
		File   string `json:"file"`
		Ino    uint64 `json:"ino"`
		Offset int64  `json:"offset"`
	} `json:"position"`
	Open map[string]json.RawMessage `json:"open"`
	Next map[string]int             `json:"next"`
}

func loadState(path string) (*savedState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("no header")
	}
	var s savedState
	if err := json.Unmarshal(b[nl+1:], &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// caughtUp waits until the checkpoint says the daemon read the live file to
// its end.
func (h *harness) caughtUp() {
	h.t.Helper()
	h.caughtUpBut(0)
}

// caughtUpBut waits until the checkpoint is pending bytes before the end of
// the live file (a partial last line).
func (h *harness) caughtUpBut(pending int64) {
	h.t.Helper()
	waitFor(h.t, 60*time.Second, "checkpoint at the end of the live file", func() bool {
		h.alive()
		st, err := os.Stat(h.logPath)
		if err != nil {
			return false
		}
		s, err := loadState(filepath.Join(h.stateDir, "state.json"))
		if err != nil || s.Position == nil {
			return false
		}
		return s.Position.Ino == st.Sys().(*syscall.Stat_t).Ino && s.Position.Offset == st.Size()-pending
	})
}

// metric reads one sample of the running daemon's /metrics (0 if absent).
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	resp, err := http.Get(h.metrics + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(l[len(name):]), 64)
			return v
		}
	}
	return 0
}

// ready returns the status and body of /-/ready.
func (h *harness) ready() (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.metrics + "/-/ready")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chattr +i / mount)")
	}
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }
