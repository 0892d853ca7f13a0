package ops_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestLogsNoPersonalData runs the daemon at debug level, in text and in
// JSON, over the GFZ log (real userIDs) plus lines with e-mail addresses,
// IP-like clientIDs and broken lines quoting them, with a central service
// that refuses everything once (so that the sender logs its answers too),
// and checks that no userID, e-mail address, IP address or the token from
// the input appears in the daemon's output.
func TestLogsNoPersonalData(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	secrets := []string{token}
	extra := []string{
		`{"clientID": "192.0.2.55 python-requests/2.25", "finished": "2020-09-18T23:10:00Z", "userLocation": {"country": "DE"}, "status": "OK", "userEmail": "jane.doe@example.org", "userID": 918273645, "trace": [{"net": "GE", "sta": "EIL", "loc": "", "cha": "BHZ", "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z", "bytes": 5, "status": "OK"}]}`,
		`{"clientID": "2001:db8::17", "finished": "2020-09-18T23:11:00Z", "userLocation": {"country": "FR"}, "status": "NODATA", "userEmail": "max.muster@example.net", "userID": 564738291, "trace": []}`,
		`garbage from 198.51.100.23 by root@example.com userID 1122334455`,
		`{"clientID": "203.0.113.9", "userEmail": "no.finish@example.org", "userID": 99887766}`,
	}
	secrets = append(secrets, "192.0.2.55", "2001:db8::17", "198.51.100.23", "203.0.113.9",
		"jane.doe@example.org", "max.muster@example.net", "root@example.com", "no.finish@example.org",
		"918273645", "564738291", "1122334455", "99887766")

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var refused atomic.Bool
			central := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if refused.CompareAndSwap(false, true) {
					http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer central.Close()
			dir := t.TempDir()
			logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
			copyLog(t, logPath, extra...)
			ids := userIDs(t, logPath)
			if len(ids) < 100 {
				t.Fatalf("only %d userIDs in the test log", len(ids))
			}
			cfg := daemonConfig(t, dir, logPath, fmt.Sprintf("logging:\n  level: debug\n  format: %s\ncentral:\n  url: %s/submit\n  min_backoff: 50ms\n  max_backoff: 100ms\n", format, central.URL))
			p := start(t, []string{bin, "run", "--config", cfg}, append(baseEnv(dir), "EIDASTATSD_TOKEN="+token), filepath.Join(dir, "daemon.log"))
			url := p.metricsURL(t)
			waitMetric(t, p, url, "a delivered payload", func(f map[string]*dto.MetricFamily) bool {
				v, _ := value(f, "eidastatsd_payloads_delivered_total")
				return v >= 1
			})
			p.stop(t)
			out := p.log()
			if !strings.Contains(out, "temporarily unavailable") && !strings.Contains(out, "503") {
				t.Errorf("the refused POST is not logged; was the sender running?\n%s", out)
			}
			for _, s := range append(secrets, ids...) {
				if strings.Contains(out, s) {
					t.Errorf("daemon output contains %q from the input:\n%s", s, out)
				}
			}
			for _, re := range []*regexp.Regexp{
				regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}`),
			} {
				if m := re.FindString(out); m != "" {
					t.Errorf("daemon output contains an e-mail address %q", m)
				}
			}
		})
	}
}

var userIDRE = regexp.MustCompile(`"userID": (\d+)`)

// userIDs lists the userID values of a log (at least 5 digits, so that they
// cannot be mistaken for counts or offsets).
func userIDs(t *testing.T, path string) []string {
	var ids []string
	for _, l := range readLines(t, path) {
		if m := userIDRE.FindStringSubmatch(l); m != nil && len(m[1]) >= 5 {
			ids = append(ids, m[1])
		}
	}
	return ids
}
