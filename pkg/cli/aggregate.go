package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"time"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/atomicfile"
	"github.com/eida/eidastatsd/pkg/batch"
	"github.com/eida/eidastatsd/pkg/buildinfo"
	"github.com/eida/eidastatsd/pkg/input"
	"github.com/eida/eidastatsd/pkg/networks"
	"github.com/eida/eidastatsd/pkg/payload"
)

// aggregateMemoryLimit is the default soft memory limit of aggregate.
const aggregateMemoryLimit = 200 << 20

// now is the clock for generated_at; tests replace it.
var now = time.Now

func init() {
	register(Command{Name: "aggregate", Summary: "aggregate log files into one payload file (replaces eida_stats_aggregator)", Run: runAggregate})
}

func runAggregate(ctx context.Context, args []string, stdio Stdio) int {
	fs := newFlagSet("aggregate", "[-o DIR] [--fdsn-networks FILE|URL] [--send-to URL --token TOKEN] [FILE ...]", stdio)
	outDir := "/tmp"
	fs.StringVar(&outDir, "o", outDir, "output directory (short for --output-directory)")
	fs.StringVar(&outDir, "output-directory", outDir, "directory to write <first day>_<last day>.json.gz to")
	registry := networks.DefaultRegistry
	fs.StringVar(&registry, "fdsn-networks", registry, "FDSN network registry: a URL or a local file in the registry's JSON shape")
	workers := fs.Int("workers", 0, "parallel parsers (default: number of CPUs)")
	sendTo := fs.String("send-to", "", "central statistics service URL to POST the result to")
	token := fs.String("token", "", "token for --send-to (default: $TOKEN or $EIDASTATSD_TOKEN)")
	files, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
		fmt.Fprintf(stdio.Err, "eidastatsd aggregate: output directory %q does not exist\n", outDir)
		return ExitUsage
	}
	tok := *token
	if tok == "" {
		tok = envToken(stdio.Env)
	}
	if *sendTo != "" && tok == "" {
		fmt.Fprintln(stdio.Err, "eidastatsd aggregate: --send-to needs a token (--token, $TOKEN or $EIDASTATSD_TOKEN)")
		return ExitUsage
	}

	// Memory: the GC runs only when the heap nears a soft limit (200 MiB),
	// not every time it doubles. A day's aggregation stays under the
	// limit (peak RSS about 170 MB for a busy day) with no GC cycle at
	// all, which saves a sixth of the CPU; a much larger input makes the
	// GC work harder instead of growing the process. GOMEMLIMIT or GOGC
	// set by the user win (GOMEMLIMIT alone keeps GOGC's default).
	if stdio.Env("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(aggregateMemoryLimit)
		if stdio.Env("GOGC") == "" {
			debug.SetGCPercent(-1)
		}
	}

	reg, err := networks.Load(ctx, &http.Client{Timeout: 2 * time.Minute}, registry)
	if err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd aggregate: %v\n(temporary network codes cannot be extended without the registry; use --fdsn-networks FILE for an offline copy)\n", err)
		return ExitFail
	}

	var readers []io.Reader
	for _, f := range files {
		rc, _, err := input.OpenMapped(f, stdio.In)
		if err != nil {
			fmt.Fprintf(stdio.Err, "eidastatsd aggregate: %v\n", err)
			return ExitFail
		}
		defer rc.Close()
		readers = append(readers, rc)
	}
	table, counts, err := batch.Run(ctx, readers, batch.Options{Resolver: reg, Workers: *workers})
	if err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd aggregate: %v\n", err)
		return ExitFail
	}
	if table.Len() == 0 {
		printSummary(stdio.Out, "", counts, table)
		fmt.Fprintln(stdio.Out, "no statistics in the input: nothing written")
		return ExitOK
	}
	p := table.Payload(now().UTC().Format(payload.TimeLayout), buildinfo.PayloadVersion())
	path := filepath.Join(outDir, p.DaysCoverage[0]+"_"+p.DaysCoverage[len(p.DaysCoverage)-1]+".json.gz")
	if err := atomicfile.WriteFunc(path, 0o644, p.WriteGzip); err != nil {
		fmt.Fprintf(stdio.Err, "eidastatsd aggregate: %v\n", err)
		return ExitFail
	}
	printSummary(stdio.Out, path, counts, table)
	if *sendTo != "" {
		return shipAggregate(ctx, stdio, *sendTo, tok, path)
	}
	return ExitOK
}

func printSummary(w io.Writer, path string, c aggregate.Counts, t *aggregate.Table) {
	if path != "" {
		fmt.Fprintln(w, path)
	}
	var contrib, skippedL, skippedT int64
	for _, v := range c.Contributions {
		contrib += v
	}
	for _, v := range c.SkippedLines {
		skippedL += v
	}
	for _, v := range c.SkippedTraces {
		skippedT += v
	}
	fmt.Fprintf(w, "lines read:      %d\n", c.Lines)
	fmt.Fprintf(w, "contributions:   %d\n", contrib)
	fmt.Fprintf(w, "rows:            %d\n", t.Len())
	fmt.Fprintf(w, "days:            %d\n", len(t.Days()))
	fmt.Fprintf(w, "skipped lines:   %d\n", skippedL)
	printReasons(w, c.SkippedLines)
	fmt.Fprintf(w, "skipped traces:  %d\n", skippedT)
	printReasons(w, c.SkippedTraces)
}

func printReasons[K ~string](w io.Writer, m map[K]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-26s %d\n", k+":", m[K(k)])
	}
}
