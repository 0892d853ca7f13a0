package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/-/healthy":
			w.Write([]byte("healthy\n"))
		case "/-/ready":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("eidastatsd is not ready:\n- not caught up with the log\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	// A port nobody listens on: bind, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/-/healthy"
	ln.Close()

	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"healthy", []string{"--url", srv.URL + "/-/healthy"}, ExitOK, ""},
		{"not ready", []string{"--url", srv.URL + "/-/ready"}, ExitFail, "503 Service Unavailable: eidastatsd is not ready"},
		{"not found", []string{"--url", srv.URL + "/nope"}, ExitFail, "404"},
		{"nobody listening", []string{"--url", closed}, ExitFail, "connection refused"},
		{"bad url", []string{"--url", "::"}, ExitFail, "bad url"},
		{"extra argument", []string{"x"}, ExitUsage, "unexpected argument"},
		{"bad flag", []string{"--nope"}, ExitUsage, "flag provided but not defined"},
		{"help", []string{"--help"}, ExitOK, "Usage: eidastatsd healthcheck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := Main(context.Background(), append([]string{"healthcheck"}, tt.args...), Stdio{Out: &out, Err: &errb})
			if got != tt.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tt.want, errb.String())
			}
			if tt.wantErr != "" && !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q: %s", tt.wantErr, errb.String())
			}
			if tt.want == ExitOK && len(tt.args) > 0 && tt.args[0] == "--url" && strings.TrimSpace(out.String()) != "ok" {
				t.Errorf("stdout %q, want ok", out.String())
			}
		})
	}
}
