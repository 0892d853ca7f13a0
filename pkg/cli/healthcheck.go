package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// defaultHealthURL matches the default http.listen address.
const defaultHealthURL = "http://127.0.0.1:9469/-/healthy"

// healthcheck exists because a static container image has no curl: Docker's
// HEALTHCHECK runs "eidastatsd healthcheck" instead.
func init() {
	register(Command{
		Name:    "healthcheck",
		Summary: "exit 0 if a running daemon answers on its health endpoint (for container HEALTHCHECK)",
		Run:     runHealthcheck,
	})
}

func runHealthcheck(ctx context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("healthcheck", "[--url URL] [--timeout D]   (exits 0 when URL answers 2xx, 1 otherwise)", stdio)
	url := fs.String("url", defaultHealthURL, "URL to check; use .../-/ready to require readiness")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stdio.Err, "eidastatsd healthcheck: unexpected argument %q\n", pos[0])
		return ExitUsage
	}
	if err := checkHealth(ctx, *url, *timeout); err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd healthcheck: %v\n", err)
		return ExitFail
	}
	fmt.Fprintln(stdio.Out, "ok")
	return ExitOK
}

func checkHealth(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("bad url: %w", err)
	}
	// No proxy: the daemon is local, and a proxy from the environment
	// would turn a healthy daemon into a failed check.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
