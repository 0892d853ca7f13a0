package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

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

// loaded is a configuration and where each of its values came from.
type loaded struct {
	cfg *config.Config
	// keys are every configuration key ("log.path"), in the file's order.
	keys []string
	// sources says where each key's value came from: "default",
	// "file PATH:LINE" or "SeisComP PATH:LINE" (requestLog in fdsnws.cfg).
	sources map[string]string
	// seiscompErr is why log.path is the built-in default although the
	// file does not set it (requestLog not found in SeisComP).
	seiscompErr error
}

// loadConfig reads --config, or without it the defaults with the request
// log found in SeisComP's own configuration; $EIDASTATSD_<KEY> variables
// override both. A file that does not set log.path also takes it from
// SeisComP when SeisComP has it. Every problem
// is reported at once as config.Problems, each naming its key (and the
// file's line when the key is in the file).
func loadConfig(path string, stdio Stdio) (*loaded, error) {
	c := config.Default()
	l := &loaded{cfg: &c, keys: configKeys(), sources: map[string]string{}}
	for _, k := range l.keys {
		l.sources[k] = "default"
	}
	var probs config.Problems
	keyLine := map[string]int{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, config.Problems{fmt.Sprintf("%s: not valid YAML: %v", path, err)}
		}
		lineKey := map[int]string{}
		walkYAML(&doc, "", func(key string, k, v *yaml.Node) {
			keyLine[key] = k.Line
			lineKey[k.Line] = key
			if v.Line != k.Line {
				lineKey[v.Line] = key
			}
			if _, known := l.sources[key]; known {
				l.sources[key] = fmt.Sprintf("file %s:%d", path, k.Line)
			}
		})
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			// Decoding stops at some errors (a bad duration): find every
			// bad key by decoding each alone, and apply the good ones so
			// that validation sees them.
			c = config.Default()
			n := len(probs)
			walkYAML(&doc, "", func(key string, k, v *yaml.Node) {
				if m := leafProblem(key, v, &c); m != "" {
					probs = append(probs, fmt.Sprintf("%s:%d: %s: %s", path, k.Line, key, m))
				}
			})
			if len(probs) == n {
				var te *yaml.TypeError
				if !errors.As(err, &te) {
					return nil, config.Problems{fmt.Sprintf("%s: %v", path, err)}
				}
				for _, m := range te.Errors {
					probs = append(probs, decodeProblem(path, m, lineKey))
				}
			}
		}
	}
	// Environment: EIDASTATSD_<KEY> overrides the file ($EIDASTATSD_LOG_PATH
	// for log.path); an empty variable counts as unset.
	envKey := map[string]string{}
	for _, key := range l.keys {
		name := EnvName(key)
		val := stdio.Env(name)
		if val == "" {
			continue
		}
		if m := leafProblem(key, &yaml.Node{Kind: yaml.ScalarNode, Value: val}, &c); m != "" {
			probs = append(probs, fmt.Sprintf("environment $%s: %s: %s", name, key, m))
			continue
		}
		envKey[key] = name
		l.sources[key] = "environment $" + name
	}
	_, inFile := keyLine["log.path"]
	if _, inEnv := envKey["log.path"]; !inFile && !inEnv {
		logPath, src, err := seiscompcfg.FindRequestLog(stdio.Env, seiscompHome(stdio.Env))
		switch {
		case err == nil:
			c.Log.Path = logPath
			l.sources["log.path"] = "SeisComP " + src
		case path == "":
			return nil, fmt.Errorf("no --config and no request log in SeisComP's configuration: %w", err)
		default:
			l.seiscompErr = err
		}
	}
	if err := c.Validate(); err != nil {
		var vp config.Problems
		if !errors.As(err, &vp) {
			return nil, err
		}
		for _, m := range vp {
			key, _, _ := strings.Cut(m, ":")
			line, inFile := keyLine[key]
			switch name, inEnv := envKey[key]; {
			case inEnv:
				m = "environment $" + name + ": " + m
			case inFile:
				m = fmt.Sprintf("%s:%d: %s", path, line, m)
			case path != "":
				m = path + ": " + m
			}
			probs = append(probs, m)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return l, nil
}

// EnvName is the environment variable that overrides a configuration key:
// EIDASTATSD_ and the key in upper case with "_" for ".".
func EnvName(key string) string {
	return "EIDASTATSD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// decodeLineRE matches yaml.v3's "line N: message".
var decodeLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeProblem rewrites one yaml.v3 decoding error to name the key.
func decodeProblem(path, msg string, lineKey map[int]string) string {
	m := decodeLineRE.FindStringSubmatch(msg)
	if m == nil {
		return path + ": " + msg
	}
	line, _ := strconv.Atoi(m[1])
	if key := lineKey[line]; key != "" {
		return fmt.Sprintf("%s:%d: %s: %s", path, line, key, m[2])
	}
	return fmt.Sprintf("%s:%d: %s", path, line, m[2])
}

// leafProblem decodes one key's value alone into c and says what is wrong
// with it, or "" (c then has the value).
func leafProblem(key string, v *yaml.Node, c *config.Config) string {
	parent, _, nested := cutLast(key)
	if !slices.Contains(configKeys(), key) {
		if sub := childKeys(key); len(sub) > 0 {
			return "must be a mapping of " + strings.Join(sub, ", ")
		}
		if nested {
			return "unknown key (" + parent + " has: " + strings.Join(childKeys(parent), ", ") + ")"
		}
		return "unknown key (top-level keys: " + strings.Join(childKeys(""), ", ") + ")"
	}
	// Rebuild {a: {b: value}} around the value.
	doc := v
	parts := strings.Split(key, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		doc = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, doc}}
	}
	try := *c
	err := doc.Decode(&try)
	if err == nil {
		*c = try
		return ""
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if m := decodeLineRE.FindStringSubmatch(msg); m != nil {
			msg = m[2]
		}
		return msg
	}
	return err.Error()
}

