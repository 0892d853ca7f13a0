package ops_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
)

// expectedCounts aggregates the log the daemon reads with the library, for
// the metrics the daemon must report.
func expectedCounts(t *testing.T, logPath string) aggregate.Counts {
	t.Helper()
	data, err := os.ReadFile("../../testdata/fdsn-networks.json")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := networks.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	in := aggregate.NewIngester(reg)
	tables := map[logline.Date]*aggregate.Table{}
	for _, l := range readLines(t, logPath) {
		in.Line([]byte(l), func(d logline.Date, _ int) *aggregate.Table {
			if tables[d] == nil {
				tables[d] = aggregate.NewTable()
			}
			return tables[d]
		})
	}
	return in.Counts
}

// TestMetrics runs the daemon over the GFZ log (plus broken lines) with a
// central service on 127.0.0.1, waits until the day is delivered, then
// checks the metric values against the library's counts, runs promtool
// check metrics on the live /metrics, and checks that every family named
// by the alert rules and the operations README exists, and that the README
// documents every eidastatsd family with its type.
func TestMetrics(t *testing.T) {
	var posts atomic.Int64
	central := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("ok"))
	}))
	defer central.Close()

	dir := t.TempDir()
	logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
	copyLog(t, logPath,
		`not json at all`,
		`{"finished": "2020-09-18T23:00:00Z"}`,
		`{"clientID": "x", "finished": "2020-09-18T23:00:01Z", "userLocation": {"country": "DE"}, "status": "OK", "userID": 7, "trace": [{"net": "GE", "sta": "X", "loc": "", "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z", "bytes": 5, "status": "OK"}]}`,
	)
	want := expectedCounts(t, logPath)
	cfg := daemonConfig(t, dir, logPath, "central:\n  url: "+central.URL+"/submit\n")
	env := append(baseEnv(dir), "EIDASTATSD_TOKEN=test-token")
	begin := time.Now()
	p := start(t, []string{bin, "run", "--config", cfg}, env, filepath.Join(dir, "daemon.log"))
	url := p.metricsURL(t)
	fams := waitMetric(t, p, url, "a delivered payload", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "eidastatsd_payloads_delivered_total")
		return v >= 1
	})

	// Values.
	check := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := value(fams, name, labels...)
		if !ok {
			t.Errorf("%s%v: no such series", name, labels)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	check("eidastatsd_lines_read_total", float64(want.Lines))
	check("eidastatsd_bytes_read_total", float64(want.Bytes))
	if len(want.SkippedLines) == 0 || len(want.SkippedTraces) == 0 {
		t.Fatalf("test log skips nothing: %+v", want)
	}
	for _, m := range fams["eidastatsd_lines_skipped_total"].GetMetric() {
		r := m.GetLabel()[0].GetValue()
		if got, w := m.GetCounter().GetValue(), float64(want.SkippedLines[logline.Reason(r)]); got != w {
			t.Errorf("eidastatsd_lines_skipped_total{reason=%q} = %v, want %v", r, got, w)
		}
	}
	for r, n := range want.SkippedLines {
		check("eidastatsd_lines_skipped_total", float64(n), "reason", string(r))
	}
	for _, m := range fams["eidastatsd_traces_skipped_total"].GetMetric() {
		r := m.GetLabel()[0].GetValue()
		if got, w := m.GetCounter().GetValue(), float64(want.SkippedTraces[logline.Reason(r)]); got != w {
			t.Errorf("eidastatsd_traces_skipped_total{reason=%q} = %v, want %v", r, got, w)
		}
	}
	for r, n := range want.SkippedTraces {
		check("eidastatsd_traces_skipped_total", float64(n), "reason", string(r))
	}
	for _, st := range []string{"OK", "NODATA", "DENIED", "ERROR", "other"} {
		check("eidastatsd_contributions_total", float64(want.Contributions[st]), "status", st)
	}
	check("eidastatsd_day_seals_total", 1)
	check("eidastatsd_payloads_spooled_total", 1)
	check("eidastatsd_payloads_delivered_total", 1)
	check("eidastatsd_payloads_failed_total", 0)
	check("eidastatsd_open_day_tables", 0)
	check("eidastatsd_rows", 0)
	check("eidastatsd_late_lines_total", 0)
	check("eidastatsd_state_save_failures_total", 0)
	check("eidastatsd_registry_lookups_total", 1)
	check("eidastatsd_registry_failures_total", 0)
	check("eidastatsd_token_refused", 0)
	check("eidastatsd_config_last_reload_successful", 1)
	if v, _ := value(fams, "eidastatsd_state_saves_total"); v < 1 {
		t.Errorf("eidastatsd_state_saves_total = %v, want >= 1 (a sealed day is checkpointed)", v)
	}
	if v, _ := value(fams, "eidastatsd_config_last_reload_success_timestamp_seconds"); v < float64(begin.Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("eidastatsd_config_last_reload_success_timestamp_seconds = %v, not the start time %d", v, begin.Unix())
	}
	if got := sum(fams, "eidastatsd_send_attempts_total"); got != float64(posts.Load()) || got < 1 {
		t.Errorf("eidastatsd_send_attempts_total sums to %v, the central service saw %d POSTs", got, posts.Load())
	}
	if v, _ := value(fams, "eidastatsd_last_delivery_timestamp_seconds"); v < float64(begin.Unix()) {
		t.Errorf("eidastatsd_last_delivery_timestamp_seconds = %v, before the start", v)
	}
	// The reload gauges with their help text, as Prometheus scrapes them.
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(`
# HELP eidastatsd_config_last_reload_successful Whether the last configuration reload (SIGHUP) succeeded.
# TYPE eidastatsd_config_last_reload_successful gauge
eidastatsd_config_last_reload_successful 1
# HELP eidastatsd_day_seals_total Days sealed into a payload.
# TYPE eidastatsd_day_seals_total counter
eidastatsd_day_seals_total 1
`), "eidastatsd_config_last_reload_successful", "eidastatsd_day_seals_total"); err != nil {
		t.Error(err)
	}

	// promtool finds nothing wrong with the exposition.
	body := scrapeText(t, url)
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Every family the alerts and the README name exists.
	fams = parseMetrics(t, body)
	alerts, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range uniq(regexp.MustCompile(`\beidastatsd_[a-z0-9_]+`).FindAllString(string(alerts), -1)) {
		if fams[name] == nil {
			t.Errorf("deploy/prometheus/alerts.yml uses %s, which the daemon does not export", name)
		}
	}
	docTypes := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(eidastatsd_[a-z0-9_]+)[^`]*` \\| ([a-z]+) \\|").FindAllStringSubmatch(string(doc), -1) {
		docTypes[m[1]] = m[2]
	}
	if len(docTypes) < 20 {
		t.Fatalf("found only %d metrics in the operations README table", len(docTypes))
	}
	for name, typ := range docTypes {
		f := fams[name]
		if f == nil {
			t.Errorf("README.md lists %s, which the daemon does not export", name)
			continue
		}
		if got := strings.ToLower(f.GetType().String()); got != typ {
			t.Errorf("README.md says %s is a %s, it is a %s", name, typ, got)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "eidastatsd_") && docTypes[name] == "" {
			t.Errorf("%s is exported but not in the metrics table of README.md", name)
		}
	}
	p.stop(t)
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
