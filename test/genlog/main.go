// Command genlog writes a realistic, seedable SeisComP fdsnws request log
// for tests and benchmarks.
//
//	go run ./test/genlog -lines 300000 -days 1 -seed 1 -start 2024-03-01 -o out/day.log.bz2
//
// Output ending in .bz2 is piped through lbzip2 (else pbzip2, else bzip2);
// no -o or "-" writes plain text to stdout.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("genlog", flag.ContinueOnError)
	lines := fs.Int("lines", 10000, "lines per day")
	days := fs.Int("days", 1, "number of consecutive days")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same log")
	start := fs.String("start", "2024-03-01", "first day (UTC)")
	malformed := fs.Float64("malformed", 0.007, "fraction of malformed lines")
	out := fs.String("o", "-", "output file; .bz2 compresses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, *start)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	if *lines < 1 || *days < 1 {
		return errors.New("-lines and -days must be positive")
	}
	g := newGenerator(config{lines: *lines, days: *days, start: day, seed: *seed, malformed: *malformed})

	if *out == "-" {
		w := bufio.NewWriterSize(stdout, 1<<20)
		if err := g.run(w); err != nil {
			return err
		}
		return w.Flush()
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if !strings.HasSuffix(*out, ".bz2") {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := g.run(w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	}
	return compress(g, f)
}

// compress pipes the log through the fastest bzip2 compressor installed.
func compress(g *generator, f *os.File) error {
	var cmd *exec.Cmd
	for _, c := range [][]string{{"lbzip2", "-9"}, {"pbzip2", "-9"}, {"bzip2", "-9"}} {
		if p, err := exec.LookPath(c[0]); err == nil {
			cmd = exec.Command(p, append(c[1:], "-c")...)
			break
		}
	}
	if cmd == nil {
		return errors.New("no bzip2 compressor installed (apt-get install lbzip2)")
	}
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", cmd.Path, err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	genErr := g.run(w)
	if genErr == nil {
		genErr = w.Flush()
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", cmd.Path, err)
	}
	if genErr != nil {
		return genErr
	}
	return f.Close()
}
