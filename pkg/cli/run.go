package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eida/eidastatsd/pkg/buildinfo"
	"github.com/eida/eidastatsd/pkg/config"
	"github.com/eida/eidastatsd/pkg/daemon"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/sdnotify"
	"github.com/eida/eidastatsd/pkg/seiscompcfg"
	"github.com/eida/eidastatsd/pkg/sender"
	"github.com/eida/eidastatsd/pkg/web"
)

func init() {
	register(Command{Name: "run", Summary: "run the daemon: follow the request log, seal days, ship them", Run: runDaemon})
	register(Command{Name: "check-config", Summary: "validate a configuration file", Run: runCheckConfig})
	register(Command{Name: "config", Summary: "print the effective configuration and where each value came from", Run: runPrintConfig})
}

// loadConfig reads --config, or without it the defaults with the request
// log found in SeisComP's own configuration. sources says where values came
// from.
func loadConfig(path string, stdio Stdio) (*config.Config, map[string]string, error) {
	sources := map[string]string{}
	if path != "" {
		c, err := config.Load(path)
		if err != nil {
			return nil, nil, err
		}
		sources["*"] = path
		return c, sources, nil
	}
	c := config.Default()
	sources["*"] = "built-in default"
	home, _ := os.UserHomeDir()
	if h := stdio.Env("HOME"); h != "" {
		home = h
	}
	logPath, src, err := seiscompcfg.FindRequestLog(stdio.Env, home)
	if err != nil {
		return nil, nil, fmt.Errorf("no --config and no request log in SeisComP's configuration: %w", err)
	}
	c.Log.Path = logPath
	sources["log.path"] = "SeisComP " + src
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return &c, sources, nil
}

func newLogger(w io.Writer, c config.Logging) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runDaemon(ctx context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("run", "[--config FILE]", stdio)
	cfgPath := fs.String("config", "", "configuration file (default: built-in defaults, request log from SeisComP's fdsnws.cfg)")
	if _, err := parseInterspersed(fs, args); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	cfg, _, err := loadConfig(*cfgPath, stdio)
	if err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd: %v\n", err)
		return ExitConfig
	}
	log := newLogger(stdio.Err, cfg.Logging)
	token, tokenSrc, err := cfg.Token(stdio.Env)
	if err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd: %v\n", err)
		return ExitConfig
	}

	reg := prometheus.NewRegistry()
	if err := web.RegisterRuntime(reg); err != nil {
		log.Warn("runtime metrics", "err", err)
	}
	_ = web.RegisterBuildInfo(reg, buildinfo.Version, buildinfo.Revision())
	readiness, err := web.NewReadiness(reg)
	if err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd: %v\n", err)
		return ExitFail
	}
	readiness.Set("log", false, "not caught up with the log")
	notify := sdnotify.New(stdio.Env, os.Getpid())

	d, err := daemon.New(daemon.Options{Config: cfg, Token: token, Logger: log, Registry: reg, Ready: readiness.Set,
		Started: func() { _ = notify.Ready() }})
	if err != nil {
		log.Error("cannot start", "err", err)
		return ExitFail
	}
	d.ReloadResult(true)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	sm := sender.NewMetrics(reg)
	switch {
	case cfg.Central.URL == "":
		log.Warn("central.url is empty: payloads stay in the spool and are not shipped", "spool", d.Spool().Dir("spool"))
	case token == "":
		log.Warn("no token configured (central.token_file, $EIDASTATSD_TOKEN or the systemd credential 'token'): payloads stay in the spool")
	default:
		log.Info("shipping to the central service", "url", redactURL(cfg.Central.URL), "token_from", tokenSrc)
		s := sender.New(sender.Options{
			URL: cfg.Central.URL, Token: token, Timeout: time.Duration(cfg.Central.Timeout),
			MinBackoff: time.Duration(cfg.Central.MinBackoff), MaxBackoff: time.Duration(cfg.Central.MaxBackoff),
			TokenRefusedRetry: time.Duration(cfg.Central.TokenRefusedRetry), MaxRowsPerPayload: cfg.Central.MaxRowsPerPayload,
			Limits: payload.Limits{Network: 6, Station: cfg.Central.StationMaxLength, Location: 2, Channel: 3}, KeepSent: time.Duration(cfg.Central.KeepSent),
			Logger: log,
		}, d.Spool(), sm)
		go func() {
			t := time.NewTicker(30 * time.Second)
			defer t.Stop()
			for {
				readiness.Set("token", !sm.TokenRefused(), "central service refuses the token")
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
		go func() { _ = s.Run(ctx, d.Wake()) }()
	}

	if cfg.HTTP.Listen != "" {
		h, err := web.NewHandler(web.Options{Gatherer: reg, NotReady: readiness.NotReady, Version: buildinfo.Version, Logger: log})
		if err != nil {
			log.Error("http", "err", err)
			return ExitFail
		}
		srv, err := web.Listen(cfg.HTTP.Listen, h, log)
		if err != nil {
			log.Error("cannot listen", "addr", cfg.HTTP.Listen, "err", err)
			return ExitFail
		}
		go func() { _ = srv.Serve(ctx) }()
		log.Info("serving metrics", "addr", srv.Addr().String())
	}

	// SIGHUP: re-read and validate the configuration. A bad file is refused
	// and the running one kept; settings that need a restart are named.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = notify.Reloading()
				nc, _, err := loadConfig(*cfgPath, stdio)
				if err != nil {
					d.ReloadResult(false)
					log.Error("reload refused: configuration invalid, keeping the running one", "err", err)
				} else {
					d.ReloadResult(true)
					if nc.Log.Path != cfg.Log.Path || nc.StateDir != cfg.StateDir || nc.Central != cfg.Central || nc.HTTP != cfg.HTTP {
						log.Warn("configuration reloaded; log, state_dir, central and http changes take effect at the next restart")
					} else {
						log.Info("configuration reloaded")
					}
				}
				_ = notify.Ready()
			}
		}
	}()
	if iv, err := notify.WatchdogInterval(); err == nil && iv > 0 {
		go func() {
			t := time.NewTicker(iv / 2)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_ = notify.Watchdog()
				}
			}
		}()
	}

	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			log.Error("daemon stopped", "err", err)
		}
	}()
	<-done
	_ = notify.Stopping()
	log.Info("stopped; state saved")
	return ExitOK
}

func redactURL(u string) string {
	if i := strings.Index(u, "?"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	return u
}

func runCheckConfig(_ context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("check-config", "--config FILE", stdio)
	cfgPath := fs.String("config", "", "configuration file to check")
	if _, err := parseInterspersed(fs, args); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	_, _, err := loadConfig(*cfgPath, stdio)
	if err != nil {
		var p config.Problems
		if errors.As(err, &p) {
			for _, s := range p {
				fmt.Fprintln(stdio.Err, s)
			}
		} else {
			fmt.Fprintln(stdio.Err, err)
		}
		return ExitConfig
	}
	fmt.Fprintln(stdio.Out, "configuration OK")
	return ExitOK
}

func runPrintConfig(_ context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("config", "[--config FILE]", stdio)
	cfgPath := fs.String("config", "", "configuration file")
	if _, err := parseInterspersed(fs, args); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	c, sources, err := loadConfig(*cfgPath, stdio)
	if err != nil {
		fmt.Fprintln(stdio.Err, err)
		return ExitConfig
	}
	fmt.Fprintf(stdio.Out, "# values from: %s\n", sources["*"])
	for k, v := range sources {
		if k != "*" {
			fmt.Fprintf(stdio.Out, "# %s from %s\n", k, v)
		}
	}
	return printYAML(stdio.Out, c)
}
