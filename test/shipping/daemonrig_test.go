package shipping

// Helpers for the end-to-end tests of the real daemon (daemon_test.go): a
// front server that puts the fake central service behind a fixed address
// that can go down and hold answers, the daemon process, its configuration,
// the request log and the checks against the reference.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eida/eidastatsd/internal/paritytest"
	"github.com/eida/eidastatsd/internal/testbin"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/spool"
	"github.com/eida/eidastatsd/test/receiver"
	"github.com/eida/eidastatsd/test/seiscomp"
)

// TestMain removes the binaries daemonBinary built.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// daemonBinary builds the real eidastatsd once per test binary.
func daemonBinary(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Build(testbin.Eidastatsd)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runSend runs `eidastatsd send ARGS...` with env and returns its exit code
// and output, failing the test if the token shows up in the output.
func runSend(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(daemonBinary(t), append([]string{"send"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), token) {
		t.Errorf("token in the output")
	}
	return code, string(out)
}

// hit is one request the front saw.
type hit struct {
	at     time.Time
	status int // 0: the answer was lost or the client went away
}

// front serves the fake central service on a fixed 127.0.0.1 address. It
// can go down (connection refused) and hold requests before or after the
// service commits them. The service runs each request detached from the
// client's connection, like the real (WSGI) service, which finishes its
// transaction even when the client is gone.
type front struct {
	recv *receiver.Server

	mu   sync.Mutex
	addr string
	srv  *http.Server
	hits []hit
	hold string // "", "before" or "after": hold a request there
	skip int    // requests to let through before holding one
	cur  *holding
}

// holding is one hold: held is closed once a request is held, unhold to let
// it go on; drop (set before unhold is closed) drops a request held before
// the service instead of forwarding it.
type holding struct {
	held, unhold chan struct{}
	drop         bool
}

func newFront(t *testing.T, recv *receiver.Server) *front {
	f := &front{recv: recv}
	if err := f.up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.down)
	return f
}

func (f *front) url() string { return "http://" + f.addr + receiver.SubmitPath }

func (f *front) up() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f.addr = ln.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go f.srv.Serve(ln) //nolint:errcheck // ends with Close
	return nil
}

func (f *front) down() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	if f.cur != nil {
		f.cur.drop = true
		close(f.cur.unhold)
		f.hold, f.cur = "", nil
	}
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// holdNext lets skip requests through, then holds the next one before or
// after the service handles it; the returned channel is closed once a
// request is held. release lets it go on; a request held "before" is then
// dropped (it never reaches the service) when drop is set.
func (f *front) holdNext(where string, skip int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.skip = where, skip
	f.cur = &holding{held: make(chan struct{}), unhold: make(chan struct{})}
	return f.cur.held
}

func (f *front) release(drop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.drop = drop
		close(f.cur.unhold)
		f.hold, f.cur = "", nil
	}
}

func (f *front) hitsSoFar() []hit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hit(nil), f.hits...)
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	f.mu.Lock()
	where, h := f.hold, f.cur
	switch {
	case where == "":
	case f.skip > 0:
		f.skip--
		where = ""
	default:
		f.hold = "" // one request only
	}
	f.mu.Unlock()
	wait := func() {
		close(h.held)
		<-h.unhold
	}
	if where == "before" {
		wait()
		f.mu.Lock()
		drop := h.drop
		f.mu.Unlock()
		if drop {
			f.mu.Lock()
			f.hits = append(f.hits, hit{at, 0})
			f.mu.Unlock()
			panic(http.ErrAbortHandler)
		}
	}
	rec := httptest.NewRecorder()
	lost := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
					panic(v)
				}
				lost = true
			}
		}()
		f.recv.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	}()
	if where == "after" {
		wait()
	}
	status := rec.Code
	if lost || r.Context().Err() != nil {
		status = 0
	}
	f.mu.Lock()
	f.hits = append(f.hits, hit{at, status})
	f.mu.Unlock()
	if lost {
		panic(http.ErrAbortHandler)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// proc is one run of the daemon.
type proc struct {
	cmd     *exec.Cmd
	out     *os.File
	outPath string
	done    chan struct{}
}

func startDaemon(t *testing.T, cfg, outPath string, env ...string) *proc {
	t.Helper()
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(daemonBinary(t), "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, outPath: outPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.kill()
		}
	})
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.out.Close()
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if !p.cmd.ProcessState.Success() {
			t.Errorf("daemon exit after SIGTERM: %v", p.cmd.ProcessState)
		}
	case <-time.After(60 * time.Second):
		p.kill()
		t.Error("daemon did not stop within 60s of SIGTERM")
	}
	p.out.Close()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

