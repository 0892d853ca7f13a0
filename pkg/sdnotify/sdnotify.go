// Package sdnotify implements the systemd service notification protocol
// (sd_notify(3)) without cgo or dependencies.
//
// Every function is a no-op when $NOTIFY_SOCKET is unset, so the daemon can
// call them unconditionally, also outside systemd.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends state changes to the service manager. The zero value is not
// useful: use New, or FromEnv for the process environment.
type Notifier struct {
	socket string // "" disables
	// monotonic returns CLOCK_MONOTONIC for MONOTONIC_USEC; injected for tests.
	monotonic func() time.Duration
	pid       int
	env       func(string) string
}

// New returns a Notifier reading $NOTIFY_SOCKET, $WATCHDOG_USEC and
// $WATCHDOG_PID through env; pid is this process's id (os.Getpid()).
func New(env func(string) string, pid int) *Notifier {
	return &Notifier{socket: env("NOTIFY_SOCKET"), monotonic: monotonicNow, pid: pid, env: env}
}

// Enabled reports whether a notification socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Notify sends one raw state datagram ("READY=1\nSTATUS=...").
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	addr, err := socketAddr(n.socket)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send: %w", err)
	}
	return nil
}

// Ready tells systemd that start-up is finished (Type=notify).
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping tells systemd that the service is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Reloading tells systemd that a configuration reload started. MONOTONIC_USEC
// is required by Type=notify-reload and harmless otherwise. Call Ready when
// the reload is done, whether it succeeded or not.
func (n *Notifier) Reloading() error {
	usec := n.monotonic().Microseconds()
	return n.Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Watchdog pings the service watchdog (WatchdogSec=).
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// Status sets the free-form status line shown by systemctl status. Newlines
// would start a new assignment, so they are replaced.
func (n *Notifier) Status(s string) error {
	return n.Notify("STATUS=" + strings.ReplaceAll(s, "\n", " "))
}

// WatchdogInterval returns the watchdog timeout systemd expects pings within,
// or 0 when the watchdog is disabled or meant for another process. Ping at
// half of it, as sd_watchdog_enabled(3) recommends.
func (n *Notifier) WatchdogInterval() (time.Duration, error) {
	if n == nil || n.env == nil {
		return 0, nil
	}
	s := n.env("WATCHDOG_USEC")
	if s == "" {
		return 0, nil
	}
	usec, err := strconv.ParseUint(s, 10, 63)
	if err != nil || usec == 0 {
		return 0, fmt.Errorf("sdnotify: invalid WATCHDOG_USEC %q", s)
	}
	if p := n.env("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: invalid WATCHDOG_PID %q: %w", p, err)
		}
		if pid != n.pid {
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond, nil
}

func socketAddr(s string) (*net.UnixAddr, error) {
	switch {
	case strings.HasPrefix(s, "@"):
		// Abstract namespace: Go maps a leading '@' to the NUL byte itself.
		return &net.UnixAddr{Name: s, Net: "unixgram"}, nil
	case strings.HasPrefix(s, "/"):
		return &net.UnixAddr{Name: s, Net: "unixgram"}, nil
	case strings.HasPrefix(s, "vsock:"):
		return nil, errors.New("sdnotify: vsock NOTIFY_SOCKET is not supported")
	default:
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor abstract", s)
	}
}
