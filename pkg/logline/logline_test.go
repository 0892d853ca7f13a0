package logline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

const okLine = `{"clientID": "ObsPy", "finished": "2020-09-18T00:00:01.142527Z", "userLocation": {"country": "ID"}, "created": "2020-09-18T00:00:00.606932Z", "bytes": 13312, "service": "fdsnws-dataselect", "userEmail": null, "trace": [{"cha": "BHN", "sta": "PB11", "start": "2010-09-04T11:59:52.076986Z", "net": "CX", "restricted": false, "loc": "", "bytes": 6656, "status": "OK", "end": "2010-09-04T12:03:32.076986Z"}, {"cha": "BHE", "sta": "PB11", "start": "2010-09-04T11:59:52.076986Z", "net": "CX", "restricted": false, "loc": "00", "bytes": 6656, "status": "DENIED", "end": "2010-09-04T12:03:32.076986Z"}], "status": "OK", "userID": 589198147}`

func TestParseOK(t *testing.T) {
	var p Parser
	ev, r := p.Parse([]byte(okLine))
	if r != "" {
		t.Fatalf("reason %q", r)
	}
	if ev.Date != (Date{2020, 9, 18}) || !ev.OK || string(ev.Country) != "ID" || string(ev.UserID) != "589198147" {
		t.Fatalf("event %+v", ev)
	}
	if len(ev.Traces) != 1 {
		t.Fatalf("want 1 OK trace (DENIED ignored), got %d", len(ev.Traces))
	}
	tr := ev.Traces[0]
	if string(tr.Net) != "CX" || string(tr.Sta) != "PB11" || string(tr.Loc) != "" || string(tr.Cha) != "BHN" || string(tr.Start) != "2010-09-04" || tr.Bytes != 6656 {
		t.Fatalf("trace %+v", tr)
	}
}

