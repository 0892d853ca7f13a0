package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runMain(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	code := Main(context.Background(), args, Stdio{Out: &out, Err: &errb, Env: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigValid(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "ok.yaml", "log:\n  path: /x/fdsnws-requests.log\ncentral:\n  url: https://example.org/submit\n")
	out, stderr, code := runMain(t, map[string]string{"SEISCOMP_ROOT": dir}, "check-config", "--config", f)
	if code != ExitOK || out != "configuration OK\n" || stderr != "" {
		t.Fatalf("exit %d, out %q, err %q", code, out, stderr)
	}
	// The shipped example is valid.
	if _, stderr, code := runMain(t, map[string]string{"SEISCOMP_ROOT": dir}, "check-config", "--config", "../../configs/eidastatsd.yaml"); code != ExitOK {
		t.Fatalf("configs/eidastatsd.yaml: exit %d: %s", code, stderr)
	}
}

func TestCheckConfigEveryProblem(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "bad.yaml", `log:
  path: /x.log
  poll_interval: soon
  colour: red
state_dir: ""
aggregation: 5
central:
  url: "ftp://x"
  max_rows_per_payload: lots
http:
  listen: nohost
logging:
  level: loud
frobnicate: 1
`)
	_, stderr, code := runMain(t, map[string]string{"SEISCOMP_ROOT": dir, "EIDASTATSD_CENTRAL_TIMEOUT": "never"}, "check-config", "--config", f)
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d", code, ExitConfig)
	}
	want := []string{
		f + `:3: log.poll_interval: invalid duration "soon" (use e.g. 90s, 10m, 2h, 90d)`,
		f + `:4: log.colour: unknown key (log has: path, backfill_since, poll_interval)`,
		f + `:6: aggregation: must be a mapping of grace, checkpoint_every`,
		f + ":9: central.max_rows_per_payload: cannot unmarshal !!str `lots` into int",
		f + `:14: frobnicate: unknown key (top-level keys: log, state_dir, aggregation, networks, central, http, logging)`,
		`environment $EIDASTATSD_CENTRAL_TIMEOUT: central.timeout: invalid duration "never" (use e.g. 90s, 10m, 2h, 90d)`,
		f + `:5: state_dir: must be set`,
		f + `:8: central.url: "ftp://x" is not an http(s) URL`,
		f + `:11: http.listen: "nohost" is not host:port`,
		f + `:13: logging.level: "loud" is not one of debug, info, warn, error`,
	}
	got := strings.Split(strings.TrimSpace(stderr), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", stderr, strings.Join(want, "\n"))
	}
}

func TestCheckConfigNotYAML(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "bad.yaml", "log:\n  path: [unclosed\n")
	_, stderr, code := runMain(t, nil, "check-config", "--config", f)
	if code != ExitConfig || !strings.Contains(stderr, f+": not valid YAML") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, stderr, code = runMain(t, nil, "check-config", "--config", filepath.Join(dir, "missing.yaml"))
	if code != ExitConfig || !strings.Contains(stderr, "missing.yaml") {
		t.Fatalf("missing file: exit %d: %s", code, stderr)
	}
}

func TestPrintConfigSources(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "seiscomp")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := writeFile(t, filepath.Join(root, "etc"), "fdsnws.cfg", "serverPort = 8080\nrequestLog = /srv/log/fdsnws-requests.log\n")
	f := writeFile(t, dir, "c.yaml", "# mine\nstate_dir: /srv/state\nlogging:\n  format: json\n")
	writeFile(t, dir, "token", "sekrit-token\n")
	env := map[string]string{"SEISCOMP_ROOT": root, "HOME": dir, "EIDASTATSD_HTTP_LISTEN": "0.0.0.0:9469", "CREDENTIALS_DIRECTORY": dir}
	out, stderr, code := runMain(t, env, "config", "--config", f)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"  path: /srv/log/fdsnws-requests.log # SeisComP " + cfgFile + ":2\n",
		"state_dir: /srv/state # file " + f + ":2\n",
		"  format: json # file " + f + ":4\n",
		"  level: info # default\n",
		"  listen: 0.0.0.0:9469 # environment $EIDASTATSD_HTTP_LISTEN\n",
		"# token: set (not shown), from environment $CREDENTIALS_DIRECTORY/token",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sekrit") {
		t.Errorf("config prints the token:\n%s", out)
	}
	// Every key is followed by its source.
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "#") && !strings.HasSuffix(l, ":") && !strings.Contains(l, " # ") {
			t.Errorf("line without a source: %q", l)
		}
	}
	// The output is itself a valid configuration with the same values.
	again := writeFile(t, dir, "again.yaml", out)
	out2, stderr, code := runMain(t, map[string]string{"SEISCOMP_ROOT": root, "HOME": dir}, "config", "--config", again)
	if code != ExitOK {
		t.Fatalf("printed configuration does not load: %s", stderr)
	}
	if !strings.Contains(out2, "  listen: 0.0.0.0:9469 # file "+again) || !strings.Contains(out2, "# token: none") {
		t.Errorf("reloaded output:\n%s", out2)
	}

	// A file without log.path and no requestLog: the default, and why.
	if err := os.WriteFile(cfgFile, []byte("serverPort = 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = runMain(t, env, "config", "--config", f)
	if code != ExitOK || !strings.Contains(out, "# log.path: not found in SeisComP's configuration") ||
		!strings.Contains(out, "  path: /home/sysop/seiscomp/var/log/fdsnws-requests.log # default\n") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// Without a file that is an error naming the line to add.
	_, stderr, code = runMain(t, env, "config")
	if code != ExitConfig || !strings.Contains(stderr, `add "requestLog = @LOGDIR@/fdsnws-requests.log" to `+cfgFile) {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("central.token_refused_retry"); got != "EIDASTATSD_CENTRAL_TOKEN_REFUSED_RETRY" {
		t.Fatal(got)
	}
	// No key's variable collides with the token variable.
	for _, k := range configKeys() {
		if EnvName(k) == "EIDASTATSD_TOKEN" {
			t.Fatalf("key %s collides with $EIDASTATSD_TOKEN", k)
		}
	}
}
