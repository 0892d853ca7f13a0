package shipping

// End-to-end tests of the real daemon (`eidastatsd run`) shipping to the
// fake central service on PostgreSQL+hll: every finished day reaches the
// service exactly once, through outages, error bursts, lost answers, a
// refused token, kill -9 and a poisoned row.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eida/eidastatsd/internal/paritytest"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/spool"
	"github.com/eida/eidastatsd/test/receiver"
	"github.com/eida/eidastatsd/test/seiscomp"
)

const synthDays = "2020-09-29,2020-09-30,2020-10-01"

// drig is one daemon test: folders, the service behind a front, the
// reference.
type drig struct {
	*env
	db    *pgxpool.Pool
	recv  *receiver.Server
	fr    *front
	ref   *payload.Payload
	lines []seiscomp.Record
	tok   string // path of the token file
}

func newDrig(t *testing.T, tokens ...string) *drig {
	t.Helper()
	e := newEnv(t)
	db := receiver.OpenTest(t)
	if len(tokens) == 0 {
		tokens = []string{token}
	}
	recv := receiver.New(db, tokens...)
	ref, lines := synthetic(t)
	r := &drig{env: e, recv: recv, fr: newFront(t, recv), ref: ref, lines: lines, tok: filepath.Join(e.dir, "token")}
	r.db = db
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(e.out)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("daemon output (tail):\n%s", b)
		}
	})
	return r
}

// finalChecks: the table equals the reference, every POST the service
// stored is one payload in sent/, nothing is left, failed or doubled.
func (r *drig) finalChecks(t *testing.T, wantDuplicates int) {
	t.Helper()
	checkDBParity(t, r.db, r.ref)
	sent := payloads(t, r.stateDir, spool.DirSent)
	if !same(t, r.ref, sent) {
		t.Error("sent/ does not merge to the reference")
	}
	if got := paritytest.Days(sent...); got != synthDays {
		t.Errorf("days delivered %s, want %s", got, synthDays)
	}
	st := r.recv.Stats()
	if st.Ingested != len(sent) || st.IngestErrors != 0 || st.Duplicates != wantDuplicates {
		t.Errorf("service saw %+v; %d payloads in sent/, want %d duplicates", st, len(sent), wantDuplicates)
	}
	for _, dir := range []string{spool.DirSpool, spool.DirFailed, spool.DirRejected} {
		ents, err := os.ReadDir(filepath.Join(r.stateDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		if dir == spool.DirSpool {
			// Only attempt markers of nothing may remain: no payload.
			for _, e := range ents {
				t.Errorf("spool/ still holds %s", e.Name())
			}
			continue
		}
		if len(ents) != 0 {
			t.Errorf("%s/ holds %d files", dir, len(ents))
		}
	}
	noSecrets(t, r.out, token, "wrong-token-4711")
}

// 1. The daemon follows a log rotated like SeisComP's, seals the 3 days
// (split in parts) and the service ends up with exactly the reference.
func TestDaemonDeliversEveryDay(t *testing.T) {
	r := newDrig(t)
	writeToken(t, r.tok, token)
	r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, maxRows: 1500})
	// The daemon follows the log while SeisComP writes and rotates it.
	var p *proc
	r.writeLogWith(t, r.lines, func() {
		p = startDaemon(t, r.cfg, r.out)
		p.waitFollowing(t)
	})
	waitDelivered(t, p, r.stateDir, r.ref)
	p.stop(t)
	if n := countFiles(t, filepath.Join(r.stateDir, spool.DirSent), spool.Ext); n < 7 {
		t.Errorf("%d payloads sent, want at least 7 (8479 rows in parts of at most 1500)", n)
	}
	for _, ps := range payloads(t, r.stateDir, spool.DirSent) {
		if len(ps.Stats) > 1500 {
			t.Errorf("a payload of %d rows: central.max_rows_per_payload not honoured", len(ps.Stats))
		}
	}
	r.finalChecks(t, 0)
}

