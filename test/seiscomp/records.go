package seiscomp

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/eida/eidastatsd/pkg/input"
)

// Record is one log line with the time SeisComP would write it at: its
// `finished` time, never decreasing, so that a malformed line stays in the
// day file of the line before it.
type Record struct {
	Data     []byte
	Finished time.Time
}

var finishedRE = regexp.MustCompile(`"finished": "(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)`)

// ReadRecords reads a log (plain, gzip or bzip2). Lines before the first
// readable `finished` get the time first; a zero first drops them.
func ReadRecords(path string, first time.Time) ([]Record, error) {
	rc, _, err := input.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readRecords(rc, first)
}

func readRecords(r io.Reader, last time.Time) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<25)
	var out []Record
	for sc.Scan() {
		l := append([]byte(nil), sc.Bytes()...)
		if m := finishedRE.FindSubmatch(l); m != nil {
			if ts, err := time.Parse("2006-01-02T15:04:05", string(m[1])); err == nil && !ts.Before(last) {
				last = ts
			}
		}
		if last.IsZero() {
			continue // no day yet: nothing to rotate on
		}
		out = append(out, Record{Data: l, Finished: last})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return out, nil
}
