// Package shipping tests the sender and the send command end to end against
// the fake central service on a real PostgreSQL with postgresql-hll.
package shipping

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eida/eidastatsd/pkg/clients"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/sender"
	"github.com/eida/eidastatsd/pkg/spool"
	"github.com/eida/eidastatsd/test/receiver"
)

const token = "e2e-token-9f8e7d"

type key struct{ month, network, station, location, channel, country string }

type total struct {
	bytes, req, ok, ko int64
	clients            *clients.Set
}

// expected sums payload rows the way the central service stores them.
func expected(t *testing.T, ps ...*payload.Payload) map[key]*total {
	t.Helper()
	m := map[key]*total{}
	for _, p := range ps {
		for _, r := range p.Stats {
			c := r.Country
			if len([]rune(c)) != 2 {
				c = ""
			}
			k := key{r.Month, r.Network, r.Station, r.Location, r.Channel, c}
			set, err := clients.Parse(r.Clients)
			if err != nil {
				t.Fatal(err)
			}
			tt := m[k]
			if tt == nil {
				tt = &total{clients: &clients.Set{}}
				m[k] = tt
			}
			tt.bytes += r.Bytes
			tt.req += r.NbRequests
			tt.ok += r.NbSuccessfulRequests
			tt.ko += r.NbUnsuccessfulRequests
			tt.clients.Union(set)
		}
	}
	return m
}

