// Package ops_test drives the real eidastatsd binary the way an operator
// runs it: under a (fake) systemd notification socket, scraped by
// Prometheus, configured by SeisComP's own files, reloaded with SIGHUP.
package ops_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eida/eidastatsd/internal/testbin"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var bin string

func TestMain(m *testing.M) {
	bin = testbin.MustBuild(testbin.Eidastatsd)
	os.Exit(testbin.Main(m))
}

// waitLimit bounds every wait; reaching it is a failure, never a result.
const waitLimit = 60 * time.Second

func abs(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// baseEnv is a clean environment: nothing of the test runner's leaks in
// (no token, no SEISCOMP_ROOT).
func baseEnv(home string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
}

// proc is one running daemon whose stderr goes to a file.
type proc struct {
	cmd  *exec.Cmd
	logf string
	done chan struct{}
	err  error
}

func start(t *testing.T, args []string, env []string, logFile string) *proc {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logf: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logf)
	return string(b)
}

// waitLog waits until the daemon's log matches re and returns the match.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.log()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.log()); m != nil {
				return m
			}
			t.Fatalf("daemon exited (%v) before logging %q; log:\n%s", p.err, re, p.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q in the daemon log; log:\n%s", re, p.log())
	return nil
}

// stop sends SIGTERM and requires exit status 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatalf("no exit after SIGTERM; log:\n%s", p.log())
	}
	if p.err != nil {
		t.Fatalf("exit after SIGTERM: %v; log:\n%s", p.err, p.log())
	}
}

var addrRE = regexp.MustCompile(`serving metrics.*addr"?[=:]"?(127\.0\.0\.1:\d+)`)

// metricsURL waits for the HTTP server and returns its /metrics URL.
func (p *proc) metricsURL(t *testing.T) string {
	return "http://" + p.waitLog(t, addrRE)[1] + "/metrics"
}

func scrapeText(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}

func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	return parseMetrics(t, scrapeText(t, url))
}

// value is the value of the series of family name with exactly labels
// (pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// sum adds every series of a counter or gauge family.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	var s float64
	for _, m := range fams[name].GetMetric() {
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return s
}

// waitMetric scrapes until cond holds and returns that scrape.
func waitMetric(t *testing.T, p *proc, url string, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		fams := scrape(t, url)
		if cond(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s; log:\n%s", what, p.log())
		}
		select {
		case <-p.done:
			t.Fatalf("daemon exited (%v) before %s; log:\n%s", p.err, what, p.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// notifySocket is a fake systemd notification socket.
type notifySocket struct {
	path string
	msgs chan string
	mu   sync.Mutex
	all  []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 100000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			m := string(buf[:k])
			n.mu.Lock()
			n.all = append(n.all, m)
			n.mu.Unlock()
			n.msgs <- m
		}
	}()
	return n
}

// next returns the next notification that is not a watchdog ping.
func (n *notifySocket) next(t *testing.T, p *proc) string {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatal("notification socket closed")
			}
			if m != "WATCHDOG=1" {
				return m
			}
		case <-timeout:
			t.Fatalf("no notification; log:\n%s", p.log())
		}
	}
}

// waitCount waits (bounded) until msg has arrived at least once.
func (n *notifySocket) waitCount(t *testing.T, p *proc, msg string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for n.count(msg) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %s; log:\n%s", msg, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *notifySocket) count(msg string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, m := range n.all {
		if m == msg {
			c++
		}
	}
	return c
}

// logLines reads a log file.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// daemonConfig is a configuration for a test run reading logPath.
func daemonConfig(t *testing.T, dir, logPath, extra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "eidastatsd.yaml")
	write(t, cfg, fmt.Sprintf(`log:
  path: %s
  poll_interval: 50ms
state_dir: %s
networks:
  registry: %s
http:
  listen: 127.0.0.1:0
%s`, logPath, filepath.Join(dir, "state"), abs(t, "../../testdata/fdsn-networks.json"), extra))
	return cfg
}

func copyLog(t *testing.T, dst string, extra ...string) {
	t.Helper()
	data, err := os.ReadFile("../../testdata/gfz-2020-09-18.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range extra {
		data = append(data, l+"\n"...)
	}
	write(t, dst, string(data))
}

func countOf(s, sub string) int { return strings.Count(s, sub) }
