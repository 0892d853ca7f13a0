package shipping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eida/eidastatsd/test/receiver"
)

// TestSendWithConfig runs `eidastatsd send --config FILE`: the URL, the
// token (central.token_file), max_rows_per_payload and station_max_length
// come from the file; flags override each of them.
func TestSendWithConfig(t *testing.T) {
	db := receiver.OpenTest(t)
	recv := receiver.New(db, token)
	url, err := recv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	writeToken(t, tokFile, token)
	cfg := filepath.Join(dir, "eidastatsd.yaml")
	// A station limit of 4 would reject the reference's 5-character
	// stations; 5000 rows per POST splits its 8479 rows in two.
	err = os.WriteFile(cfg, []byte("central:\n  url: "+url+"\n  token_file: "+tokFile+
		"\n  max_rows_per_payload: 5000\n  station_max_length: 4\n  timeout: 30s\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKEN=") && !strings.HasPrefix(kv, "EIDASTATSD_TOKEN=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			env = append(env, kv)
		}
	}
	ref := filepath.Join("testdata", "synthetic-3k.reference.json.gz")
	run := func(args ...string) (int, string) {
		t.Helper()
		return runSend(t, env, args...)
	}

	// URL, token and max rows from the file; the station flag overrides it.
	if code, out := run("--config", cfg, "--station-limit", "5", ref); code != 0 ||
		strings.Count(out, "delivered") != 2 || strings.Contains(out, "rejected") {
		t.Fatalf("send --config: exit %d\n%s", code, out)
	}
	checkDB(t, db, expected(t, reference(t, "synthetic-3k.reference.json.gz")))

	// The file's station limit applies without the flag; --send-to
	// overrides its URL (nothing listens there: not delivered).
	code, out := run("--config", cfg, "--send-to", "http://127.0.0.1:1/eidaws/statistics/1/submit", "--attempts", "1", ref)
	if code != 1 || !strings.Contains(out, "row rejected") || !strings.Contains(out, "at most 4 allowed") ||
		!strings.Contains(out, "not delivered") {
		t.Errorf("station limit from the file, --send-to: exit %d\n%s", code, out)
	}

	// --token overrides the file's token (both parts refused).
	if code, out := run("--config", cfg, "--station-limit", "5", "--token", "wrong-token-4711", ref); code != 1 ||
		!strings.Contains(out, "refuses the token") {
		t.Errorf("--token over --config: exit %d\n%s", code, out)
	}
	// --max-rows overrides the file: one POST of the whole list, a new
	// stats list, so it is stored (and counted) once more.
	if code, out := run("--config", cfg, "--station-limit", "5", "--max-rows", "-1", ref); code != 0 || strings.Count(out, "delivered") != 1 {
		t.Errorf("--max-rows over --config: exit %d\n%s", code, out)
	}
	if st := recv.Stats(); st.Ingested != 3 || st.Duplicates != 0 || st.AuthRefused != 2 {
		t.Errorf("service saw %+v", st)
	}

	// A missing token file or an invalid file is a configuration error.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("central:\n  token_file: "+filepath.Join(dir, "nope")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("--config", bad, ref); code != 78 || !strings.Contains(out, "central.token_file") {
		t.Errorf("missing token file: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(bad, []byte("central:\n  max_rows_per_payload: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("--config", bad, ref); code != 78 || !strings.Contains(out, "central.max_rows_per_payload") {
		t.Errorf("invalid file: exit %d\n%s", code, out)
	}
}
