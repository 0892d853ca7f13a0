// Package cli implements eidastatsd's commands. Each command lives in its
// own file and registers itself; main only calls Main.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/eida/eidastatsd/pkg/buildinfo"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFail   = 1
	ExitUsage  = 2
	ExitConfig = 78 // EX_CONFIG: systemd's RestartPreventExitStatus
)

// Stdio is a command's environment.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
	Env      func(string) string
}

// Command is one subcommand.
type Command struct {
	Name, Summary string
	Run           func(ctx context.Context, args []string, stdio Stdio) int
}

var commands = map[string]Command{}

func register(c Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

func init() {
	register(Command{Name: "version", Summary: "print the version", Run: func(_ context.Context, _ []string, s Stdio) int {
		printVersion(s.Out)
		return ExitOK
	}})
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "eidastatsd %s (revision %s, %s)\n", buildinfo.Version, buildinfo.Revision(), buildinfo.GoVersion())
}

// Main runs the command named by args[0].
func Main(ctx context.Context, args []string, stdio Stdio) int {
	if stdio.Env == nil {
		stdio.Env = func(string) string { return "" }
	}
	if len(args) == 0 {
		usage(stdio.Err)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.Run(ctx, []string{"--help"}, stdio)
			}
		}
		usage(stdio.Out)
		return ExitOK
	case "-version", "--version", "-v":
		printVersion(stdio.Out)
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stdio.Err, "eidastatsd: unknown command %q\n\n", args[0])
		usage(stdio.Err)
		return ExitUsage
	}
	return c.Run(ctx, args[1:], stdio)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "eidastatsd: EIDA dataselect statistics from SeisComP's fdsnws request log\n\nUsage: eidastatsd COMMAND [OPTIONS]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintf(w, "\nRun 'eidastatsd COMMAND --help' for a command's options.\n")
}

// envToken is the CLI's token fallback, as the Python tool's: $TOKEN, then
// $EIDASTATSD_TOKEN (surrounding white space dropped).
func envToken(env func(string) string) string {
	for _, v := range []string{"TOKEN", "EIDASTATSD_TOKEN"} {
		if t := strings.TrimSpace(env(v)); t != "" {
			return t
		}
	}
	return ""
}

// parseArgs parses a command's flags (anywhere among the arguments) and
// returns the positional arguments. ok is false when the command must end
// now with code: 0 after --help, ExitUsage after a usage error (the flag
// package has printed it).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if isHelp(err) {
			return nil, ExitOK, false
		}
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

// parseInterspersed parses flags anywhere among the arguments, as the Python
// tool (click) allows: "aggregate a.log -o out b.log".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet makes a flag set whose usage names the command.
func newFlagSet(name, synopsis string, stdio Stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: eidastatsd %s %s\n\nOptions:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// isHelp reports a --help request (flag's ErrHelp).
func isHelp(err error) bool {
	return err == flag.ErrHelp || strings.Contains(err.Error(), "help requested")
}
