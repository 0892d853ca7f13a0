package receiver

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func start(t *testing.T, tokens ...string) (*Server, string) {
	t.Helper()
	db := OpenTest(t)
	s := New(db, tokens...)
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, u
}

func post(t *testing.T, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authentication", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const row = `{"month":"2020-09-01","network":"FR","station":"%s","location":"00","channel":"HHZ","country":"%s","bytes":10,"nb_requests":2,"nb_successful_requests":1,"nb_unsuccessful_requests":1,"clients":"\\x128B7F0000000000000001"}`

func doc(rows ...string) string {
	return `{"generated_at":"2025-01-01 00:00:00","version":"t","days_coverage":["2020-09-18"],"stats":[` + strings.Join(rows, ",") + `]}`
}

func r(sta, country string) string {
	return strings.Replace(strings.Replace(row, "%s", sta, 1), "%s", country, 1)
}

func TestReceiver(t *testing.T) {
	s, u := start(t, "good")
	ctx := context.Background()
	tests := []struct {
		name, auth, body string
		code             int
		msg              string
	}{
		{"no header", "", doc(r("A", "FR")), 401, ""},
		{"unknown token", "Bearer bad", doc(r("A", "FR")), 403, ""},
		{"missing key", "Bearer good", `{"generated_at":"x","version":"v","stats":[` + r("A", "FR") + `]}`, 400, ""},
		{"empty stats", "Bearer good", doc(), 400, ""},
		{"bad day", "Bearer good", strings.Replace(doc(r("A", "FR")), "2020-09-18", "2020-9-18", 1), 400, ""},
		{"ok", "Bearer good", doc(r("A", "FR"), r("B", "None")), 200, MsgOK},
		{"same again", "Bearer good", doc(r("A", "FR"), r("B", "None")), 400, MsgExists},
		{"other order adds", "Bearer good", doc(r("B", "None"), r("A", "FR")), 200, MsgOK},
		{"poisoned", "Bearer good", doc(r("C", "FR"), r("TOOLNG", "FR")), 500, MsgIngest},
		{"poisoned resend", "Bearer good", doc(r("C", "FR"), r("TOOLNG", "FR")), 400, MsgExists},
	}
	for _, tt := range tests {
		code, body := post(t, u, tt.auth, tt.body)
		if code != tt.code || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, body, tt.code, tt.msg)
		}
	}
	var n, req int
	var country string
	if err := s.db.QueryRow(ctx, `SELECT count(*), sum(nb_requests), max(country) FROM dataselect_stats`).Scan(&n, &req, &country); err != nil {
		t.Fatal(err)
	}
	// A and B twice each (C's payload was rolled back); "None" folded to "".
	if n != 2 || req != 8 || country != "FR" {
		t.Errorf("stored %d rows, %d requests, max country %q; want 2, 8, FR", n, req, country)
	}
	var empty int
	_ = s.db.QueryRow(ctx, `SELECT count(*) FROM dataselect_stats WHERE country = ''`).Scan(&empty)
	if empty != 1 {
		t.Errorf("%d rows with folded country, want 1", empty)
	}
}

func TestReceiverFaults(t *testing.T) {
	s, u := start(t, "good")
	s.FailNext("7", 503)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(doc(r("A", "FR"))))
	req.Header.Set("Authentication", "Bearer good")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("injected: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.LoseNext(1)
	req, _ = http.NewRequest(http.MethodPost, u, strings.NewReader(doc(r("A", "FR"))))
	req.Header.Set("Authentication", "Bearer good")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("lost answer arrived: %d", resp.StatusCode)
	}
	if code, body := post(t, u, "Bearer good", doc(r("A", "FR"))); code != 400 || body != MsgExists+"\n" {
		t.Errorf("after a lost answer: %d %q, want already exists", code, body)
	}
	s.Down()
	if _, err := http.Post(u, "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("server down but answered")
	}
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.SetTokens("new")
	if code, _ := post(t, u, "Bearer good", doc(r("Z", "FR"))); code != 403 {
		t.Errorf("old token after change: %d", code)
	}
	if st := s.Stats(); st.Ingested != 1 || st.Lost != 1 || st.Duplicates != 1 || st.Injected != 1 {
		t.Errorf("stats %+v", st)
	}
}
