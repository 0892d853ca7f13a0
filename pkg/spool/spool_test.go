package spool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eida/eidastatsd/pkg/payload"
)

func pay(day string, stations ...string) *payload.Payload {
	p := &payload.Payload{GeneratedAt: "2025-01-01 00:00:00", Version: "test", DaysCoverage: []string{day}}
	for _, s := range stations {
		p.Stats = append(p.Stats, payload.Row{Month: day[:8] + "01", Station: s, Clients: `\x118B7F`})
	}
	return p
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestEnqueuePendingOrder(t *testing.T) {
	sp, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, day := range []string{"2020-09-20", "2020-09-18", "2020-09-19", "2020-09-18"} {
		p := pay(day, "A", "B")
		n, err := Name(p, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Enqueue(p, n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	got, err := sp.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var bases []string
	for _, g := range got {
		bases = append(bases, filepath.Base(g))
	}
	want := []string{names[1], names[3], names[2], names[0]}
	if !slices.Equal(bases, want) {
		t.Fatalf("Pending = %v, want %v", bases, want)
	}
	back, err := payload.ReadFile(got[0])
	if err != nil || back.Stats[1].Station != "B" {
		t.Fatalf("read back: %v %+v", err, back)
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(sp.Dir(DirSpool))
	if len(ents) != 4 {
		t.Errorf("%d entries in spool/, want 4", len(ents))
	}
}

func TestEnqueueBadName(t *testing.T) {
	sp, _ := Open(t.TempDir(), nil)
	for _, n := range []string{"", "../x.json.gz", "a/b.json.gz", "x.json", ".hidden.json.gz"} {
		if _, err := sp.Enqueue(pay("2020-09-18"), n); err == nil {
			t.Errorf("Enqueue(%q) succeeded", n)
		}
	}
}

func TestReplaceKeepsAgeAndOrder(t *testing.T) {
	sp, _ := Open(t.TempDir(), nil)
	path, err := sp.Enqueue(pay("2020-09-18", "A", "B", "C"), "2020-09-18_000001_aa.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	later, _ := sp.Enqueue(pay("2020-09-19", "D"), "2020-09-19_000002_bb.json.gz")
	old := time.Date(2020, 9, 19, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	parts, err := sp.Replace(path, []*payload.Payload{pay("2020-09-18", "A"), pay("2020-09-18", "B", "C")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sp.Pending()
	want := append(slices.Clone(parts), later)
	if !slices.Equal(got, want) {
		t.Fatalf("Pending = %v, want %v", got, want)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("original still there: %v", err)
	}
	oldest, n, err := sp.OldestPending()
	if err != nil || n != 3 || !oldest.Equal(old) {
		t.Errorf("OldestPending = %v, %d, %v; want %v, 3", oldest, n, err, old)
	}
}

func TestAttemptDeliveredFailedRejected(t *testing.T) {
	c := &clock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	sp, _ := Open(t.TempDir(), c.now)
	a, _ := sp.Enqueue(pay("2020-09-18", "A"), "a.json.gz")
	b, _ := sp.Enqueue(pay("2020-09-18", "B"), "b.json.gz")

	if sp.Attempted(a) {
		t.Fatal("fresh payload marked attempted")
	}
	if err := sp.MarkAttempt(a); err != nil {
		t.Fatal(err)
	}
	if !sp.Attempted(a) {
		t.Fatal("MarkAttempt not recorded")
	}
	if got, _ := sp.Pending(); len(got) != 2 {
		t.Fatalf("marker counted as a payload: %v", got)
	}
	dst, err := sp.Delivered(a)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dst); err != nil || !st.ModTime().Equal(c.t) {
		t.Errorf("sent file: %v, mtime %v, want %v", err, st.ModTime(), c.t)
	}
	if _, err := os.Stat(a + attemptExt); !os.IsNotExist(err) {
		t.Error("attempt marker left behind")
	}

	fdst, err := sp.Failed(b, Answer{Time: c.t, Status: 500, Body: "Error on statistics ingestion"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fdst + ".answer.json")
	var ans Answer
	if err != nil || json.Unmarshal(raw, &ans) != nil || ans.Status != 500 || !strings.Contains(ans.Body, "ingestion") {
		t.Errorf("answer file: %v %s", err, raw)
	}
	if got, _ := sp.Pending(); len(got) != 0 {
		t.Errorf("spool not empty: %v", got)
	}

	rp, err := sp.WriteRejected(b, pay("2020-09-18"), []payload.Rejected{{Row: payload.Row{Station: "TOOLONG"}, Field: "station", Reason: payload.ReasonTooLong}})
	if err != nil {
		t.Fatal(err)
	}
	var rf RejectedFile
	raw, _ = os.ReadFile(rp)
	if err := json.Unmarshal(raw, &rf); err != nil || rf.Payload != "b.json.gz" || len(rf.Rows) != 1 || rf.Rows[0].Field != "station" {
		t.Errorf("rejected file %s: %v %s", rp, err, raw)
	}
}

func TestPruneSent(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sp, _ := Open(t.TempDir(), c.now)
	for _, n := range []string{"old.json.gz", "new.json.gz"} {
		p, _ := sp.Enqueue(pay("2020-09-18"), n)
		if n == "new.json.gz" {
			c.t = c.t.Add(80 * 24 * time.Hour)
		}
		if _, err := sp.Delivered(p); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(20 * 24 * time.Hour) // old: 100 days ago, new: 20
	n, err := sp.PruneSent(90 * 24 * time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("PruneSent = %d, %v; want 1", n, err)
	}
	ents, _ := os.ReadDir(sp.Dir(DirSent))
	if len(ents) != 1 || ents[0].Name() != "new.json.gz" {
		t.Errorf("sent/ holds %v", ents)
	}
}