// 2. The service is down for a long time (with a daemon restart in the
// middle): the payloads wait in spool/, the metrics say so, nothing is lost
// or doubled once it is back.
func TestDaemonLongOutage(t *testing.T) {
	r := newDrig(t)
	writeToken(t, r.tok, token)
	r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, listen: true, minBackoff: "20ms", maxBackoff: "100ms", backfill: "2020-09-29"})
	r.fr.down()
	r.writeLog(t, r.lines)
	p := startDaemon(t, r.cfg, r.out)
	addr := p.httpAddr(t)
	waitFor(t, "the 3 days in spool/", func() bool { return same(t, r.ref, payloads(t, r.stateDir, spool.DirSpool)) })
	// With max_backoff 100ms, many retries come quickly; with the default
	// (1h) this would never be reached.
	const retries = `eidastatsd_send_attempts_total{code="0",outcome="retry"}`
	waitFor(t, "20 failed connection attempts", func() bool { return metrics(t, addr)[retries] >= 20 })
	spooled := countFiles(t, filepath.Join(r.stateDir, spool.DirSpool), spool.Ext)
	m := metrics(t, addr)
	if m["eidastatsd_spool_payloads"] != float64(spooled) || spooled < 3 {
		t.Errorf("eidastatsd_spool_payloads %v, %d files in spool/", m["eidastatsd_spool_payloads"], spooled)
	}
	if m["eidastatsd_oldest_undelivered_payload_age_seconds"] <= 0 {
		t.Errorf("oldest undelivered age %v during the outage", m["eidastatsd_oldest_undelivered_payload_age_seconds"])
	}
	if m["eidastatsd_payloads_delivered_total"] != 0 || m["eidastatsd_token_refused"] != 0 {
		t.Errorf("during the outage: delivered %v, token_refused %v", m["eidastatsd_payloads_delivered_total"], m["eidastatsd_token_refused"])
	}
	if n := countFiles(t, filepath.Join(r.stateDir, spool.DirSent), spool.Ext); n != 0 {
		t.Errorf("%d payloads in sent/ while the service is down", n)
	}
	// Restart during the outage: the queue survives.
	p.stop(t)
	if !same(t, r.ref, payloads(t, r.stateDir, spool.DirSpool)) {
		t.Fatal("spool/ changed across a restart during the outage")
	}
	p = startDaemon(t, r.cfg, r.out)
	addr = p.httpAddr(t)
	waitFor(t, "retries after the restart", func() bool { return metrics(t, addr)[retries] >= 3 })
	if err := r.fr.up(); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, p, r.stateDir, r.ref)
	waitFor(t, "spool metrics back to 0", func() bool {
		m := metrics(t, addr)
		return m["eidastatsd_spool_payloads"] == 0 && m["eidastatsd_oldest_undelivered_payload_age_seconds"] == 0 &&
			m["eidastatsd_payloads_delivered_total"] == float64(spooled)
	})
	p.stop(t)
	r.finalChecks(t, 0)
}

// 3. Bursts of 500/503 with Retry-After, then answers lost after the
// service committed: retried until delivered, never counted twice.
func TestDaemonErrorBurstsAndLostAnswers(t *testing.T) {
	r := newDrig(t)
	writeToken(t, r.tok, token)
	r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, listen: true, minBackoff: "10ms", maxBackoff: "50ms", maxRows: 2000, backfill: "2020-09-29"})
	r.recv.FailNext("1", 503, 500, 503, 503, 502)
	r.recv.LoseNext(3)
	r.writeLog(t, r.lines)
	p := startDaemon(t, r.cfg, r.out)
	addr := p.httpAddr(t)
	waitDelivered(t, p, r.stateDir, r.ref)
	m := metrics(t, addr)
	p.stop(t)
	st := r.recv.Stats()
	if st.Injected != 5 || st.Lost != 3 {
		t.Fatalf("service saw %+v", st)
	}
	// Each lost answer is resent identically and answered "already exists".
	r.finalChecks(t, 3)
	if got := m[`eidastatsd_send_attempts_total{code="503",outcome="retry"}`]; got != 3 {
		t.Errorf("503 retries counted %v, want 3", got)
	}
	if got := m[`eidastatsd_send_attempts_total{code="400",outcome="already_there"}`]; got != 3 {
		t.Errorf("already_there answers counted %v, want 3", got)
	}
	if m["eidastatsd_payloads_failed_total"] != 0 {
		t.Errorf("payloads failed: %v", m["eidastatsd_payloads_failed_total"])
	}
	// Retry-After: 1 is honoured although max_backoff is 50ms: the POST
	// after each injected failure comes at least a second later.
	hits := r.fr.hitsSoFar()
	for i := 0; i < 5 && i+1 < len(hits); i++ {
		if hits[i].status < 500 {
			t.Fatalf("hit %d: status %d, want an injected 5xx", i, hits[i].status)
		}
		if gap := hits[i+1].at.Sub(hits[i].at); gap < time.Second {
			t.Errorf("POST %d came %v after a Retry-After: 1 answer", i+2, gap)
		}
	}
}

