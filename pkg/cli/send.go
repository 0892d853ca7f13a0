package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/eida/eidastatsd/pkg/config"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/sender"
)

// DefaultSubmitURL is the production central service.
const DefaultSubmitURL = "https://ws.resif.fr/eidaws/statistics/1/submit"

func init() {
	register(Command{Name: "send", Summary: "send payload files to the central statistics service", Run: runSend})
}

func runSend(ctx context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("send", "[--config FILE] [--send-to URL] [--token TOKEN] PAYLOAD.json[.gz]...", stdio)
	cfgPath := fs.String("config", "", "read central.url, the token (central.token_file, $EIDASTATSD_TOKEN, systemd credential), "+
		"central.timeout, central.max_rows_per_payload and central.station_max_length from this configuration file; flags override it")
	url := fs.String("send-to", DefaultSubmitURL, "central statistics service submit URL")
	token := fs.String("token", "", "token (default: the --config token, else $TOKEN or $EIDASTATSD_TOKEN)")
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "timeout of one POST")
	attempts := fs.Int("attempts", 3, "POSTs per payload part on timeouts, 5xx, 408 and 429")
	maxRows := fs.Int("max-rows", sender.DefaultMaxRowsPerPayload, "split payloads with more rows (sorted by key); -1 never splits")
	station := fs.Int("station-limit", payload.DefaultLimits.Station, "longest station code the central schema stores")
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		fmt.Fprintln(stdio.Err, "eidastatsd send: no payload file given")
		fs.Usage()
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	tok := *token
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stdio.Err, "eidastatsd send: %v\n", err)
			return ExitConfig
		}
		if !set["send-to"] && cfg.Central.URL != "" {
			*url = cfg.Central.URL
		}
		if !set["timeout"] {
			*timeout = time.Duration(cfg.Central.Timeout)
		}
		if !set["max-rows"] {
			*maxRows = cfg.Central.MaxRowsPerPayload
		}
		if !set["station-limit"] {
			*station = cfg.Central.StationMaxLength
		}
		if tok == "" {
			t, _, err := cfg.Token(stdio.Env)
			if err != nil {
				fmt.Fprintf(stdio.Err, "eidastatsd send: %v\n", err)
				return ExitConfig
			}
			tok = t
		}
	}
	if tok == "" {
		tok = envToken(stdio.Env)
	}
	if tok == "" {
		fmt.Fprintln(stdio.Err, "eidastatsd send: no token (--token, --config's central.token_file, $TOKEN or $EIDASTATSD_TOKEN)")
		return ExitUsage
	}
	limits := payload.DefaultLimits
	limits.Station = *station
	return sendFiles(ctx, stdio, sender.Options{URL: *url, Token: tok, Timeout: *timeout, Attempts: *attempts,
		MaxRowsPerPayload: *maxRows, Limits: limits}, paths)
}

// ShipFile sends one payload file with default options (for aggregate
// --send-to) and returns the exit code.
func shipFile(ctx context.Context, stdio Stdio, url, token, path string) int {
	return sendFiles(ctx, stdio, sender.Options{URL: url, Token: token, Attempts: 3}, []string{path})
}

// sendFiles sends each file, reports per file on Out and returns 0 when all
// are on the server, 1 otherwise.
func sendFiles(ctx context.Context, stdio Stdio, o sender.Options, paths []string) int {
	o.Logger = slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.MinBackoff == 0 {
		o.MinBackoff = 5 * time.Second
	}
	s := sender.New(o, nil, nil)
	code := ExitOK
	for _, path := range paths {
		res, err := s.SendFile(ctx, path)
		if err != nil {
			fmt.Fprintf(stdio.Err, "%s: %v\n", path, err)
			code = ExitFail
			continue
		}
		report(stdio.Out, path, res)
		if !res.Outcome.Done() || len(res.Rejected) > 0 || res.Outcome == sender.NothingToSend {
			code = ExitFail
		}
	}
	return code
}

func report(w io.Writer, path string, res sender.FileResult) {
	for _, r := range res.Rejected {
		fmt.Fprintf(w, "%s: row rejected (%s %s/%s/%s/%s): %s: %s\n", path, r.Row.Month, r.Row.Network, r.Row.Station,
			r.Row.Location, r.Row.Channel, r.Field, r.Detail)
	}
	if res.Outcome == sender.NothingToSend {
		fmt.Fprintf(w, "%s: no valid row left, nothing sent\n", path)
		return
	}
	for i, o := range res.Parts {
		part := ""
		if len(res.Parts) > 1 {
			part = fmt.Sprintf(" part %d/%d", i+1, len(res.Parts))
		}
		switch o {
		case sender.Delivered:
			fmt.Fprintf(w, "%s%s: delivered\n", path, part)
		case sender.AlreadyThere:
			fmt.Fprintf(w, "%s%s: already on the central service, not counted again\n", path, part)
		case sender.TokenRefused:
			fmt.Fprintf(w, "%s%s: the central service refuses the token: %s\n", path, part, res.Answers[i])
		case sender.Retry:
			fmt.Fprintf(w, "%s%s: not delivered, try again later: %s\n", path, part, res.Answers[i])
		default:
			fmt.Fprintf(w, "%s%s: refused by the central service: %s\n", path, part, res.Answers[i])
		}
	}
}