var listenRE = regexp.MustCompile(`msg="serving metrics" addr=(127\.0\.0\.1:\d+)`)

// httpAddr waits for the daemon's log line naming its HTTP address and
// returns the last one (the current run's).
func (p *proc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, "the daemon's HTTP address", func() bool {
		if p.exited() {
			t.Fatalf("daemon exited:\n%s", p.output(t))
		}
		b, _ := os.ReadFile(p.outPath)
		ms := listenRE.FindAllSubmatch(b, -1)
		if len(ms) == 0 {
			return false
		}
		// Only this run's line: after the last "=== start".
		if i := strings.LastIndex(string(b), "=== start"); i > strings.LastIndex(string(b), string(ms[len(ms)-1][0])) {
			return false
		}
		addr = string(ms[len(ms)-1][1])
		return true
	})
	return addr
}

// waitFollowing waits until the daemon reads the log.
func (p *proc) waitFollowing(t *testing.T) {
	t.Helper()
	waitFor(t, "the daemon to follow the log", func() bool {
		if p.exited() {
			t.Fatalf("daemon exited:\n%s", p.output(t))
		}
		b, _ := os.ReadFile(p.outPath)
		i := bytes.LastIndex(b, []byte("=== start"))
		return bytes.Contains(b[i:], []byte("msg=reading "))
	})
}