// checkDB compares the central table with want: counters, the HLL bytes
// (hll_union in SQL against clients.Union in Go) and hll_cardinality.
func checkDB(t *testing.T, db *pgxpool.Pool, want map[key]*total) {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT month::text, network, station, location, channel, country,
		bytes, nb_requests, nb_successful_requests, nb_unsuccessful_requests, clients::text, hll_cardinality(clients)
		FROM dataselect_stats`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k key
		var got total
		var hex string
		var card float64
		if err := rows.Scan(&k.month, &k.network, &k.station, &k.location, &k.channel, &k.country,
			&got.bytes, &got.req, &got.ok, &got.ko, &hex, &card); err != nil {
			t.Fatal(err)
		}
		n++
		w := want[k]
		if w == nil {
			t.Errorf("unexpected row %+v", k)
			continue
		}
		if got.bytes != w.bytes || got.req != w.req || got.ok != w.ok || got.ko != w.ko {
			t.Errorf("%+v: got %d/%d/%d/%d, want %d/%d/%d/%d", k, got.bytes, got.req, got.ok, got.ko, w.bytes, w.req, w.ok, w.ko)
		}
		if !strings.EqualFold(hex, w.clients.Hex()) {
			t.Errorf("%+v: clients %s, want %s", k, hex, w.clients.Hex())
		}
		if gc := float64(w.clients.Cardinality()); math.Abs(card-gc) > 1 {
			t.Errorf("%+v: hll_cardinality %v, Go %v", k, card, gc)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("%d rows stored, want %d", n, len(want))
	}
}

func reference(t *testing.T, name string) *payload.Payload {
	t.Helper()
	p, err := payload.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type rig struct {
	db   *pgxpool.Pool
	recv *receiver.Server
	sp   *spool.Spool
	s    *sender.Sender
	m    *sender.Metrics
	reg  *prometheus.Registry
	wake chan struct{}
	stop func()
}

func newRig(t *testing.T, o sender.Options) *rig {
	t.Helper()
	r := &rig{db: receiver.OpenTest(t), wake: make(chan struct{}, 1), reg: prometheus.NewRegistry()}
	r.recv = receiver.New(r.db, token)
	url, err := r.recv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.recv.Close)
	if r.sp, err = spool.Open(t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	o.URL = url
	if o.Token == "" {
		o.Token = token
	}
	o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	if o.TokenRefusedRetry == 0 {
		o.TokenRefusedRetry = 20 * time.Millisecond
	}
	o.Timeout = 30 * time.Second
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r.m = sender.NewMetrics(r.reg)
	r.s = sender.New(o, r.sp, r.m)
	return r
}

func (r *rig) enqueue(t *testing.T, ps ...*payload.Payload) {
	t.Helper()
	for i, p := range ps {
		name, err := spool.Name(p, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.sp.Enqueue(p, name); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.s.Run(ctx, r.wake) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
}

// waitFor polls cond; the limit only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) count(t *testing.T, dir string) int {
	ents, err := os.ReadDir(r.sp.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), spool.Ext) {
			n++
		}
	}
	return n
}

func TestReferencesDelivered(t *testing.T) {
	r := newRig(t, sender.Options{MaxRowsPerPayload: 3000})
	gfz, syn := reference(t, "gfz-2020-09-18.reference.json"), reference(t, "synthetic-3k.reference.json.gz")
	r.enqueue(t, gfz, syn)
	r.run(t)
	// gfz in one part, synthetic (8479 rows) in three.
	waitFor(t, "4 payloads delivered", func() bool { return r.count(t, spool.DirSent) == 4 })
	r.stop()
	// Both cover September 2020: shared keys are merged with hll_union.
	checkDB(t, r.db, expected(t, gfz, syn))
	if st := r.recv.Stats(); st.Ingested != 4 || st.Duplicates != 0 || st.IngestErrors != 0 {
		t.Errorf("receiver saw %+v", st)
	}
	if got := testutil.ToFloat64(r.m.TokenRefusedGauge()); got != 0 {
		t.Errorf("token_refused = %v", got)
	}
}

func TestFaults(t *testing.T) {
	r := newRig(t, sender.Options{MaxRowsPerPayload: 40})
	gfz := reference(t, "gfz-2020-09-18.reference.json") // 120 rows: 3 parts
	r.recv.Down()
	r.enqueue(t, gfz)
	r.run(t)
	waitFor(t, "retries while the service is down", func() bool {
		return testutil.ToFloat64(r.m.AttemptsCounter("retry", "0")) >= 5
	})
	r.recv.SetTokens("someone-else")
	r.recv.FailNext("", 503, 500, 503, 502)
	r.recv.LoseNext(1)
	if _, err := r.recv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "token refused", func() bool { return r.m.TokenRefused() })
	if r.count(t, spool.DirSent) != 0 {
		t.Fatal("delivered with a refused token")
	}
	r.recv.SetTokens(token)
	waitFor(t, "3 parts delivered", func() bool { return r.count(t, spool.DirSent) == 3 })
	r.stop()
	checkDB(t, r.db, expected(t, gfz))
	st := r.recv.Stats()
	if st.Injected != 4 || st.Lost != 1 || st.Duplicates != 1 || st.Ingested != 3 || st.IngestErrors != 0 || st.AuthRefused == 0 {
		t.Errorf("receiver saw %+v", st)
	}
	if r.m.TokenRefused() {
		t.Error("token still flagged refused after delivery")
	}
}

func TestPoisonedRowKeptOut(t *testing.T) {
	r := newRig(t, sender.Options{})
	gfz := reference(t, "gfz-2020-09-18.reference.json")
	bad := gfz.Stats[7]
	bad.Station = "TOOLNG"
	clean := *gfz
	gfz.Stats = append(gfz.Stats[:7:7], append([]payload.Row{bad}, gfz.Stats[7:]...)...)
	r.enqueue(t, gfz)
	r.run(t)
	waitFor(t, "delivery", func() bool { return r.count(t, spool.DirSent) == 1 })
	r.stop()
	checkDB(t, r.db, expected(t, &clean))
	if st := r.recv.Stats(); st.IngestErrors != 0 || st.Ingested != 1 {
		t.Errorf("receiver saw %+v", st)
	}
	ents, _ := os.ReadDir(r.sp.Dir(spool.DirRejected))
	if len(ents) != 1 {
		t.Fatalf("rejected/ holds %d files", len(ents))
	}
	raw, _ := os.ReadFile(filepath.Join(r.sp.Dir(spool.DirRejected), ents[0].Name()))
	if !strings.Contains(string(raw), `"TOOLNG"`) || !strings.Contains(string(raw), "6 characters") {
		t.Errorf("rejected file: %s", raw)
	}
}

// TestSendCommand runs the real binary's send command.
func TestSendCommand(t *testing.T) {
	db := receiver.OpenTest(t)
	recv := receiver.New(db, token)
	url, err := recv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	ref := filepath.Join("testdata", "synthetic-3k.reference.json.gz")
	env := append(os.Environ(), "TOKEN="+token)
	run := func(args ...string) (int, string) {
		t.Helper()
		return runSend(t, env, append([]string{"--send-to", url}, args...)...)
	}
	if code, out := run("--max-rows", "5000", ref); code != 0 || strings.Count(out, "delivered") != 2 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	checkDB(t, db, expected(t, reference(t, "synthetic-3k.reference.json.gz")))
	if code, out := run("--max-rows", "5000", ref); code != 0 || strings.Count(out, "already on the central service") != 2 {
		t.Errorf("resend: exit %d\n%s", code, out)
	}
	if code, out := run(); code != 2 {
		t.Errorf("no file: exit %d, want 2\n%s", code, out)
	}
	if code, out := run("--token", "wrong", ref); code != 1 || !strings.Contains(out, "refuses the token") {
		t.Errorf("wrong token: exit %d\n%s", code, out)
	}
}