// 4. The service refuses the token (401, then 403): the payloads stay, the
// metric and /-/ready say why, the retries are spaced by
// token_refused_retry; once the token file is fixed the queue drains,
// without a restart (re-read while refused), on SIGHUP, or on a restart.
func TestDaemonTokenRefused(t *testing.T) {
	for _, how := range []string{"by itself", "sighup", "restart"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			r := newDrig(t)
			writeToken(t, r.tok, "wrong-token-4711")
			retry := "400ms"
			if how != "by itself" {
				retry = "1h" // only the reload or the restart can fix it in time
			}
			r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, listen: true, minBackoff: "10ms", maxBackoff: "50ms",
				tokenRefusedRetry: retry, backfill: "2020-09-29"})
			if how == "by itself" {
				r.recv.FailNext("", 401) // as for a missing header
			}
			r.writeLog(t, r.lines)
			p := startDaemon(t, r.cfg, r.out)
			addr := p.httpAddr(t)
			waitFor(t, "token refused on /metrics and /-/ready", func() bool {
				code, body := ready(t, addr)
				return metrics(t, addr)["eidastatsd_token_refused"] == 1 && code == 503 && strings.Contains(body, "refuses the token")
			})
			waitFor(t, "the 3 days in spool/", func() bool { return same(t, r.ref, payloads(t, r.stateDir, spool.DirSpool)) })
			if how == "by itself" {
				waitFor(t, "refusals", func() bool { return r.recv.Stats().AuthRefused >= 3 })
				hits := r.fr.hitsSoFar()
				if hits[0].status != 401 || hits[1].status != 403 {
					t.Errorf("answers %d, %d; want 401, 403", hits[0].status, hits[1].status)
				}
				for i := 1; i < len(hits); i++ {
					if gap := hits[i].at.Sub(hits[i-1].at); gap < 400*time.Millisecond {
						t.Errorf("refused POSTs %v apart: token_refused_retry (400ms) not honoured", gap)
					}
				}
			} else if st := r.recv.Stats(); st.AuthRefused != 1 {
				t.Errorf("service saw %+v; want one refusal", st)
			}
			if n := countFiles(t, filepath.Join(r.stateDir, spool.DirSent), spool.Ext) +
				countFiles(t, filepath.Join(r.stateDir, spool.DirFailed), spool.Ext); n != 0 {
				t.Fatalf("%d payloads left spool/ with a refused token", n)
			}
			writeToken(t, r.tok, token)
			switch how {
			case "sighup":
				if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			case "restart":
				p.stop(t)
				p = startDaemon(t, r.cfg, r.out)
				addr = p.httpAddr(t)
			}
			waitDelivered(t, p, r.stateDir, r.ref)
			waitFor(t, "ready again", func() bool {
				code, _ := ready(t, addr)
				return metrics(t, addr)["eidastatsd_token_refused"] == 0 && code == 200
			})
			p.stop(t)
			r.finalChecks(t, 0)
		})
	}
}

