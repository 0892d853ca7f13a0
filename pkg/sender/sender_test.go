package sender

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/spool"
)

const token = "s3cr3t-T0KEN-never-logged"

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   Outcome
	}{
		{200, "Statistic successfully ingested to database!", Delivered},
		{201, "", Delivered},
		{400, "This statistic already exists on the server. Refusing to merge", AlreadyThere},
		{400, "Bad request: missing key", Failed},
		{401, "", TokenRefused},
		{403, "", TokenRefused},
		{404, "", Failed},
		{408, "", Retry},
		{413, "", Failed},
		{429, "", Retry},
		{500, "Error on statistics ingestion: row 3", Failed},
		{500, "Internal Server Error", Retry},
		{502, "", Retry},
		{503, "", Retry},
		{504, "", Retry},
	}
	for _, tt := range tests {
		if got := classify(tt.status, tt.body).outcome; got != tt.want {
			t.Errorf("classify(%d, %q) = %v, want %v", tt.status, tt.body, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 120 * time.Second},
		{" 5 ", 5 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{"999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

// logBuf collects every test's logs to check that the token never shows.
var (
	logMu  sync.Mutex
	logAll bytes.Buffer
)

type syncWriter struct{}

func (syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return logAll.Write(p)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if strings.Contains(logAll.String(), token) {
		os.Stderr.WriteString("FAIL: the token appeared in the logs\n")
		code = 1
	}
	if logAll.Len() == 0 {
		os.Stderr.WriteString("FAIL: no logs collected: the token check is void\n")
		code = 1
	}
	os.Exit(code)
}

func row(sta string) payload.Row {
	return payload.Row{Month: "2020-09-01", Network: "FR", Station: sta, Location: "00", Channel: "HHZ",
		Country: "FR", Bytes: 100, NbRequests: 1, NbSuccessfulRequests: 1, Clients: `\x118B7F`}
}

func pay(stations ...string) *payload.Payload {
	p := &payload.Payload{GeneratedAt: "2020-09-19 00:00:00", Version: "test", DaysCoverage: []string{"2020-09-18"}}
	for _, s := range stations {
		p.Stats = append(p.Stats, row(s))
	}
	return p
}

// script is a real HTTP handler answering from a list and recording bodies.
type script struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  [][]byte
	headers []http.Header
	times   []time.Time
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, b)
	s.headers = append(s.headers, r.Header.Clone())
	s.times = append(s.times, time.Now())
	var a func(http.ResponseWriter)
	if len(s.answers) > 0 {
		a, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if a == nil {
		io.WriteString(w, "Statistic successfully ingested to database!")
		return
	}
	a(w)
}

func status(code int, body string, hdr ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func newSender(t *testing.T, url string, client *http.Client, o Options) (*Sender, *spool.Spool, *prometheus.Registry) {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o.URL, o.Token, o.Client = url, token, client
	o.Logger = slog.New(slog.NewTextHandler(syncWriter{}, nil)).With("test", t.Name())
	o.Jitter = func() float64 { return 0.5 }
	return New(o, sp, NewMetrics(reg)), sp, reg
}

func files(t *testing.T, sp *spool.Spool, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(sp.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestDrainAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(http.ResponseWriter)
		dir       string // where the payload ends up
		wait      bool
		refused   float64
		delivered float64
		failed    float64
	}{
		{"200", nil, spool.DirSent, false, 0, 1, 0},
		{"ingestion error", status(500, "Error on statistics ingestion: bad row"), spool.DirFailed, false, 0, 0, 1},
		{"teapot", status(418, "no"), spool.DirFailed, false, 0, 0, 1},
		{"exists without our attempt", status(400, "This statistic already exists on the server. Refusing to merge"), spool.DirFailed, false, 0, 0, 1},
		{"403", status(403, "Token not valid"), spool.DirSpool, true, 1, 0, 0},
		{"401", status(401, "Missing"), spool.DirSpool, true, 1, 0, 0},
		{"503", status(503, "busy"), spool.DirSpool, true, 0, 0, 0},
		{"429", status(429, "slow down"), spool.DirSpool, true, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &script{answers: []func(http.ResponseWriter){tt.answer}}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			s, sp, reg := newSender(t, srv.URL+"/submit", srv.Client(), Options{})
			p := pay("A", "B")
			if _, err := sp.Enqueue(p, "2020-09-18_000001_x.json.gz"); err != nil {
				t.Fatal(err)
			}
			failures := 0
			wait, err := s.drain(context.Background(), &failures)
			if err != nil {
				t.Fatal(err)
			}
			if (wait > 0) != tt.wait {
				t.Errorf("wait = %v, want waiting=%v", wait, tt.wait)
			}
			if got := files(t, sp, tt.dir); len(got) == 0 || got[0] != "2020-09-18_000001_x.json.gz" {
				t.Errorf("%s/ holds %v", tt.dir, got)
			}
			if tt.dir == spool.DirFailed {
				raw, err := os.ReadFile(filepath.Join(sp.Dir(spool.DirFailed), "2020-09-18_000001_x.json.gz.answer.json"))
				if err != nil || !bytes.Contains(raw, []byte(`"status"`)) {
					t.Errorf("answer file: %v %s", err, raw)
				}
				if bytes.Contains(raw, []byte(token)) {
					t.Error("token in the answer file")
				}
			}
			if got := testutil.ToFloat64(s.m.tokenRefused); got != tt.refused {
				t.Errorf("token_refused = %v, want %v", got, tt.refused)
			}
			if got := testutil.ToFloat64(s.m.delivered); got != tt.delivered {
				t.Errorf("delivered = %v, want %v", got, tt.delivered)
			}
			if got := testutil.ToFloat64(s.m.failed); got != tt.failed {
				t.Errorf("failed = %v, want %v", got, tt.failed)
			}
			if n, err := testutil.GatherAndCount(reg, "eidastatsd_send_attempts_total"); err != nil || n != 1 {
				t.Errorf("send_attempts series = %d, %v", n, err)
			}
			// The request itself.
			h := sc.headers[0]
			if h.Get("Authentication") != "Bearer "+token || h.Get("Authorization") != "" ||
				h.Get("Content-Type") != "application/json" || h.Get("Content-Encoding") != "" {
				t.Errorf("headers %v", h)
			}
			want, _ := p.Marshal()
			if !bytes.Equal(sc.bodies[0], want) {
				t.Errorf("body %s, want %s", sc.bodies[0], want)
			}
		})
	}
}

func TestRejectAndSplitPersisted(t *testing.T) {
	sc := &script{answers: []func(http.ResponseWriter){status(503, "busy")}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	s, sp, reg := newSender(t, srv.URL, srv.Client(), Options{MaxRowsPerPayload: 2})
	p := pay("E", "TOOLNG", "D", "C", "B", "A")
	p.Stats[3].Month = "2020-09-18"
	if _, err := sp.Enqueue(p, "2020-09-18_000001_x.json.gz"); err != nil {
		t.Fatal(err)
	}
	failures := 0
	if wait, err := s.drain(context.Background(), &failures); err != nil || wait == 0 {
		t.Fatalf("drain = %v, %v; want a wait after 503", wait, err)
	}
	// Rows A,B,D,E valid, split in two sorted parts that replaced the original.
	want := []string{"2020-09-18_000001_x.p001.json.gz", "2020-09-18_000001_x.p001.json.gz.attempt", "2020-09-18_000001_x.p002.json.gz"}
	if got := files(t, sp, spool.DirSpool); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("spool/ = %v, want %v", got, want)
	}
	rej := files(t, sp, spool.DirRejected)
	if len(rej) != 1 {
		t.Fatalf("rejected/ = %v", rej)
	}
	raw, _ := os.ReadFile(filepath.Join(sp.Dir(spool.DirRejected), rej[0]))
	if !bytes.Contains(raw, []byte(`"TOOLNG"`)) || !bytes.Contains(raw, []byte(`"bad_month"`)) {
		t.Errorf("rejected file: %s", raw)
	}
	if got := testutil.ToFloat64(s.m.rejected.WithLabelValues("too_long")); got != 1 {
		t.Errorf("rows_rejected_total{too_long} = %v", got)
	}
	_ = reg

	if _, err := s.drain(context.Background(), &failures); err != nil {
		t.Fatal(err)
	}
	if len(sc.bodies) != 3 || !bytes.Equal(sc.bodies[0], sc.bodies[1]) || bytes.Equal(sc.bodies[1], sc.bodies[2]) {
		t.Fatalf("bodies: retry must be identical, parts differ: %q", sc.bodies)
	}
	if !bytes.Contains(sc.bodies[0], []byte(`"station":"A"`)) || !bytes.Contains(sc.bodies[2], []byte(`"station":"E"`)) ||
		bytes.Contains(sc.bodies[2], []byte("TOOLNG")) {
		t.Errorf("parts not split in key order: %s | %s", sc.bodies[0], sc.bodies[2])
	}
	if got := files(t, sp, spool.DirSent); len(got) != 2 {
		t.Errorf("sent/ = %v", got)
	}
}

func TestAllRowsRejected(t *testing.T) {
	sc := &script{}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	s, sp, _ := newSender(t, srv.URL, srv.Client(), Options{})
	if _, err := sp.Enqueue(pay("TOOLNG"), "a.json.gz"); err != nil {
		t.Fatal(err)
	}
	failures := 0
	if _, err := s.drain(context.Background(), &failures); err != nil {
		t.Fatal(err)
	}
	if len(sc.bodies) != 0 || len(files(t, sp, spool.DirSpool)) != 0 || len(files(t, sp, spool.DirRejected)) != 1 {
		t.Errorf("sent %d, spool %v, rejected %v", len(sc.bodies), files(t, sp, spool.DirSpool), files(t, sp, spool.DirRejected))
	}
}

func TestLostAnswerThenExists(t *testing.T) {
	sc := &script{answers: []func(http.ResponseWriter){
		func(http.ResponseWriter) { panic(http.ErrAbortHandler) },
		status(400, "This statistic already exists on the server. Refusing to merge"),
	}}
	srv := httptest.NewServer(sc)
	srv.Config.ErrorLog = nil
	defer srv.Close()
	s, sp, _ := newSender(t, srv.URL, srv.Client(), Options{})
	sp.Enqueue(pay("A"), "a.json.gz")
	failures := 0
	if w, _ := s.drain(context.Background(), &failures); w == 0 {
		t.Fatal("lost answer not retried")
	}
	if w, _ := s.drain(context.Background(), &failures); w != 0 {
		t.Fatal("already exists after our attempt not taken as delivered")
	}
	if got := files(t, sp, spool.DirSent); len(got) != 1 {
		t.Errorf("sent/ = %v", got)
	}
}

// pipeNet is an in-memory network for synctest: a real http.Server serves
// over net.Pipe connections, which block durably inside a bubble.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeNet() *pipeNet { return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})} }

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}
func (p *pipeNet) Close() error   { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (p *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case p.conns <- b:
		return a, nil
	case <-p.done:
		return nil, &net.OpError{Op: "dial", Err: net.ErrClosed}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runBubble runs the sender's daemon loop against sc in fake time until the
// spool is empty, and returns the request times relative to the start.
func runBubble(t *testing.T, sc *script, o Options, check func(s *Sender)) []time.Duration {
	var rel []time.Duration
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet()
		srv := &http.Server{Handler: sc}
		go srv.Serve(pn)
		tr := &http.Transport{DialContext: pn.dial}
		s, sp, _ := newSender(t, "http://central.test/submit", &http.Client{Transport: tr}, o)
		start := time.Now()
		sp.Enqueue(pay("A"), "a.json.gz")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx, nil) }()
		for {
			synctest.Wait()
			if len(files(t, sp, spool.DirSent)) == 1 {
				break
			}
			if check != nil {
				check(s)
			}
			time.Sleep(time.Second)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		for _, at := range sc.times {
			rel = append(rel, at.Sub(start))
		}
		tr.CloseIdleConnections()
		srv.Close()
		pn.Close()
	})
	return rel
}

func TestRunBackoff(t *testing.T) {
	tests := []struct {
		name    string
		answers []func(http.ResponseWriter)
		want    []time.Duration // request times, whole seconds
	}{
		// MinBackoff 10s doubling, jitter fixed at the middle (0.75 of the step).
		{"exponential", []func(http.ResponseWriter){status(503, ""), status(502, ""), status(500, "oops"), status(408, "")},
			[]time.Duration{0, 7, 22, 52, 97}},
		{"capped", []func(http.ResponseWriter){status(503, ""), status(503, ""), status(503, ""), status(503, ""), status(503, ""), status(503, "")},
			[]time.Duration{0, 7, 22, 52, 97, 142, 187}},
		{"retry-after seconds", []func(http.ResponseWriter){status(503, "", "Retry-After", "120")},
			[]time.Duration{0, 120}},
		{"retry-after date", []func(http.ResponseWriter){status(429, "", "Retry-After", time.Date(2000, 1, 1, 0, 5, 0, 0, time.UTC).Format(http.TimeFormat))},
			[]time.Duration{0, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &script{answers: tt.answers}
			got := runBubble(t, sc, Options{MinBackoff: 10 * time.Second, MaxBackoff: 60 * time.Second}, nil)
			if len(got) != len(tt.want) {
				t.Fatalf("request times %v, want %v s", got, tt.want)
			}
			for i := range got {
				if got[i].Truncate(time.Second) != tt.want[i]*time.Second {
					t.Fatalf("request times %v, want %v s", got, tt.want)
				}
			}
		})
	}
}

func TestRunTokenRefused(t *testing.T) {
	sc := &script{answers: []func(http.ResponseWriter){status(403, "Token not valid"), status(401, "")}}
	var sawRefused bool
	got := runBubble(t, sc, Options{TokenRefusedRetry: 10 * time.Minute}, func(s *Sender) {
		if s.m.TokenRefused() && testutil.ToFloat64(s.m.tokenRefused) == 1 {
			sawRefused = true
		}
	})
	if len(got) != 3 || got[1].Truncate(time.Second) != 10*time.Minute || got[2].Truncate(time.Second) != 20*time.Minute {
		t.Fatalf("request times %v, want 0, 10m, 20m", got)
	}
	if !sawRefused {
		t.Error("token_refused never 1 while refused")
	}
}
