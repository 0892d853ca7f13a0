package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestDeterministic(t *testing.T) {
	a := generate(t, "-lines", "3000", "-days", "2", "-seed", "42")
	b := generate(t, "-lines", "3000", "-days", "2", "-seed", "42")
	c := generate(t, "-lines", "3000", "-days", "2", "-seed", "43")
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different output")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same output")
	}
}

type trace struct {
	Net, Sta, Loc, Cha, Start, End, Status string
	Restricted                             bool
	Bytes                                  int64
}

type record struct {
	Service      string
	UserID       json.RawMessage
	ClientID     string
	UserLocation map[string]any
	Created      string
	Finished     string
	Status       string
	Bytes        int64
	Trace        *[]trace
}

// within checks a count against a fraction range of n.
func within(t *testing.T, what string, count, n int, lo, hi float64) {
	t.Helper()
	f := float64(count) / float64(n)
	if f < lo || f > hi {
		t.Errorf("%s: %d of %d (%.4f), want %.4f..%.4f", what, count, n, f, lo, hi)
	}
}

func TestOutputParsesWithPlausibleProportions(t *testing.T) {
	const lines, days = 5000, 3
	out := generate(t, "-lines", "5000", "-days", "3", "-seed", "7", "-start", "2024-02-28")

	var registry struct {
		Networks []struct {
			Code  string  `json:"fdsn_code"`
			Start string  `json:"start_date"`
			End   *string `json:"end_date"`
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "fdsn-networks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &registry); err != nil {
		t.Fatal(err)
	}
	inEpoch := func(code, start string) (known, in bool) {
		for _, n := range registry.Networks {
			if n.Code != code || !strings.ContainsRune("0123456789XYZ", rune(code[0])) {
				continue
			}
			known = true
			if n.Start <= start[:10] && (n.End == nil || start[:10] <= *n.End) {
				return true, true
			}
		}
		return known, false
	}

	var (
		total, bad, empty, notJSON               int
		status                                   = map[string]int{}
		nodataNoTrace, deniedInOK, okTraces      int
		noCountry, nullCountry, stringID, noFrac int
		tempIn, tempOut, traceCount, bytesSumBad int
		perDay                                   = map[string]int{}
		last                                     string
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		total++
		line := sc.Bytes()
		if len(line) == 0 {
			empty++
			bad++
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			if !json.Valid(line) {
				notJSON++
			}
			bad++
			continue
		}
		if r.Finished == "" || r.UserLocation == nil || r.Service != "fdsnws-dataselect" {
			bad++ // the missing-field kind of malformed line
			continue
		}
		fin, err := time.Parse(time.RFC3339Nano, r.Finished)
		if err != nil {
			t.Fatalf("finished %q: %v", r.Finished, err)
		}
		if !strings.Contains(r.Finished, ".") {
			noFrac++
		}
		if r.Finished < last {
			t.Fatalf("finished decreases: %s after %s", r.Finished, last)
		}
		last = r.Finished
		perDay[fin.Format(time.DateOnly)]++
		status[r.Status]++
		if r.UserID[0] == '"' {
			stringID++
		}
		switch c, ok := r.UserLocation["country"]; {
		case !ok:
			noCountry++
		case c == nil:
			nullCountry++
		}
		if r.Trace == nil {
			if r.Status == "NODATA" {
				nodataNoTrace++
			}
			continue
		}
		var sum int64
		for _, tr := range *r.Trace {
			traceCount++
			sum += tr.Bytes
			if r.Status == "OK" && tr.Status == "DENIED" {
				deniedInOK++
			}
			if r.Status == "OK" && tr.Status == "OK" {
				okTraces++
			}
			if known, in := inEpoch(tr.Net, tr.Start); known && in {
				tempIn++
			} else if known {
				tempOut++
			}
		}
		if sum != r.Bytes {
			bytesSumBad++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if total != lines*days {
		t.Fatalf("%d lines, want %d", total, lines*days)
	}
	good := total - bad
	within(t, "malformed lines", bad, total, 0.004, 0.012)
	if empty == 0 || notJSON == 0 {
		t.Errorf("malformed kinds missing: %d empty, %d not JSON", empty, notJSON)
	}
	within(t, "OK requests", status["OK"], good, 0.5, 0.7)
	within(t, "NODATA requests", status["NODATA"], good, 0.25, 0.45)
	within(t, "DENIED requests", status["DENIED"], good, 0.01, 0.06)
	within(t, "ERROR requests", status["ERROR"], good, 0.005, 0.05)
	within(t, "NODATA without trace", nodataNoTrace, status["NODATA"], 0.3, 0.7)
	within(t, "DENIED traces inside OK requests", deniedInOK, okTraces+deniedInOK, 0.02, 0.15)
	within(t, "missing country", noCountry, good, 0.005, 0.08)
	within(t, "null country", nullCountry, good, 0.0005, 0.05)
	within(t, "fraction-less finished", noFrac, good, 0.002, 0.03)
	within(t, "temporary-network traces outside their epochs", tempOut, tempIn+tempOut, 0.05, 0.3)
	within(t, "traces per request", traceCount, good*100, 0.02, 0.08) // 2..8 per request
	within(t, "average line length / 1000", len(out)/1000, total, 0.8, 1.4)
	if stringID == 0 {
		t.Error("no string userID")
	}
	if bytesSumBad != 0 {
		t.Errorf("%d requests whose bytes differ from their traces' sum", bytesSumBad)
	}
	for d := range days {
		day := time.Date(2024, 2, 28+d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		within(t, "lines on "+day, perDay[day], good/days, 0.97, 1.03)
	}
}

// TestEpochsMatchRegistry keeps the generator's temporary-network epochs in
// step with the registry fixture, so in/out-of-epoch traces mean what the
// aggregator will see.
func TestEpochsMatchRegistry(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "fdsn-networks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var registry struct {
		Networks []struct {
			Code  string  `json:"fdsn_code"`
			Start string  `json:"start_date"`
			End   *string `json:"end_date"`
		}
	}
	if err := json.Unmarshal(raw, &registry); err != nil {
		t.Fatal(err)
	}
	want := map[string][][2]string{}
	for _, n := range registry.Networks {
		if n.End != nil && len(n.Code) == 2 && strings.ContainsRune("0123456789XYZ", rune(n.Code[0])) {
			want[n.Code] = append(want[n.Code], [2]string{n.Start, *n.End})
		}
	}
	for _, n := range networks {
		if len(n.epochs) == 0 {
			continue
		}
		if got, w := n.epochs, want[n.code]; len(got) != len(w) || (len(got) > 0 && got[0] != w[0]) {
			t.Errorf("%s: generator epochs %v, registry %v", n.code, got, w)
		}
	}
}

func TestBzip2Output(t *testing.T) {
	bz, err := exec.LookPath("bzip2")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("bzip2 not installed")
		}
		t.Fatal("bzip2 not installed in CI")
	}
	file := filepath.Join(t.TempDir(), "log.bz2")
	if err := run([]string{"-lines", "2000", "-seed", "3", "-o", file}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(bz, "-dc", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := generate(t, "-lines", "2000", "-seed", "3"); !bytes.Equal(got, want) {
		t.Fatalf("compressed output decompresses to %d bytes, plain output is %d", len(got), len(want))
	}
}