func (p *proc) output(t *testing.T) string {
	b, _ := os.ReadFile(p.outPath)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// daemonConfig is what a test varies in the configuration.
type daemonConfig struct {
	url               string
	tokenFile         string
	minBackoff        string
	maxBackoff        string
	tokenRefusedRetry string
	maxRows           int
	listen            bool
	// backfill is log.backfill_since: a first start reads the rotated files
	// from this day on (needed when the log was written before the start).
	backfill string
}

// env is one daemon test's folders.
type env struct {
	dir, logPath, stateDir, cfg, out string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	e := &env{dir: dir, logPath: filepath.Join(dir, "log", "fdsnws-requests.log"), stateDir: filepath.Join(dir, "state"),
		cfg: filepath.Join(dir, "eidastatsd.yaml"), out: filepath.Join(dir, "daemon.out")}
	if err := os.MkdirAll(filepath.Dir(e.logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) writeConfig(t *testing.T, c daemonConfig) {
	t.Helper()
	reg, err := filepath.Abs("../../testdata/fdsn-networks.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.minBackoff == "" {
		c.minBackoff = "20ms"
	}
	if c.maxBackoff == "" {
		c.maxBackoff = "200ms"
	}
	if c.tokenRefusedRetry == "" {
		c.tokenRefusedRetry = "300ms"
	}
	if c.maxRows == 0 {
		c.maxRows = 50000
	}
	listen := `""`
	if c.listen {
		listen = "127.0.0.1:0"
	}
	y := fmt.Sprintf(`log:
  path: %s
  poll_interval: 50ms
  backfill_since: "%s"
state_dir: %s
aggregation:
  grace: 0s
  checkpoint_every: 1s
networks:
  registry: %s
central:
  url: %s
  token_file: %s
  min_backoff: %s
  max_backoff: %s
  token_refused_retry: %s
  max_rows_per_payload: %d
  timeout: 60s
http:
  listen: %s
logging:
  level: debug
`, e.logPath, c.backfill, e.stateDir, reg, c.url, c.tokenFile, c.minBackoff, c.maxBackoff, c.tokenRefusedRetry, c.maxRows, listen)
	if err := os.WriteFile(e.cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readLog returns the lines of a request log with the time each was
// written (its finished time, never decreasing, so that malformed lines
// stay in their day's file).
func readLog(t *testing.T, path string) []seiscomp.Record {
	t.Helper()
	rs, err := seiscomp.ReadRecords(path, time.Date(2020, 9, 29, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// writeLog writes lines the way SeisComP does, rotating at each new UTC
// day and compressing rotated files with bzip2.
func (e *env) writeLog(t *testing.T, lines []seiscomp.Record) { e.writeLogWith(t, lines, nil) }

// writeLogWith calls afterFirst (e.g. to start the daemon and wait until it
// follows the file) once the first line is written.
func (e *env) writeLogWith(t *testing.T, lines []seiscomp.Record, afterFirst func()) {
	t.Helper()
	seiscomp.RequireBzip2(t)
	w, err := seiscomp.NewWriter(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if err := w.WriteLine(l.Data, l.Finished); err != nil {
			t.Fatal(err)
		}
		if i == 0 && afterFirst != nil {
			afterFirst()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rotations() != 2 {
		t.Fatalf("%d rotations, want 2 (3 days)", w.Rotations())
	}
}

func synthetic(t *testing.T) (*payload.Payload, []seiscomp.Record) {
	return reference(t, "synthetic-3k.reference.json.gz"), readLog(t, "../../testdata/synthetic-3k.log.bz2")
}

// payloads reads every payload file in one spool folder (a file that
// moves away meanwhile is left out).
func payloads(t *testing.T, stateDir, dir string) []*payload.Payload {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(stateDir, dir, "*"+spool.Ext))
	if err != nil {
		t.Fatal(err)
	}
	var ps []*payload.Payload
	for _, f := range files {
		p, err := payload.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // moved on (sent, split) since the listing
		}
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// same reports whether ps merge to exactly ref.
func same(t *testing.T, ref *payload.Payload, ps []*payload.Payload) bool {
	t.Helper()
	d, err := paritytest.Diff([]*payload.Payload{ref}, ps)
	if err != nil {
		t.Fatal(err)
	}
	return len(d) == 0
}

// waitDelivered waits until spool/ is empty and sent/ merges to ref.
func waitDelivered(t *testing.T, p *proc, stateDir string, ref *payload.Payload) {
	t.Helper()
	deadline := time.Now().Add(100 * time.Second)
	for {
		if len(payloads(t, stateDir, spool.DirSpool)) == 0 && same(t, ref, payloads(t, stateDir, spool.DirSent)) {
			return
		}
		if p != nil && p.exited() {
			t.Fatalf("daemon exited:\n%s", p.output(t))
		}
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.output(t)
			}
			t.Fatalf("gave up waiting for delivery: spool %d, sent %d files\n%s", len(payloads(t, stateDir, spool.DirSpool)),
				len(payloads(t, stateDir, spool.DirSent)), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDBParity compares the central table with the merged reference
// (internal/paritytest): counters, the hll bytes as PostgreSQL prints them
// and hll_cardinality.
func checkDBParity(t *testing.T, db *pgxpool.Pool, ref ...*payload.Payload) {
	t.Helper()
	m, err := paritytest.Merge(ref...)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[key]*total, len(m))
	for k, r := range m {
		want[key{k.Month, k.Network, k.Station, k.Location, k.Channel, k.Country}] = &total{r.Bytes, r.Req, r.OK, r.Fail, r.Clients}
	}
	checkDB(t, db, want)
}

// metrics fetches /metrics and returns the value of each unlabelled or
// labelled series by its full text name.
func metrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

// ready fetches /-/ready.
func ready(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// noSecrets fails when a token shows up in the daemon's output.
func noSecrets(t *testing.T, outPath string, secrets ...string) {
	t.Helper()
	b, err := os.ReadFile(outPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Errorf("a token appears in the daemon's log")
		}
	}
}

func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}
