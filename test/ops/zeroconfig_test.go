package ops_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCmd runs the binary to completion and returns its output and status.
func runCmd(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestZeroConfig starts the daemon without --config on a fake SeisComP
// installation ($SEISCOMP_ROOT, $HOME in a temporary directory): first
// without requestLog (exit 78 with the line to add), then with it.
func TestZeroConfig(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "seiscomp")
	home := filepath.Join(dir, "home")
	write(t, filepath.Join(root, "etc", "defaults", "fdsnws.cfg"), "serverPort = 8080\n")
	write(t, filepath.Join(root, "etc", "fdsnws.cfg"), "# local\nserverPort = 18080\n")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(home), "SEISCOMP_ROOT="+root,
		"EIDASTATSD_STATE_DIR="+filepath.Join(dir, "state"),
		"EIDASTATSD_NETWORKS_REGISTRY="+abs(t, "../../testdata/fdsn-networks.json"),
		"EIDASTATSD_HTTP_LISTEN=127.0.0.1:0",
		"EIDASTATSD_LOG_POLL_INTERVAL=50ms")

	wantAdd := `add "requestLog = @LOGDIR@/fdsnws-requests.log" to ` + filepath.Join(root, "etc", "fdsnws.cfg")
	for _, cmd := range []string{"run", "check-config", "config"} {
		_, stderr, code := runCmd(t, env, cmd)
		if code != 78 {
			t.Errorf("%s without requestLog: exit %d, want 78; stderr:\n%s", cmd, code, stderr)
		}
		if !strings.Contains(stderr, wantAdd) {
			t.Errorf("%s without requestLog: stderr lacks %q:\n%s", cmd, wantAdd, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("run created the state directory although the configuration is incomplete")
	}

	// Add the line the message asks for; the log is where fdsnws writes it.
	write(t, filepath.Join(root, "etc", "fdsnws.cfg"), "# local\nserverPort = 18080\nrequestLog = @LOGDIR@/fdsnws-requests.log\n")
	logPath := filepath.Join(home, ".seiscomp", "log", "fdsnws-requests.log")
	copyLog(t, logPath)
	if real, err := filepath.EvalSymlinks(logPath); err == nil {
		logPath = real
	}
	src := filepath.Join(root, "etc", "fdsnws.cfg") + ":3"

	out, stderr, code := runCmd(t, env, "config")
	if code != 0 {
		t.Fatalf("config: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"path: " + logPath + " # SeisComP " + src,
		"state_dir: " + filepath.Join(dir, "state") + " # environment $EIDASTATSD_STATE_DIR",
		"poll_interval: 50ms # environment $EIDASTATSD_LOG_POLL_INTERVAL",
		"grace: 10m0s # default",
		"# token: none",
		"nothing is shipped until a token is configured",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if _, stderr, code := runCmd(t, env, "check-config"); code != 0 {
		t.Errorf("check-config: exit %d\n%s", code, stderr)
	}

	p := start(t, []string{bin, "run"}, env, filepath.Join(dir, "daemon.log"))
	p.waitLog(t, regexp.MustCompile(`request log from SeisComP's configuration" path=`+regexp.QuoteMeta(logPath)+` from=`+regexp.QuoteMeta(src)))
	p.waitLog(t, regexp.MustCompile(`no token configured.*nothing is shipped until a token is configured`))
	p.waitLog(t, regexp.MustCompile(`day sealed" day=2020-09-18`))
	p.stop(t)
	files, _ := filepath.Glob(filepath.Join(dir, "state", "spool", "2020-09-18_*.json.gz"))
	if len(files) != 1 {
		t.Errorf("spool holds %d payloads of 2020-09-18, want 1 (not shipped without a token)", len(files))
	}
}
