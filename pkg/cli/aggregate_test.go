package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eida/eidastatsd/internal/paritytest"
	"github.com/eida/eidastatsd/pkg/payload"
)

const td = "../../testdata/"

func runCLI(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Stdio{In: bytes.NewReader(stdin), Out: &out, Err: &errb, Env: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func readPayload(t *testing.T, path string) *payload.Payload {
	t.Helper()
	p, err := payload.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The golden tests: our output equals the reference aggregator's, row for
// row, HLL bytes identical, same file name.
func TestAggregateMatchesReference(t *testing.T) {
	now = func() time.Time { return time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC) }
	defer func() { now = time.Now }()
	tests := []struct {
		inputs   []string
		ref      string
		wantFile string
		summary  []string
	}{
		{[]string{"gfz-2020-09-18.log"}, "gfz-2020-09-18.reference.json", "2020-09-18_2020-09-18.json.gz",
			[]string{"lines read:      200", "rows:            120", "skipped lines:   0"}},
		{[]string{"gfz-2020-09-18.log.bz2"}, "gfz-2020-09-18.reference.json", "2020-09-18_2020-09-18.json.gz", nil},
		{[]string{"synthetic-3k.log.bz2"}, "synthetic-3k.reference.json.gz", "2020-09-29_2020-10-01.json.gz",
			[]string{"lines read:      3000", "rows:            8479", "skipped lines:   30", "not_json:", "unknown_temporary_network: 296"}},
	}
	for _, tc := range tests {
		t.Run(tc.inputs[0], func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"aggregate", "-o", dir, "--fdsn-networks", td + "fdsn-networks.json"}
			for _, in := range tc.inputs {
				args = append(args, td+in)
			}
			code, out, errs := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			path := filepath.Join(dir, tc.wantFile)
			if !strings.HasPrefix(out, path+"\n") {
				t.Fatalf("output does not start with the path %s:\n%s", path, out)
			}
			for _, s := range tc.summary {
				if !strings.Contains(out, s) {
					t.Errorf("summary lacks %q:\n%s", s, out)
				}
			}
			got := readPayload(t, path)
			ref := readPayload(t, td+tc.ref)
			diffs, err := paritytest.Diff([]*payload.Payload{ref}, []*payload.Payload{got})
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Fatalf("%d differences, first: %v", len(diffs), diffs[:min(5, len(diffs))])
			}
			if len(got.Stats) != len(ref.Stats) {
				t.Errorf("%d rows, reference %d", len(got.Stats), len(ref.Stats))
			}
			if paritytest.Days(got) != paritytest.Days(ref) || got.AggregationScore != ref.AggregationScore {
				t.Errorf("days %s score %d, reference %s %d", paritytest.Days(got), got.AggregationScore, paritytest.Days(ref), ref.AggregationScore)
			}
			if got.GeneratedAt != "2026-12-04 10:00:00" || !strings.HasPrefix(got.Version, "eidastatsd ") {
				t.Errorf("generated_at %q version %q", got.GeneratedAt, got.Version)
			}
		})
	}
}

// Several files merge into one result, and stdin (compressed) works.
func TestAggregateMergeAndStdin(t *testing.T) {
	dir := t.TempDir()
	log, err := os.ReadFile(td + "gfz-2020-09-18.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(log, []byte("\n"))
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.log.gz")
	os.WriteFile(a, bytes.Join(lines[:77], nil), 0o644)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Join(lines[77:], nil))
	zw.Close()
	os.WriteFile(b, gz.Bytes(), 0o644)
	out := t.TempDir()
	if code, _, errs := runCLI(t, nil, "aggregate", a, "--output-directory", out, "--fdsn-networks", td+"fdsn-networks.json", b); code != 0 {
		t.Fatal(errs)
	}
	ref := readPayload(t, td+"gfz-2020-09-18.reference.json")
	got := readPayload(t, filepath.Join(out, "2020-09-18_2020-09-18.json.gz"))
	if d, _ := paritytest.Diff([]*payload.Payload{ref}, []*payload.Payload{got}); len(d) > 0 {
		t.Fatalf("merged files differ: %v", d[0])
	}

	bz, _ := os.ReadFile(td + "synthetic-3k.log.bz2")
	out2 := t.TempDir()
	code, stdout, errs := runCLI(t, bz, "aggregate", "-o", out2, "--fdsn-networks", td+"fdsn-networks.json")
	if code != 0 || !strings.Contains(stdout, "lines read:      3000") {
		t.Fatalf("stdin: %d %s %s", code, stdout, errs)
	}
}

func TestAggregateErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, nil, "aggregate", "-o", dir, "--fdsn-networks", filepath.Join(dir, "missing.json"), td+"gfz-2020-09-18.log")
	if code != ExitFail || !strings.Contains(errs, "network registry") {
		t.Errorf("missing registry: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, nil, "aggregate", "-o", filepath.Join(dir, "nope"), td+"gfz-2020-09-18.log")
	if code != ExitUsage || !strings.Contains(errs, "output directory") {
		t.Errorf("missing dir: %d %s", code, errs)
	}
	code, out, _ := runCLI(t, []byte("garbage\n\n"), "aggregate", "-o", dir, "--fdsn-networks", td+"fdsn-networks.json")
	if code != 0 || !strings.Contains(out, "nothing written") || !strings.Contains(out, "not_json:") {
		t.Errorf("no statistics: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, nil, "aggregate", "--help"); code != 0 {
		t.Errorf("--help: %d", code)
	}
	if code, out, _ := runCLI(t, nil, "--version"); code != 0 || !strings.HasPrefix(out, "eidastatsd ") {
		t.Errorf("--version: %d %q", code, out)
	}
}