// 5. kill -9 while a POST is in flight, before it reaches the service and
// after the service committed it (the answer delayed), on various payloads:
// after the restarts every day is on the service exactly once.
func TestDaemonKill9WhileSending(t *testing.T) {
	r := newDrig(t)
	writeToken(t, r.tok, token)
	r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, maxRows: 1000, backfill: "2020-09-29"})
	r.writeLog(t, r.lines)
	type kill struct {
		where string
		skip  int // POSTs let through after the restart
	}
	committedKills := 0
	var p *proc
	for i, k := range []kill{{"after", 0}, {"before", 0}, {"after", 0}, {"after", 1}, {"before", 2}, {"after", 1}, {"after", 2}, {"before", 0}} {
		held := r.fr.holdNext(k.where, k.skip)
		p = startDaemon(t, r.cfg, r.out)
		select {
		case <-held:
		case <-p.done:
			t.Fatalf("kill %d: daemon exited", i+1)
		case <-time.After(90 * time.Second):
			t.Fatalf("kill %d: no POST arrived", i+1)
		}
		p.kill()
		r.fr.release(true)
		if k.where == "after" {
			committedKills++
		}
		t.Logf("kill -9 #%d with a POST held %s the service; %d payloads delivered so far", i+1, k.where,
			countFiles(t, filepath.Join(r.stateDir, spool.DirSent), spool.Ext))
	}
	if n := countFiles(t, filepath.Join(r.stateDir, spool.DirSent), spool.Ext); n == 0 {
		t.Error("no payload delivered between the kills: the kills all hit the first POST")
	}
	p = startDaemon(t, r.cfg, r.out)
	waitDelivered(t, p, r.stateDir, r.ref)
	p.stop(t)
	// Every POST the service handled but whose answer the daemon never saw
	// is resent once more, identically, and answered "already exists".
	r.finalChecks(t, committedKills)
}

// 6. A trace with a 6-character station in the log: its row is kept out
// into rejected/, the rest of the day is delivered.
func TestDaemonPoisonedRow(t *testing.T) {
	r := newDrig(t)
	writeToken(t, r.tok, token)
	r.writeConfig(t, daemonConfig{url: r.fr.url(), tokenFile: r.tok, listen: true, backfill: "2020-09-29"})
	// A one-trace request on 2020-09-30, between two lines of that day.
	at := -1
	for i, l := range r.lines {
		if l.Finished.Format(time.DateOnly) == "2020-09-30" && l.Finished.Hour() >= 12 {
			at = i
			break
		}
	}
	if at < 0 {
		t.Fatal("no line at noon on 2020-09-30")
	}
	fin := r.lines[at].Finished
	bad := fmt.Sprintf(`{"clientID": "ObsPy/1.4.0", "finished": "%s.5Z", "userLocation": {"country": "FR"}, "created": "%s.1Z", `+
		`"bytes": 4096, "service": "fdsnws-dataselect", "userEmail": null, "trace": [{"cha": "HHZ", "sta": "TOOLNG", `+
		`"start": "2020-01-01T00:00:00Z", "net": "FR", "restricted": false, "loc": "00", "bytes": 4096, "status": "OK", `+
		`"end": "2020-01-01T01:00:00Z"}], "status": "OK", "userID": 12345678, "auth": false}`,
		fin.Format("2006-01-02T15:04:05"), fin.Format("2006-01-02T15:04:05"))
	lines := append(append(append([]seiscomp.Record(nil), r.lines[:at+1]...), seiscomp.Record{Data: []byte(bad), Finished: fin}), r.lines[at+1:]...)
	r.writeLog(t, lines)
	p := startDaemon(t, r.cfg, r.out)
	addr := p.httpAddr(t)
	waitDelivered(t, p, r.stateDir, r.ref)
	m := metrics(t, addr)
	p.stop(t)
	if got := m[`eidastatsd_rows_rejected_total{reason="too_long"}`]; got != 1 {
		t.Errorf("rows_rejected_total{too_long} = %v, want 1", got)
	}
	rej, err := os.ReadDir(filepath.Join(r.stateDir, spool.DirRejected))
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 {
		t.Fatalf("rejected/ holds %d files, want 1", len(rej))
	}
	raw, err := os.ReadFile(filepath.Join(r.stateDir, spool.DirRejected, rej[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	var rf spool.RejectedFile
	if err := json.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	if len(rf.Rows) != 1 || rf.Rows[0].Row.Station != "TOOLNG" || rf.Rows[0].Field != "station" || rf.Rows[0].Reason != "too_long" ||
		strings.Join(rf.DaysCoverage, ",") != "2020-09-30" || !strings.HasPrefix(rf.Payload, "2020-09-30_") {
		t.Errorf("rejected file %s:\n%s", rej[0].Name(), raw)
	}
	if err := os.Remove(filepath.Join(r.stateDir, spool.DirRejected, rej[0].Name())); err != nil {
		t.Fatal(err)
	}
	// The table holds the reference: the poisoned row only is missing.
	r.finalChecks(t, 0)
}
