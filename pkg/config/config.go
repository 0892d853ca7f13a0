// Package config is eidastatsd's YAML configuration: defaults, strict
// decoding (unknown keys are errors) and validation with messages that name
// the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eida/eidastatsd/pkg/logline"
)

// Duration is a time.Duration written as "10m", "600s", "90d"... in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go durations plus a "d" (days) suffix.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML prints the duration back.
func (d Duration) MarshalYAML() (any, error) { return FormatDuration(time.Duration(d)), nil }

// ParseDuration parses Go durations and whole days ("90d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsAny(n, "hmsuµn") {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 10m, 2h, 90d)", s)
	}
	return v, nil
}

// FormatDuration prints whole days as "Nd".
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// Config is the whole file.
type Config struct {
	Log         Log         `yaml:"log"`
	StateDir    string      `yaml:"state_dir"`
	Aggregation Aggregation `yaml:"aggregation"`
	Networks    Networks    `yaml:"networks"`
	Central     Central     `yaml:"central"`
	HTTP        HTTP        `yaml:"http"`
	Logging     Logging     `yaml:"logging"`
}

// Log is the request log to follow.
type Log struct {
	Path          string   `yaml:"path"`
	BackfillSince string   `yaml:"backfill_since"`
	PollInterval  Duration `yaml:"poll_interval"`
}

// Aggregation tunes day sealing and checkpoints.
type Aggregation struct {
	Grace           Duration `yaml:"grace"`
	CheckpointEvery Duration `yaml:"checkpoint_every"`
}

// Networks is the FDSN registry.
type Networks struct {
	Registry string   `yaml:"registry"`
	Refresh  Duration `yaml:"refresh"`
}

// Central is the central statistics service.
type Central struct {
	URL               string   `yaml:"url"`
	TokenFile         string   `yaml:"token_file"`
	Timeout           Duration `yaml:"timeout"`
	KeepSent          Duration `yaml:"keep_sent"`
	MinBackoff        Duration `yaml:"min_backoff"`
	MaxBackoff        Duration `yaml:"max_backoff"`
	TokenRefusedRetry Duration `yaml:"token_refused_retry"`
	MaxRowsPerPayload int      `yaml:"max_rows_per_payload"`
	StationMaxLength  int      `yaml:"station_max_length"`
}

// HTTP is the metrics and health endpoint.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Logging is the daemon's own log.
type Logging struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default is the configuration without a file.
func Default() Config {
	return Config{
		Log:         Log{Path: "/home/sysop/seiscomp/var/log/fdsnws-requests.log", PollInterval: Duration(time.Second)},
		StateDir:    "/var/lib/eidastatsd",
		Aggregation: Aggregation{Grace: Duration(10 * time.Minute), CheckpointEvery: Duration(5 * time.Minute)},
		Networks:    Networks{Registry: "https://www.fdsn.org/ws/networks/1/query", Refresh: Duration(24 * time.Hour)},
		Central: Central{
			Timeout:           Duration(600 * time.Second),
			KeepSent:          Duration(90 * 24 * time.Hour),
			MinBackoff:        Duration(10 * time.Second),
			MaxBackoff:        Duration(time.Hour),
			TokenRefusedRetry: Duration(10 * time.Minute),
			MaxRowsPerPayload: 20000,
			StationMaxLength:  5,
		},
		HTTP:    HTTP{Listen: "127.0.0.1:9469"},
		Logging: Logging{Level: "info", Format: "text"},
	}
}

// Parse decodes YAML over the defaults, rejecting unknown keys, and
// validates the result.
func Parse(data []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty document (io.EOF) means all defaults.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Problems is every validation error, each naming its key.
type Problems []string

func (p Problems) Error() string {
	return "config: " + strings.Join(p, "; ")
}

// Validate checks every value; all problems are reported at once.
func (c *Config) Validate() error {
	var p Problems
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if c.Log.Path == "" {
		add("log.path: must be set (the fdsnws request log, requestLog in fdsnws.cfg)")
	}
	if c.Log.BackfillSince != "" {
		if _, ok := logline.ParseDate(c.Log.BackfillSince); !ok {
			add("log.backfill_since: %q is not a YYYY-MM-DD date", c.Log.BackfillSince)
		}
	}
	if c.Log.PollInterval < Duration(10*time.Millisecond) {
		add("log.poll_interval: must be at least 10ms")
	}
	if c.StateDir == "" {
		add("state_dir: must be set")
	}
	if c.Aggregation.Grace < 0 || c.Aggregation.Grace > Duration(24*time.Hour) {
		add("aggregation.grace: must be between 0 and 24h")
	}
	if c.Aggregation.CheckpointEvery < Duration(time.Second) {
		add("aggregation.checkpoint_every: must be at least 1s")
	}
	if c.Networks.Registry == "" {
		add("networks.registry: must be a URL or a file")
	} else if strings.Contains(c.Networks.Registry, "://") {
		if u, err := url.Parse(c.Networks.Registry); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("networks.registry: %q is not an http(s) URL", c.Networks.Registry)
		}
	}
	if c.Networks.Refresh < Duration(time.Minute) {
		add("networks.refresh: must be at least 1m")
	}
	if c.Central.URL != "" {
		if u, err := url.Parse(c.Central.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("central.url: %q is not an http(s) URL", c.Central.URL)
		}
	}
	if c.Central.Timeout <= 0 {
		add("central.timeout: must be positive")
	}
	if c.Central.KeepSent < 0 {
		add("central.keep_sent: must not be negative")
	}
	if c.Central.MinBackoff <= 0 || c.Central.MaxBackoff < c.Central.MinBackoff {
		add("central.min_backoff/max_backoff: need 0 < min_backoff <= max_backoff")
	}
	if c.Central.TokenRefusedRetry <= 0 {
		add("central.token_refused_retry: must be positive")
	}
	if c.Central.MaxRowsPerPayload < 1 {
		add("central.max_rows_per_payload: must be at least 1")
	}
	if c.Central.StationMaxLength < 1 {
		add("central.station_max_length: must be at least 1")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil && c.HTTP.Listen != "" {
		add("http.listen: %q is not host:port", c.HTTP.Listen)
	}
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		add("logging.level: %q is not one of debug, info, warn, error", c.Logging.Level)
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		add("logging.format: %q is not text or json", c.Logging.Format)
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// Token reads the central token: central.token_file, else
// $EIDASTATSD_TOKEN, else systemd's credential $CREDENTIALS_DIRECTORY/token.
// "" means no token (nothing is shipped).
func (c *Config) Token(env func(string) string) (string, string, error) {
	if c.Central.TokenFile != "" {
		b, err := os.ReadFile(c.Central.TokenFile)
		if err != nil {
			return "", "", fmt.Errorf("central.token_file: %w", err)
		}
		return strings.TrimSpace(string(b)), "central.token_file", nil
	}
	if t := env("EIDASTATSD_TOKEN"); t != "" {
		return strings.TrimSpace(t), "$EIDASTATSD_TOKEN", nil
	}
	if d := env("CREDENTIALS_DIRECTORY"); d != "" {
		if b, err := os.ReadFile(d + "/token"); err == nil {
			return strings.TrimSpace(string(b)), "systemd credential token", nil
		}
	}
	return "", "", nil
}
