package ops_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestNotifyReloadWatchdog runs the daemon under a fake systemd
// notification socket, started as systemd does (WATCHDOG_PID is the
// daemon's own pid), and walks through reloads: READY=1 after start,
// RELOADING=1 then READY=1 on every SIGHUP, the logging level applied live,
// a bad file refused with the old configuration kept and the reload gauges
// following, WATCHDOG=1 pings, STOPPING=1 and status 0 on SIGTERM.
func TestNotifyReloadWatchdog(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
	copyLog(t, logPath)
	cfg := daemonConfig(t, dir, logPath, "logging:\n  level: info\n")
	good := func(level string) {
		daemonConfig(t, dir, logPath, "logging:\n  level: "+level+"\n")
	}
	sock := newNotifySocket(t)
	env := append(baseEnv(dir), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=200000")
	// As systemd: WATCHDOG_PID is the pid of the process it started.
	p := start(t, []string{"/bin/sh", "-c", `WATCHDOG_PID=$$ exec "$0" "$@"`, bin, "run", "--config", cfg}, env, filepath.Join(dir, "daemon.log"))
	if m := sock.next(t, p); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	url := p.metricsURL(t)
	reloadGauges := func() (ok, ts float64) {
		f := scrape(t, url)
		ok, _ = value(f, "eidastatsd_config_last_reload_successful")
		ts, _ = value(f, "eidastatsd_config_last_reload_success_timestamp_seconds")
		return ok, ts
	}
	ok0, ts0 := reloadGauges()
	if ok0 != 1 || ts0 <= 0 {
		t.Fatalf("after start: reload gauges %v %v, want 1 and the start time", ok0, ts0)
	}
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if m := sock.next(t, p); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+$`).MatchString(m) {
			t.Fatalf("after SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", m)
		}
		if m := sock.next(t, p); m != "READY=1" {
			t.Fatalf("after RELOADING: %q, want READY=1", m)
		}
		// The daemon logs before it notifies: the log is complete here.
	}

	// 1. Same file, level info: "configuration reloaded" (info), no debug.
	hup()
	if n := countOf(p.log(), "configuration reloaded"); n != 1 {
		t.Fatalf("%d 'configuration reloaded' after the first reload; log:\n%s", n, p.log())
	}
	if strings.Contains(p.log(), "configuration re-read") {
		t.Fatalf("debug message at level info; log:\n%s", p.log())
	}

	// 2. Level debug: applied live, the debug message appears.
	good("debug")
	hup()
	if !strings.Contains(p.log(), "configuration re-read") {
		t.Fatalf("logging.level debug not applied by the reload; log:\n%s", p.log())
	}

	// 3. Level warn: info messages stop.
	good("warn")
	hup()
	if !strings.Contains(p.log(), `level=warn`) || !strings.Contains(p.log(), "logging level changed") {
		t.Fatalf("no warning about the level change; log:\n%s", p.log())
	}
	before := countOf(p.log(), "configuration reloaded")
	hup()
	if n := countOf(p.log(), "configuration reloaded"); n != before {
		t.Fatalf("info message logged at level warn; log:\n%s", p.log())
	}
	okGood, tsGood := reloadGauges()
	if okGood != 1 || tsGood < ts0 {
		t.Fatalf("after good reloads: gauges %v %v (start %v)", okGood, tsGood, ts0)
	}

	// 4. A bad file: refused, old configuration kept, gauge 0, timestamp kept.
	write(t, cfg, "log:\n  path: "+logPath+"\n  poll_interval: soon\nlogging:\n  level: shout\n")
	hup()
	log := p.log()
	if !strings.Contains(log, "reload refused") || !strings.Contains(log, "log.poll_interval") || !strings.Contains(log, "logging.level") {
		t.Fatalf("bad reload not refused with the keys named; log:\n%s", log)
	}
	if okBad, tsBad := reloadGauges(); okBad != 0 || tsBad != tsGood {
		t.Fatalf("after a refused reload: gauges %v %v, want 0 and %v", okBad, tsBad, tsGood)
	}
	// Still level warn: the refused file's level was not applied.
	good("warn")
	before = countOf(p.log(), "configuration reloaded")
	hup()
	if n := countOf(p.log(), "configuration reloaded"); n != before {
		t.Fatalf("level changed by a refused reload; log:\n%s", p.log())
	}
	if okAgain, tsAgain := reloadGauges(); okAgain != 1 || tsAgain < tsGood {
		t.Fatalf("after a good reload following a bad one: gauges %v %v", okAgain, tsAgain)
	}
	// A day was sealed meanwhile: the daemon kept working through reloads.
	waitMetric(t, p, url, "a sealed day", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "eidastatsd_day_seals_total")
		return v == 1
	})

	// WATCHDOG_USEC=200ms: pings every 100ms (the run above may be faster).
	sock.waitCount(t, p, "WATCHDOG=1")

	p.cmd.Process.Signal(syscall.SIGTERM)
	if m := sock.next(t, p); m != "STOPPING=1" {
		t.Fatalf("after SIGTERM: %q, want STOPPING=1", m)
	}
	p.stop(t)
}

// TestWatchdogOtherPID: WATCHDOG_PID naming another process means the
// watchdog is not ours: no pings, even at a 2 ms interval over a whole run.
func TestWatchdogOtherPID(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log", "fdsnws-requests.log")
	copyLog(t, logPath)
	cfg := daemonConfig(t, dir, logPath, "")
	sock := newNotifySocket(t)
	env := append(baseEnv(dir), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=2000", "WATCHDOG_PID="+strconv.Itoa(os.Getpid()))
	p := start(t, []string{bin, "run", "--config", cfg}, env, filepath.Join(dir, "daemon.log"))
	if m := sock.next(t, p); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	url := p.metricsURL(t)
	waitMetric(t, p, url, "a sealed day", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "eidastatsd_day_seals_total")
		return v == 1
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if m := sock.next(t, p); m != "STOPPING=1" {
		t.Fatalf("after SIGTERM: %q, want STOPPING=1", m)
	}
	p.stop(t)
	if n := sock.count("WATCHDOG=1"); n != 0 {
		t.Errorf("%d WATCHDOG=1 although WATCHDOG_PID is another process", n)
	}
}