func cutLast(key string) (string, string, bool) {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return "", key, false
	}
	return key[:i], key[i+1:], true
}

// childKeys lists the known keys directly under parent ("" for the top).
func childKeys(parent string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range configKeys() {
		rest := k
		if parent != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(k, parent+"."); !ok {
				continue
			}
		}
		name, _, _ := strings.Cut(rest, ".")
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// configKeys lists every configuration key, dotted, in declaration order.
func configKeys() []string {
	var n yaml.Node
	c := config.Default()
	if err := n.Encode(&c); err != nil {
		panic(err)
	}
	var keys []string
	walkYAML(&n, "", func(key string, _, _ *yaml.Node) { keys = append(keys, key) })
	return keys
}

// walkYAML calls f for every leaf key of the mappings under n (a key whose
// value is a mapping is descended into instead).
func walkYAML(n *yaml.Node, prefix string, f func(key string, k, v *yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkYAML(c, prefix, f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			if v.Kind == yaml.MappingNode {
				walkYAML(v, key, f)
				continue
			}
			f(key, k, v)
		}
	}
}

// seiscompHome is the home for ~ and @LOGDIR@ in SeisComP's configuration:
// $HOME when this process runs as the owner of $SEISCOMP_ROOT (fdsnws and
// eidastatsd are the same user), else "" so that seiscompcfg takes the
// owner's home from the password database (eidastatsd's own $HOME is
// /var/lib/eidastatsd under systemd, not where fdsnws writes).
func seiscompHome(env func(string) string) string {
	root := env("SEISCOMP_ROOT")
	if root == "" {
		root = seiscompcfg.DefaultRoot
	}
	fi, err := os.Stat(root)
	if err != nil {
		return env("HOME")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Getuid() {
		return env("HOME")
	}
	return ""
}

// newLogger makes the daemon's logger; its level is lv, which a reload
// changes live.
func newLogger(w io.Writer, c config.Logging, lv *slog.LevelVar) *slog.Logger {
	lv.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(s))
	return lvl
}

// printProblems prints a configuration error, one problem a line.
func printProblems(w io.Writer, prefix string, err error) {
	var p config.Problems
	if errors.As(err, &p) {
		for _, s := range p {
			fmt.Fprintln(w, prefix+s)
		}
		return
	}
	fmt.Fprintln(w, prefix+err.Error())
}

func runDaemon(ctx context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("run", "[--config FILE]", stdio)
	cfgPath := fs.String("config", "", "configuration file (default: built-in defaults, request log from SeisComP's fdsnws.cfg)")
	if _, code, ok := parseArgs(fs, args); !ok {
		return code
	}
	ld, err := loadConfig(*cfgPath, stdio)
	if err != nil {
		printProblems(stdio.Err, "eidastatsd: ", err)
		return ExitConfig
	}
	cfg := ld.cfg
	level := new(slog.LevelVar)
	log := newLogger(stdio.Err, cfg.Logging, level)
	if ld.seiscompErr != nil {
		log.Warn("log.path not set and not found in SeisComP's configuration: using the built-in default", "path", cfg.Log.Path, "seiscomp", ld.seiscompErr.Error())
	} else if src := ld.sources["log.path"]; strings.HasPrefix(src, "SeisComP ") {
		log.Info("request log from SeisComP's configuration", "path", cfg.Log.Path, "from", strings.TrimPrefix(src, "SeisComP "))
	}
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
	reloadToken := make(chan struct{}, 1) // SIGHUP: re-read the token
	if token == "" && cfg.Central.URL == "" {
		log.Warn("no token configured (central.token_file, $EIDASTATSD_TOKEN or the systemd credential 'token'): nothing is shipped until a token is configured")
	}
	switch {
	case cfg.Central.URL == "":
		log.Warn("central.url is empty: payloads stay in the spool and are not shipped", "spool", d.Spool().Dir("spool"))
	case token == "":
		log.Warn("no token configured (central.token_file, $EIDASTATSD_TOKEN or the systemd credential 'token'): nothing is shipped until a token is configured; payloads stay in the spool", "spool", d.Spool().Dir("spool"))
	default:
		log.Info("shipping to the central service", "url", redactURL(cfg.Central.URL), "token_from", tokenSrc)
		go superviseSender(ctx, cfg, stdio.Env, token, d, sm, readiness, reloadToken, log)
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
				select {
				case reloadToken <- struct{}{}:
				default:
				}
				reload(ld.cfg, *cfgPath, stdio, level, log, d)
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

	var runErr error
	go func() {
		defer close(done)
		runErr = d.Run(ctx)
	}()
	<-done
	_ = notify.Stopping()
	if runErr != nil {
		// systemd restarts on-failure; the last good checkpoint is used.
		log.Error("stopped; the state could not be saved", "err", runErr)
		return ExitFail
	}
	log.Info("stopped; state saved")
	return ExitOK
}

// senderOptions maps every central.* key to the sender.
func senderOptions(cfg *config.Config, token string, log *slog.Logger) sender.Options {
	return sender.Options{
		URL: cfg.Central.URL, Token: token, Timeout: time.Duration(cfg.Central.Timeout),
		MinBackoff: time.Duration(cfg.Central.MinBackoff), MaxBackoff: time.Duration(cfg.Central.MaxBackoff),
		TokenRefusedRetry: time.Duration(cfg.Central.TokenRefusedRetry), MaxRowsPerPayload: cfg.Central.MaxRowsPerPayload,
		Limits:   payload.Limits{Network: payload.DefaultLimits.Network, Station: cfg.Central.StationMaxLength, Location: payload.DefaultLimits.Location, Channel: payload.DefaultLimits.Channel},
		KeepSent: time.Duration(cfg.Central.KeepSent),
		Logger:   log,
	}
}

// superviseSender runs the sender until ctx ends, keeps the "token"
// readiness condition current, and restarts the sender with a new token
// when the token source (central.token_file, $EIDASTATSD_TOKEN, the systemd
// credential) holds another one: re-read on SIGHUP (reload) and, while the
// service refuses the token, every central.token_refused_retry. A restart
// interrupts at most a POST whose attempt is already recorded, so a resend
// is byte-identical and an "already exists" answer counts as delivered.
func superviseSender(ctx context.Context, cfg *config.Config, env func(string) string, token string, d *daemon.Daemon,
	sm *sender.Metrics, readiness *web.Readiness, reload <-chan struct{}, log *slog.Logger) {
	const readyEvery = time.Second
	recheck := time.Duration(cfg.Central.TokenRefusedRetry)
	for {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		s := sender.New(senderOptions(cfg, token, log), d.Spool(), sm)
		go func() {
			defer close(done)
			_ = s.Run(sctx, d.Wake())
		}()
		ready := time.NewTicker(readyEvery)
		lastCheck := time.Now()
		next := ""
		for next == "" {
			readiness.Set("token", !sm.TokenRefused(), "central service refuses the token")
			check := false
			select {
			case <-ctx.Done():
				ready.Stop()
				stop()
				<-done
				return
			case <-reload:
				check = true
			case <-ready.C:
				check = sm.TokenRefused() && time.Since(lastCheck) >= recheck
			}
			if !check {
				continue
			}
			lastCheck = time.Now()
			t, src, err := cfg.Token(env)
			switch {
			case err != nil:
				log.Error("cannot re-read the token; keeping the current one", "err", err)
			case t == "":
				log.Error("the token source is now empty; keeping the current token")
			case t != token:
				log.Info("token changed: restarting the sender with the new token", "token_from", src)
				next = t
			}
		}
		ready.Stop()
		stop()
		<-done
		token = next
	}
}

// reload re-reads the configuration on SIGHUP. A bad file is refused and
// the running configuration kept; a good one is applied where that is
// possible live (logging.level) and the settings that need a restart are
// named.
func reload(running *config.Config, path string, stdio Stdio, level *slog.LevelVar, log *slog.Logger, d *daemon.Daemon) {
	nl, err := loadConfig(path, stdio)
	if err != nil {
		d.ReloadResult(false)
		var p config.Problems
		if errors.As(err, &p) {
			log.Error("reload refused: configuration invalid, keeping the running one", "problems", []string(p))
		} else {
			log.Error("reload refused: configuration invalid, keeping the running one", "err", err)
		}
		return
	}
	d.ReloadResult(true)
	nc := nl.cfg
	if lv := parseLevel(nc.Logging.Level); lv != level.Level() {
		level.Set(lv)
		log.Warn("logging level changed", "level", nc.Logging.Level)
	}
	log.Debug("configuration re-read", "file", path)
	var restart []string
	for _, k := range nl.keys {
		if k == "logging.level" {
			continue
		}
		if configValue(running, k) != configValue(nc, k) {
			restart = append(restart, k)
		}
	}
	if len(restart) > 0 {
		log.Warn("configuration reloaded; these changes take effect at the next restart (systemctl restart eidastatsd)", "keys", restart)
	} else {
		log.Info("configuration reloaded")
	}
}

// configValue is one key's value, printed as YAML would.
func configValue(c *config.Config, key string) string {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return ""
	}
	var out string
	walkYAML(&n, "", func(k string, _, v *yaml.Node) {
		if k == key {
			out = v.Value
		}
	})
	return out
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

// configCommand parses `--config FILE` and loads the configuration for
// check-config and config; ok false means return code (problems printed).
func configCommand(name, synopsis, help string, args []string, stdio Stdio) (ld *loaded, code int, ok bool) {
	fs := newFlagSet(name, synopsis, stdio)
	cfgPath := fs.String("config", "", help)
	if _, code, ok := parseArgs(fs, args); !ok {
		return nil, code, false
	}
	ld, err := loadConfig(*cfgPath, stdio)
	if err != nil {
		printProblems(stdio.Err, "", err)
		return nil, ExitConfig, false
	}
	return ld, 0, true
}

func runCheckConfig(_ context.Context, args []string, stdio Stdio) int {
	ld, code, ok := configCommand("check-config", "--config FILE",
		"configuration file to check (without it: the built-in defaults with the request log from SeisComP)", args, stdio)
	if !ok {
		return code
	}
	if _, _, err := ld.cfg.Token(stdio.Env); err != nil {
		fmt.Fprintln(stdio.Err, err)
		return ExitConfig
	}
	fmt.Fprintln(stdio.Out, "configuration OK")
	return ExitOK
}

func runPrintConfig(_ context.Context, args []string, stdio Stdio) int {
	ld, code, ok := configCommand("config", "[--config FILE]", "configuration file", args, stdio)
	if !ok {
		return code
	}
	return printSourced(stdio.Out, ld, stdio.Env)
}

// printSourced prints the effective configuration as YAML, each value
// followed by where it came from, and the token's source (never the token).
func printSourced(w io.Writer, ld *loaded, env func(string) string) int {
	fmt.Fprintln(w, "# effective configuration; after each value, where it came from")
	if ld.seiscompErr != nil {
		fmt.Fprintf(w, "# log.path: not found in SeisComP's configuration (%v)\n", ld.seiscompErr)
	}
	token, src, err := ld.cfg.Token(env)
	switch {
	case err != nil:
		fmt.Fprintf(w, "# token: %v\n", err)
	case token == "":
		fmt.Fprintln(w, "# token: none (central.token_file, $EIDASTATSD_TOKEN or the systemd credential token): nothing is shipped until a token is configured")
	case src == "central.token_file":
		fmt.Fprintf(w, "# token: set (not shown), from file %s (central.token_file)\n", ld.cfg.Central.TokenFile)
	case src == "$EIDASTATSD_TOKEN":
		fmt.Fprintln(w, "# token: set (not shown), from environment $EIDASTATSD_TOKEN")
	default:
		fmt.Fprintf(w, "# token: set (not shown), from environment $CREDENTIALS_DIRECTORY/token (%s)\n", src)
	}
	var n yaml.Node
	if err := n.Encode(ld.cfg); err != nil {
		fmt.Fprintln(w, err)
		return ExitFail
	}
	walkYAML(&n, "", func(key string, _, v *yaml.Node) {
		v.LineComment = ld.sources[key]
	})
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		fmt.Fprintln(w, err)
		return ExitFail
	}
	if err := enc.Close(); err != nil {
		return ExitFail
	}
	return ExitOK
}
