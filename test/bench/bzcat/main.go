// Command bzcat decompresses bzip2 files (or stdin) to stdout with
// pkg/bzip2par, so bench.sh can time the reader alone against lbzip2.
//
//	bzcat [-workers N] [FILE...]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/eida/eidastatsd/pkg/bzip2par"
)

func main() {
	workers := flag.Int("workers", 0, "decoding goroutines (0: GOMAXPROCS)")
	flag.Parse()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	files := flag.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		if err := cat(out, name, *workers); err != nil {
			fmt.Fprintln(os.Stderr, "bzcat:", err)
			os.Exit(1)
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "bzcat:", err)
		os.Exit(1)
	}
}

func cat(w io.Writer, name string, workers int) error {
	in := os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	z := bzip2par.NewReader(in, workers)
	defer z.Close()
	if _, err := io.Copy(w, z); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
