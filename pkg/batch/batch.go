// Package batch aggregates whole log streams using every core: the input is
// cut into chunks at line boundaries, each worker parses its chunks into its
// own table, and the tables are merged at the end. Aggregation is
// commutative, so the result is identical to reading line by line.
package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/logline"
)

// MaxLine is the longest line read (contract: never assume less than 16 MiB).
const MaxLine = 16 << 20

const chunkSize = 1 << 20

// Options tune a run.
type Options struct {
	Resolver aggregate.Resolver
	Workers  int // default GOMAXPROCS
	MaxLine  int // default MaxLine
}

type chunk struct {
	buf   *[]byte
	lines []byte // complete lines, each ending in '\n' except maybe the last at EOF
	long  []int64
	src   mapped // lines are part of this mapping, not of buf
}

// mapped is an input already in memory (input.Mapped): it is cut into
// chunks in place, and each chunk's pages are released once parsed.
type mapped interface {
	Bytes() []byte
	Release([]byte)
}

// errFault is a read of a mapped file that faulted: the file shrank.
var errFault = errors.New("input file truncated while being read")

// Run reads every input to its end and returns the merged table and counts.
// The table's Lines is the number of lines read, as the reference counts
// them for aggregation_score.
func Run(ctx context.Context, inputs []io.Reader, opts Options) (*aggregate.Table, aggregate.Counts, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxLine := opts.MaxLine
	if maxLine <= 0 {
		maxLine = MaxLine
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var faulted atomic.Bool
	pool := sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+4096); return &b }}
	work := make(chan chunk, workers*2)
	tables := make([]*aggregate.Table, workers)
	ings := make([]*aggregate.Ingester, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		tables[w] = aggregate.NewTable()
		ings[w] = aggregate.NewIngester(opts.Resolver)
		wg.Add(1)
		go func(t *aggregate.Table, in *aggregate.Ingester) {
			defer wg.Done()
			one := func(logline.Date, int) *aggregate.Table { return t }
			for c := range work {
				if c.src != nil && faulted.Load() {
					continue // the run failed: drain without touching the mapping
				}
				if err := guardFault(func() { parse(c, in, one, maxLine) }); err != nil {
					faulted.Store(true)
					cancel()
				}
				if c.src != nil {
					c.src.Release(c.lines)
				}
				if c.buf != nil {
					*c.buf = (*c.buf)[:0]
					pool.Put(c.buf)
				}
			}
		}(tables[w], ings[w])
	}

	var readErr error
	for _, r := range inputs {
		var err error
		if m, ok := r.(mapped); ok {
			if ferr := guardFault(func() { err = splitMapped(ctx, m, work) }); ferr != nil {
				err = ferr
			}
		} else {
			err = split(ctx, r, maxLine, &pool, work)
		}
		if err != nil {
			readErr = err
			break
		}
	}
	close(work)
	wg.Wait()
	if faulted.Load() {
		readErr = errFault
	}

	total := tables[0]
	counts := aggregate.NewCounts()
	for w := range tables {
		if w > 0 {
			total.Merge(tables[w])
		}
		counts.Add(ings[w].Counts)
	}
	total.Lines = counts.Lines
	return total, counts, readErr
}

// parse aggregates the lines of one chunk. A line longer than maxLine is
// only counted, whatever way it reached here.
func parse(c chunk, in *aggregate.Ingester, one func(logline.Date, int) *aggregate.Table, maxLine int) {
	for _, n := range c.long {
		in.TooLong(n)
	}
	b := c.lines
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		if len(line) > maxLine {
			in.TooLong(int64(len(line)))
			continue
		}
		in.Line(line, one)
	}
}

// guardFault runs f, turning a memory fault (a mapped file truncated under
// us) into errFault instead of a crash.
func guardFault(f func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			err = errFault
		}
	}()
	f()
	return nil
}

// splitMapped sends chunks of whole lines of an input in memory, cut at
// the first newline after every chunkSize bytes.
func splitMapped(ctx context.Context, m mapped, work chan<- chunk) error {
	data := m.Bytes()
	for len(data) > 0 {
		end := len(data)
		if end > chunkSize {
			if i := bytes.IndexByte(data[chunkSize:], '\n'); i >= 0 {
				end = chunkSize + i + 1
			}
		}
		select {
		case work <- chunk{lines: data[:end], src: m}:
		case <-ctx.Done():
			return ctx.Err()
		}
		data = data[end:]
	}
	return nil
}

// split reads r and sends chunks of whole lines. A line longer than maxLine
// is not buffered: it is skipped up to its newline and reported by length.
func split(ctx context.Context, r io.Reader, maxLine int, pool *sync.Pool, work chan<- chunk) error {
	bp := pool.Get().(*[]byte)
	buf := *bp
	var long []int64
	skipping := int64(-1) // >=0: inside an over-long line, bytes seen so far
	readBuf := make([]byte, chunkSize)
	flush := func(keepFrom int) {
		rest := append([]byte(nil), buf[keepFrom:]...)
		*bp = buf[:keepFrom]
		work <- chunk{buf: bp, lines: buf[:keepFrom], long: long}
		long = nil
		bp = pool.Get().(*[]byte)
		buf = append((*bp)[:0], rest...)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(readBuf)
		data := readBuf[:n]
		for len(data) > 0 {
			if skipping >= 0 {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					skipping += int64(len(data))
					data = nil
					break
				}
				long = append(long, skipping+int64(i))
				skipping = -1
				data = data[i+1:]
				continue
			}
			buf = append(buf, data...)
			data = nil
			last := bytes.LastIndexByte(buf, '\n')
			if last >= 0 && last+1 >= chunkSize {
				flush(last + 1)
				last = -1
			}
			// The unterminated tail is one line: drop it once it is too long.
			if len(buf)-(last+1) > maxLine {
				skipping = int64(len(buf) - (last + 1))
				buf = buf[:last+1]
			}
		}
		if err == io.EOF {
			if skipping >= 0 {
				long = append(long, skipping)
			}
			*bp = buf
			work <- chunk{buf: bp, lines: buf, long: long}
			return nil
		}
		if err != nil {
			*bp = buf
			work <- chunk{buf: bp, lines: buf, long: long}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("truncated input: %w", err)
			}
			return fmt.Errorf("read: %w", err)
		}
	}
}
