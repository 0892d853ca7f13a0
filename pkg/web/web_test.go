package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startServer runs the real handler on a real loopback socket.
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + srv.Addr().String()
}

func get(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func newTestHandler(t *testing.T) (http.Handler, *Readiness, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "0.1.0", "abc123"); err != nil {
		t.Fatal(err)
	}
	if err := RegisterRuntime(reg); err != nil {
		t.Fatal(err)
	}
	ready, err := NewReadiness(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Options{Gatherer: reg, NotReady: ready.NotReady, Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	return h, ready, reg
}

func TestEndpoints(t *testing.T) {
	h, ready, _ := newTestHandler(t)
	base := startServer(t, h)

	type cond struct {
		name, reason string
		ok           bool
	}
	tests := []struct {
		name       string
		conds      []cond
		method     string
		path       string
		wantStatus int
		wantBody   []string
		notBody    []string
	}{
		{"healthy", nil, "GET", "/-/healthy", 200, []string{"healthy"}, nil},
		{"healthy HEAD", nil, "HEAD", "/-/healthy", 200, nil, nil},
		{"healthy while not ready", []cond{{"log", "not caught up with the log", false}}, "GET", "/-/healthy", 200, nil, nil},
		{"ready", []cond{{"log", "", true}}, "GET", "/-/ready", 200, []string{"is ready"}, nil},
		{"not ready, reasons listed in name order",
			[]cond{{"token", "central service refuses the token", false}, {"log", "not caught up with the log", false}, {"state", "", true}},
			"GET", "/-/ready", 503,
			[]string{"not ready:\n- not caught up with the log\n- central service refuses the token\n"},
			[]string{"state"}},
		{"recovers", []cond{{"log", "", true}, {"token", "", true}}, "GET", "/-/ready", 200, []string{"is ready"}, []string{"token"}},
		{"metrics", nil, "GET", "/metrics", 200, []string{`eidastatsd_build_info{goversion="go`, `eidastatsd_ready 1`, "go_goroutines", "process_"}, nil},
		{"metrics follow readiness", []cond{{"state", "state directory not writable", false}}, "GET", "/metrics", 200, []string{"eidastatsd_ready 0"}, nil},
		{"index", nil, "GET", "/", 200, []string{`href="metrics"`, "version 0.1.0"}, nil},
		{"unknown path", nil, "GET", "/nope", 404, nil, nil},
		{"wrong method", nil, "POST", "/-/ready", 405, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.conds {
				ready.Set(c.name, c.ok, c.reason)
			}
			status, body, _ := get(t, tt.method, base+tt.path)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body:\n%s", status, tt.wantStatus, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.notBody {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "1.2.3", "deadbeef"); err != nil {
		t.Fatal(err)
	}
	want := `# HELP eidastatsd_build_info A metric with a constant '1' value labeled by version, revision and goversion from which eidastatsd was built.
# TYPE eidastatsd_build_info gauge
eidastatsd_build_info{goversion="` + goVersion() + `",revision="deadbeef",version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eidastatsd_build_info"); err != nil {
		t.Error(err)
	}
	if err := RegisterBuildInfo(reg, "1.2.3", "deadbeef"); err == nil {
		t.Error("second registration did not fail")
	}
}

func TestReadinessGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := NewReadiness(reg)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, reason string
		ok           bool
		want         float64
		reasons      int
	}{
		{"log", "starting", false, 0, 1},
		{"token", "", false, 0, 2}, // empty reason falls back to the name
		{"log", "", true, 0, 1},
		{"token", "", true, 1, 0},
	}
	for i, s := range steps {
		r.Set(s.name, s.ok, s.reason)
		if got := testutil.ToFloat64(collectorOf(t, reg)); got != s.want {
			t.Errorf("step %d: eidastatsd_ready = %v, want %v", i, got, s.want)
		}
		if got := r.NotReady(); len(got) != s.reasons {
			t.Errorf("step %d: reasons %q, want %d", i, got, s.reasons)
		}
	}
	if got := r.NotReady(); len(got) != 0 {
		t.Errorf("reasons left: %q", got)
	}
	r.Set("token", false, "")
	if got := r.NotReady(); len(got) != 1 || got[0] != "token" {
		t.Errorf("empty reason: got %q, want [token]", got)
	}
}

// collectorOf wraps the registry so testutil.ToFloat64 reads eidastatsd_ready.
func collectorOf(t *testing.T, g prometheus.Gatherer) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eidastatsd_ready" {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
		}
	}
	t.Fatal("eidastatsd_ready not gathered")
	return nil
}

func TestNewHandlerRequiresGatherer(t *testing.T) {
	if _, err := NewHandler(Options{}); err == nil {
		t.Fatal("no error without Gatherer")
	}
}

func TestListenAddressInUse(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", http.NotFoundHandler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.ln.Close()
	if _, err := Listen(srv.Addr().String(), http.NotFoundHandler(), nil); err == nil {
		t.Fatal("second Listen on the same address succeeded")
	}
}

// TestGracefulShutdown checks that a request in flight when the context is
// cancelled still gets its full answer.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	srv, err := Listen("127.0.0.1:0", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + srv.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: body %q, err %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + srv.Addr().String() + "/"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

// TestPromtoolCheckMetrics lints the real /metrics output with promtool.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found; CI must install the Debian package prometheus")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	h, ready, _ := newTestHandler(t)
	ready.Set("log", false, "starting")
	base := startServer(t, h)
	status, body, _ := get(t, "GET", base+"/metrics")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Fatalf("promtool check metrics failed: %v\n%s", err, out.String())
	}
}
