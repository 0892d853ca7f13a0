package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// listen opens a real unixgram socket the way systemd does.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	// The deadline only guards against a hang; the datagram is queued
	// synchronously by the time Notify returns.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n])
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name string
		send func(*Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
		{"watchdog", (*Notifier).Watchdog, "WATCHDOG=1"},
		{"status", func(n *Notifier) error { return n.Status("caught up\nwith log") }, "STATUS=caught up with log"},
		{"reloading", (*Notifier).Reloading, "RELOADING=1\nMONOTONIC_USEC=1500000"},
	}
	sockets := map[string]func(t *testing.T) string{
		"path":     func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify") },
		"abstract": func(t *testing.T) string { return "@eidastatsd-test-" + strconv.FormatInt(time.Now().UnixNano(), 36) },
	}
	for kind, mk := range sockets {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				name := mk(t)
				conn := listen(t, name)
				n := New(envMap(map[string]string{"NOTIFY_SOCKET": name}), 42)
				n.monotonic = func() time.Duration { return 1500 * time.Millisecond }
				if !n.Enabled() {
					t.Fatal("notifier not enabled with NOTIFY_SOCKET set")
				}
				if err := tt.send(n); err != nil {
					t.Fatalf("send: %v", err)
				}
				if got := receive(t, conn); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestRealMonotonicClock(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	conn := listen(t, name)
	n := New(envMap(map[string]string{"NOTIFY_SOCKET": name}), 1)
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	got := receive(t, conn)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("unexpected message %q", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec <= 0 {
		t.Fatalf("MONOTONIC_USEC not a positive integer: %q", lines[1])
	}
}

func TestDisabledIsNoop(t *testing.T) {
	n := New(envMap(nil), 1)
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	for _, f := range []func() error{n.Ready, n.Stopping, n.Reloading, n.Watchdog, func() error { return n.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("no-op returned error: %v", err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, sock := range []string{"relative/path", "vsock:2:1234", filepath.Join(missingDir(t), "nosocket")} {
		n := New(envMap(map[string]string{"NOTIFY_SOCKET": sock}), 1)
		if err := n.Ready(); err == nil {
			t.Errorf("NOTIFY_SOCKET=%q: no error", sock)
		}
	}
}

func missingDir(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"unset", nil, 0, false},
		{"set", map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, false},
		{"own pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, 2 * time.Second, false},
		{"other pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"}, 0, false},
		{"garbage", map[string]string{"WATCHDOG_USEC": "soon"}, 0, true},
		{"zero", map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{"bad pid", map[string]string{"WATCHDOG_USEC": "1", "WATCHDOG_PID": "x"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(envMap(tt.env), 42).WatchdogInterval()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
