package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsValidAndDefault(t *testing.T) {
	c, err := Load("../../configs/eidastatsd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Aggregation.Grace != d.Aggregation.Grace || c.HTTP.Listen != d.HTTP.Listen || c.StateDir != d.StateDir || c.Central.KeepSent != d.Central.KeepSent {
		t.Errorf("example config differs from the defaults it documents: %+v", c)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse([]byte("log:\n  path: /x.log\naggregation:\n  grace: 5m\ncentral:\n  keep_sent: 30d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Path != "/x.log" || time.Duration(c.Aggregation.Grace) != 5*time.Minute || time.Duration(c.Central.KeepSent) != 30*24*time.Hour {
		t.Errorf("%+v", c)
	}
	if c.Central.Timeout != Default().Central.Timeout {
		t.Error("defaults not kept")
	}
	if _, err := Parse(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"log:\n  pth: /x\n", "field pth not found"},
		{"bogus: 1\n", "field bogus not found"},
		{"aggregation:\n  grace: soon\n", `invalid duration "soon"`},
		{"aggregation:\n  grace: 25h\n", "aggregation.grace: must be between 0 and 24h"},
		{"log:\n  backfill_since: 2024-13-01\n", `log.backfill_since: "2024-13-01" is not a YYYY-MM-DD date`},
		{"central:\n  url: ftp://x\n", `central.url: "ftp://x" is not an http(s) URL`},
		{"http:\n  listen: nonsense\n", `http.listen: "nonsense" is not host:port`},
		{"logging:\n  level: loud\n", `logging.level: "loud" is not one of debug, info, warn, error`},
		{"logging:\n  format: xml\n", `logging.format: "xml" is not text or json`},
		{"log:\n  path: \"\"\nstate_dir: \"\"\n", "log.path: must be set"},
		{"central:\n  max_rows_per_payload: 0\n", "central.max_rows_per_payload: must be at least 1"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	// Every problem is reported at once.
	_, err := Parse([]byte("log:\n  path: \"\"\nstate_dir: \"\"\n"))
	if !strings.Contains(err.Error(), "state_dir: must be set") {
		t.Errorf("want both problems: %v", err)
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if tok, _, _ := c.Token(get); tok != "" {
		t.Fatal("no token expected")
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte("cred\n"), 0o600)
	env["CREDENTIALS_DIRECTORY"] = dir
	if tok, src, _ := c.Token(get); tok != "cred" || src != "systemd credential token" {
		t.Fatalf("credential: %q %q", tok, src)
	}
	env["EIDASTATSD_TOKEN"] = "envtok"
	if tok, _, _ := c.Token(get); tok != "envtok" {
		t.Fatal("env token")
	}
	c.Central.TokenFile = filepath.Join(dir, "missing")
	if _, _, err := c.Token(get); err == nil || !strings.Contains(err.Error(), "central.token_file") {
		t.Fatalf("missing token file: %v", err)
	}
}