func TestParseCases(t *testing.T) {
	const base = `"finished": "2024-03-03T00:00:05Z", "userLocation": {"country": "FR"}, "userID": 42`
	tests := []struct {
		name    string
		line    string
		reason  Reason
		ok      bool
		country string
		userID  string
		traces  int
		skipped []Reason
	}{
		{name: "nodata without trace", line: `{` + base + `, "status": "NODATA"}`, userID: "42", country: "FR"},
		{name: "key order", line: `{"status": "ERROR", "userID": 7, "userLocation": {}, "finished": "2024-03-03T00:00:01.093551Z"}`, userID: "7"},
		{name: "null country", line: `{"status": "DENIED", "userID": 1, "userLocation": {"country": null}, "finished": "2024-03-03T00:00:01Z"}`, userID: "1"},
		{name: "string userID", line: `{"status": "DENIED", "userID": "123", "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "123"},
		{name: "null userID", line: `{"status": "DENIED", "userID": null, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "None"},
		{name: "bool userID", line: `{"status": "DENIED", "userID": true, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "True"},
		{name: "minus zero userID", line: `{"status": "DENIED", "userID": -0, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "0"},
		{name: "float userID", line: `{"status": "DENIED", "userID": 1.5, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonBadUserID},
		{name: "offset", line: `{"status": "DENIED", "userID": 1, "userLocation": {}, "finished": "2024-03-03T23:59:01.5+02:00"}`, userID: "1"},
		{name: "escaped key and value", line: `{"st\u0061tus": "O\u004B", "userID": 1, "userLocation": {"country": "D\u0045"}, "finished": "2024-03-03T00:00:01Z", "trace": [{"net": "F\u0052", "sta": "A\"B", "loc": "", "cha": "HHZ", "start": "2020-01-01", "status": "OK", "bytes": 5}]}`, ok: true, userID: "1", country: "DE", traces: 1},
		{name: "duplicate key last wins", line: `{"status": "OK", "status": "ERROR", "userID": 1, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "1"},
		{name: "ok with empty trace", line: `{` + base + `, "status": "OK", "trace": []}`, ok: true, userID: "42", country: "FR"},
		{name: "trace fields", line: `{` + base + `, "status": "OK", "trace": [1, {"status": "OK"}, {"net": 5, "sta": "A", "loc": "", "cha": "B", "start": "2020-01-01", "status": "OK", "bytes": 1}, {"net": "N", "sta": "A", "loc": "", "cha": "B", "start": "2020-01-01", "status": "OK", "bytes": 1.5}, {"status": "NODATA"}, {"net": "N", "sta": "A", "loc": "", "cha": "B", "start": "2020-01-01", "status": "OK", "bytes": 1}]}`,
			ok: true, userID: "42", country: "FR", traces: 1, skipped: []Reason{ReasonTraceNotObject, ReasonTraceMissingField, ReasonTraceBadField, ReasonTraceBadField}},
		{name: "empty", line: "   ", reason: ReasonEmpty},
		{name: "not json", line: "this is not json", reason: ReasonNotJSON},
		{name: "array", line: "[1, 2]", reason: ReasonNotObject},
		{name: "truncated", line: `{"clientID": "curl/7.88.1", "fini`, reason: ReasonNotJSON},
		{name: "trailing garbage", line: `{` + base + `, "status": "OK", "trace": []} x`, reason: ReasonNotJSON},
		{name: "control char in string", line: "{\"status\": \"O\tK\", \"userID\": 1, \"userLocation\": {}, \"finished\": \"2024-03-03T00:00:01Z\"}", reason: ReasonNotJSON},
		{name: "invalid utf8", line: "{\"status\": \"\xff\", \"userID\": 1}", reason: ReasonInvalidUTF8},
		{name: "missing finished", line: `{"status": "OK", "userID": 1, "userLocation": {}}`, reason: ReasonMissingFinished},
		{name: "bad finished", line: `{"status": "OK", "userID": 1, "userLocation": {}, "finished": "2020-10-01T08:10:17.517620"}`, reason: ReasonBadFinished},
		{name: "finished not string", line: `{"status": "OK", "userID": 1, "userLocation": {}, "finished": 5}`, reason: ReasonBadFinished},
		{name: "missing userLocation", line: `{"status": "OK", "userID": 1, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonMissingUserLocation},
		{name: "null userLocation", line: `{"status": "OK", "userID": 1, "userLocation": null, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonBadUserLocation},
		{name: "missing status", line: `{"userID": 1, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonMissingStatus},
		{name: "missing userID", line: `{"status": "OK", "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonMissingUserID},
		{name: "ok missing trace", line: `{` + base + `, "status": "OK"}`, reason: ReasonMissingTrace},
		{name: "ok null trace", line: `{` + base + `, "status": "OK", "trace": null}`, reason: ReasonBadTrace},
		{name: "deep nesting", line: `{"x": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, reason: ReasonNotJSON},
		{name: "NaN accepted like Python", line: `{"x": NaN, "y": -Infinity, "status": "ERROR", "userID": 1, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "1"},
		{name: "torn fragment then record", line: `{"clientID": "curl/7.88.1", "fini{"status": "ERROR", "userID": 3, "userLocation": {"country": "IT"}, "finished": "2024-03-03T00:00:01Z"}`, userID: "3", country: "IT"},
		{name: "torn fragment then bad record", line: `{"clientID": "curl", "fini{"status": "ERROR", "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonTorn},
		{name: "tail of a record then record", line: `, "userID": 5}{"status": "ERROR", "userID": 4, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, userID: "4"},
		{name: "tail of a record then bad record", line: `5}{"status": "ERROR", "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`, reason: ReasonTorn},
		{name: "crlf", line: `{` + base + `, "status": "ERROR"}` + "\r", userID: "42", country: "FR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			ev, r := p.Parse([]byte(tc.line))
			if r != tc.reason {
				t.Fatalf("reason %q, want %q", r, tc.reason)
			}
			if r != "" {
				return
			}
			if ev.OK != tc.ok || string(ev.Country) != tc.country || string(ev.UserID) != tc.userID || len(ev.Traces) != tc.traces {
				t.Fatalf("got ok=%v country=%q userID=%q traces=%d", ev.OK, ev.Country, ev.UserID, len(ev.Traces))
			}
			if len(ev.SkippedTraces) != len(tc.skipped) {
				t.Fatalf("skipped %v, want %v", ev.SkippedTraces, tc.skipped)
			}
			for i := range tc.skipped {
				if ev.SkippedTraces[i] != tc.skipped[i] {
					t.Fatalf("skipped %v, want %v", ev.SkippedTraces, tc.skipped)
				}
			}
		})
	}
}

func TestParseRealSample(t *testing.T) {
	f, err := os.Open("../../testdata/gfz-2020-09-18.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	var p Parser
	n := 0
	for sc.Scan() {
		ev, r := p.Parse(sc.Bytes())
		if r != "" {
			t.Fatalf("line %d: %s", n+1, r)
		}
		// Cross-check against encoding/json.
		var doc struct {
			Finished     string
			Status       string
			UserID       json.Number
			UserLocation struct{ Country *string }
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if string(ev.Status) != doc.Status || string(ev.UserID) != doc.UserID.String() || ev.Date.String() != doc.Finished[:10] {
			t.Fatalf("line %d: mismatch %q/%q %q/%q", n+1, ev.Status, doc.Status, ev.UserID, doc.UserID)
		}
		n++
	}
	if n != 200 {
		t.Fatalf("%d lines", n)
	}
}

func TestParseFinished(t *testing.T) {
	// Expectations checked against Python's datetime.strptime with the
	// reference's two formats.
	tests := []struct {
		in   string
		want string // "" = rejected
	}{
		{"2024-03-03T00:00:01.093551Z", "2024-03-03"},
		{"2024-03-03T00:00:05Z", "2024-03-03"},
		{"2020-10-01T17:47:03.589517+02:00", "2020-10-01"},
		{"2020-10-01T23:47:03-05:00", "2020-10-01"},
		{"2020-10-01T08:10:17+0200", "2020-10-01"},
		{"2020-10-01T08:10:17.5Z", "2020-10-01"},
		{"2020-9-1T1:2:3Z", "2020-09-01"},
		{"2020-10-01t08:10:17Z", "2020-10-01"},
		{"2020-10-01T08:10:17+02:00:30.5", "2020-10-01"},
		{"2020-10-01T08:10:17+020030", "2020-10-01"},
		{"2020-10-01T08:10:17.517620", ""},
		{"2020-10-01T08:10:17.Z", ""},
		{"2020-10-01T08:10:60Z", ""},
		{"2020-10-01T24:10:00Z", ""},
		{"2020-10-01T08:10:17.1234567Z", ""},
		{"2020-10-01T08:10:17z", ""},
		{" 2020-10-01T08:10:17Z", ""},
		{"2020-10-01T08:10:17+02", ""},
		{"2020-02-30T08:10:17Z", ""},
		{"2020-02-29T08:10:17Z", "2020-02-29"},
		{"2021-02-29T08:10:17Z", ""},
		{"2020-10-01T08:10:17+24:00", ""},
		{"2020-10-01T08:10:17+02:0030", ""},
		{"2020-10-01T08:10:17+0200:30", ""},
		{"", ""},
		{"0000-01-01T00:00:00Z", ""},
	}
	for _, tc := range tests {
		d, ok := ParseFinished([]byte(tc.in))
		got := ""
		if ok {
			got = d.String()
		}
		if got != tc.want {
			t.Errorf("ParseFinished(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseFinished(f *testing.F) {
	for _, s := range []string{"2024-03-03T00:00:01.093551Z", "2020-10-01T17:47:03.589517+02:00", "2020-9-1T1:2:3Z", "2020-10-01T08:10:17+02:00:30.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseFinished([]byte(s))
		if !ok {
			return
		}
		if !validDay(d.Year, d.Month, d.Day) {
			t.Fatalf("%q gave invalid date %+v", s, d)
		}
		if _, ok := ParseDate(d.String()); !ok {
			t.Fatalf("%q: %s does not round-trip", s, d)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(okLine))
	f.Add([]byte(`{"status": "ERROR", "userID": "1", "userLocation": {"country": null}, "finished": "2024-03-03T00:00:01Z"}`))
	f.Add([]byte(`{"clientID": "x", "fini{"status": "ERROR", "userID": 3, "userLocation": {}, "finished": "2024-03-03T00:00:01Z"}`))
	f.Add([]byte(`{"a": "\u00e9\ud83d\ude00", "b": [1, -2.5e3, true, null, {}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var p Parser
		ev, r := p.Parse(line)
		trimmed := bytes.Trim(line, " \t\n\r") // JSON whitespace only (no \f)
		valid := json.Valid(trimmed) && utf8.Valid(trimmed)
		if valid && (r == ReasonNotJSON || r == ReasonTorn) {
			t.Fatalf("valid JSON rejected as %s: %q", r, line)
		}
		if r != "" {
			return
		}
		if ev.OK && string(ev.Status) != "OK" {
			t.Fatal("OK without OK status")
		}
		for _, tr := range ev.Traces {
			if utf8.RuneCount(tr.Start) > 10 {
				t.Fatalf("start %q longer than 10 code points", tr.Start)
			}
		}
		if valid && !bytes.Contains(trimmed, []byte("NaN")) && !bytes.Contains(trimmed, []byte("Infinity")) {
			var doc map[string]any
			if err := json.Unmarshal(trimmed, &doc); err != nil {
				t.Fatalf("parsed, but encoding/json says %v", err)
			}
			if s, ok := doc["status"].(string); ok && (s == "OK") != ev.OK {
				t.Fatalf("status %q vs OK=%v", s, ev.OK)
			}
		}
	})
}

func TestSpecialIn(t *testing.T) {
	for v := 0; v < 256; v++ {
		for pos := 0; pos < 8; pos++ {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(v)
			w := uint64(0)
			for i := 7; i >= 0; i-- {
				w = w<<8 | uint64(b[i])
			}
			want := strClass[v]
			if got := specialIn(w); got != want {
				t.Fatalf("byte %#x at %d: got %v want %v", v, pos, got, want)
			}
		}
	}
}

func TestNextSpecial(t *testing.T) {
	// Every position and every byte value, with noise before and after.
	for n := 0; n < 20; n++ {
		for pos := 0; pos <= n; pos++ {
			for v := 0; v < 256; v++ {
				b := make([]byte, n)
				for i := range b {
					b[i] = "aé\x7f~ "[i%5]
				}
				if pos < n {
					b[pos] = byte(v)
				}
				want := n
				for i, c := range b {
					if strClass[c] {
						want = i
						break
					}
				}
				if got := nextSpecial(b, 0); got != want {
					t.Fatalf("%q: got %d want %d", b, got, want)
				}
			}
		}
	}
}

func TestTraceKey(t *testing.T) {
	for k, name := range traceKeys {
		if got := traceKey([]byte(name)); got != k {
			t.Errorf("traceKey(%q) = %d, want %d", name, got, k)
		}
	}
	for _, other := range []string{"", "ne", "nett", "Net", "end", "restricted", "byte"} {
		if got := traceKey([]byte(other)); got != -1 {
			t.Errorf("traceKey(%q) = %d, want -1", other, got)
		}
	}
}
