package aggregate

import (
	"github.com/eida/eidastatsd/pkg/logline"
)

// Counts are what reading produced, for the summary and the metrics.
type Counts struct {
	Lines         int64
	Bytes         int64
	Contributions map[string]int64 // by request status: OK, NODATA, DENIED, ERROR, other
	SkippedLines  map[logline.Reason]int64
	SkippedTraces map[logline.Reason]int64
}

// NewCounts returns zeroed counts.
func NewCounts() Counts {
	return Counts{
		Contributions: map[string]int64{},
		SkippedLines:  map[logline.Reason]int64{},
		SkippedTraces: map[logline.Reason]int64{},
	}
}

// Add adds o into c.
func (c *Counts) Add(o Counts) {
	c.Lines += o.Lines
	c.Bytes += o.Bytes
	for k, v := range o.Contributions {
		c.Contributions[k] += v
	}
	for k, v := range o.SkippedLines {
		c.SkippedLines[k] += v
	}
	for k, v := range o.SkippedTraces {
		c.SkippedTraces[k] += v
	}
}

// StatusLabel bounds the status label set for metrics.
func StatusLabel(status []byte) string {
	switch string(status) {
	case "OK":
		return "OK"
	case "NODATA":
		return "NODATA"
	case "DENIED":
		return "DENIED"
	case "ERROR":
		return "ERROR"
	}
	return "other"
}

// Ingester parses lines and adds them to tables.
type Ingester struct {
	Parser   logline.Parser
	Resolver Resolver
	Counts   Counts
	skipped  []logline.Reason
}

// NewIngester returns an ingester extending codes with res.
func NewIngester(res Resolver) *Ingester {
	return &Ingester{Resolver: res, Counts: NewCounts()}
}

// ReasonDayShipped: the line's day was already shipped by an earlier run
// whose state is gone; adding it again would count it twice.
const ReasonDayShipped logline.Reason = "day_already_shipped"

// Line reads one line (without its newline) into the table tableFor picks
// for the event's date and time of day; a nil table skips the line as
// ReasonDayShipped. It returns the parsed event (valid until the next call),
// or nil for a skipped line.
func (in *Ingester) Line(line []byte, tableFor func(logline.Date, int) *Table) *logline.Event {
	in.Counts.Lines++
	in.Counts.Bytes += int64(len(line)) + 1
	ev, reason := in.Parser.Parse(line)
	if reason != "" {
		in.Counts.SkippedLines[reason]++
		return nil
	}
	t := tableFor(ev.Date, ev.Second)
	if t == nil {
		in.Counts.SkippedLines[ReasonDayShipped]++
		return nil
	}
	in.skipped = append(in.skipped[:0], ev.SkippedTraces...)
	n, skipped := t.Add(ev, in.Resolver, in.skipped)
	in.skipped = skipped
	for _, r := range skipped {
		in.Counts.SkippedTraces[r]++
	}
	if n > 0 {
		in.Counts.Contributions[StatusLabel(ev.Status)] += int64(n)
	}
	t.Lines++
	return ev
}

// TooLong counts a line that exceeded the maximum length.
func (in *Ingester) TooLong(length int64) {
	in.Counts.Lines++
	in.Counts.Bytes += length + 1
	in.Counts.SkippedLines[logline.ReasonTooLong]++
}
