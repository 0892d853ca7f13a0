// Package aggregate turns events into statistic rows (contract section 2):
// a Table of rows keyed by (month, network, station, location, channel,
// country) with counters and a unique-client HLL, plus the days it covers.
package aggregate

import (
	"encoding/binary"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/eida/eidastatsd/pkg/clients"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
	"github.com/eida/eidastatsd/pkg/payload"
)

// Key identifies a row.
type Key struct {
	Month                                        logline.Date // first of the month
	Network, Station, Location, Channel, Country string
}

// Row is one statistic.
type Row struct {
	Key
	Bytes, NbRequests, NbSuccessful, NbUnsuccessful int64
	Clients                                         clients.Set
	// lastRaw skips re-adding the client just added: one client usually
	// sends many requests in a row, and an HLL add is idempotent.
	lastRaw  uint64
	haveLast bool
}

func (r *Row) addClient(raw uint64) {
	if r.haveLast && r.lastRaw == raw {
		return
	}
	r.Clients.Add(raw)
	r.lastRaw, r.haveLast = raw, true
}

// Resolver extends temporary network codes (networks.Registry does).
type Resolver interface {
	Extend(code, startDate []byte) (string, networks.Result)
}

// Table accumulates rows. It is not safe for concurrent use; parallel
// workers each fill their own Table and Merge them.
type Table struct {
	rows   map[string]*Row
	days   map[logline.Date]struct{}
	keybuf []byte
	// Lines is the number of log lines read into this table (the
	// aggregation score's numerator).
	Lines int64
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{rows: map[string]*Row{}, days: map[logline.Date]struct{}{}}
}

// Add aggregates one parsed event and returns its number of contributions.
// Temporary codes are extended with res; a trace whose code has no covering
// epoch is dropped, and its reason appended to skipped.
func (t *Table) Add(ev *logline.Event, res Resolver, skipped []logline.Reason) (int, []logline.Reason) {
	month := ev.Date.MonthStart()
	raw := clients.Raw(ev.UserID)
	n := 0
	if !ev.OK {
		r := t.row(month, nil, nil, []byte("--"), nil, ev.Country)
		r.NbRequests++
		r.NbUnsuccessful++
		r.addClient(raw)
		n = 1
	} else {
		for i := range ev.Traces {
			tr := &ev.Traces[i]
			net := tr.Net
			if networks.IsTemporary(net) {
				ext, how := res.Extend(net, tr.Start)
				switch how {
				case networks.Extended:
					net = []byte(ext)
				case networks.BadDate:
					skipped = append(skipped, logline.ReasonTraceBadField)
					continue
				default:
					skipped = append(skipped, logline.ReasonUnknownNetwork)
					continue
				}
			}
			r := t.row(month, net, tr.Sta, tr.Loc, tr.Cha, ev.Country)
			r.Bytes += tr.Bytes
			r.NbRequests++
			r.NbSuccessful++
			r.addClient(raw)
			n++
		}
	}
	if n > 0 {
		t.days[ev.Date] = struct{}{}
	}
	return n, skipped
}

// row finds or creates the row for a key. The map key is a length-prefixed
// encoding so that no field value can collide with another split.
func (t *Table) row(month logline.Date, net, sta, loc, cha, country []byte) *Row {
	b := t.keybuf[:0]
	b = binary.AppendUvarint(b, uint64(month.Year*16+month.Month))
	for _, f := range [...][]byte{net, sta, loc, cha, country} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	t.keybuf = b
	if r, ok := t.rows[string(b)]; ok {
		return r
	}
	r := &Row{Key: Key{Month: month, Network: string(net), Station: string(sta),
		Location: string(loc), Channel: string(cha), Country: string(country)}}
	t.rows[string(b)] = r
	return r
}

// Merge adds o's rows, days and lines into t (o is left unusable).
func (t *Table) Merge(o *Table) {
	for k, r := range o.rows {
		if mine, ok := t.rows[k]; ok {
			mine.Bytes += r.Bytes
			mine.NbRequests += r.NbRequests
			mine.NbSuccessful += r.NbSuccessful
			mine.NbUnsuccessful += r.NbUnsuccessful
			mine.Clients.Union(&r.Clients)
		} else {
			t.rows[k] = r
		}
	}
	for d := range o.days {
		t.days[d] = struct{}{}
	}
	t.Lines += o.Lines
}

// Len is the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// Days returns the covered days, sorted.
func (t *Table) Days() []logline.Date {
	ds := make([]logline.Date, 0, len(t.days))
	for d := range t.days {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Before(ds[j]) })
	return ds
}

// Rows returns the rows sorted by key.
func (t *Table) Rows() []*Row {
	rs := make([]*Row, 0, len(t.rows))
	for _, r := range t.rows {
		rs = append(rs, r)
	}
	sortRows(rs, runtime.GOMAXPROCS(0))
	return rs
}

// sortRows sorts by key: a busy day has some 100,000 rows, so parts are
// sorted on separate cores and then merged.
func sortRows(rs []*Row, parts int) {
	cmp := func(a, b *Row) int { return a.Key.compare(&b.Key) }
	if parts < 2 || len(rs) < 8192 {
		slices.SortFunc(rs, cmp)
		return
	}
	half := len(rs) / 2
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sortRows(rs[:half], parts/2)
	}()
	sortRows(rs[half:], parts-parts/2)
	wg.Wait()
	merged := make([]*Row, 0, len(rs))
	a, b := rs[:half], rs[half:]
	for len(a) > 0 && len(b) > 0 {
		if cmp(b[0], a[0]) < 0 {
			merged, b = append(merged, b[0]), b[1:]
		} else {
			merged, a = append(merged, a[0]), a[1:]
		}
	}
	merged = append(append(merged, a...), b...)
	copy(rs, merged)
}

func (k *Key) compare(o *Key) int {
	if k.Month != o.Month {
		if k.Month.Before(o.Month) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(k.Network, o.Network); c != 0 {
		return c
	}
	if c := strings.Compare(k.Station, o.Station); c != 0 {
		return c
	}
	if c := strings.Compare(k.Location, o.Location); c != 0 {
		return c
	}
	if c := strings.Compare(k.Channel, o.Channel); c != 0 {
		return c
	}
	return strings.Compare(k.Country, o.Country)
}

// Score is the reference's aggregation_score: round(lines / rows), half to
// even; 0 without rows.
func Score(lines int64, rows int) int64 {
	if rows == 0 {
		return 0
	}
	return int64(math.RoundToEven(float64(lines) / float64(rows)))
}

// Payload renders the table (contract section 5).
func (t *Table) Payload(generatedAt, version string) *payload.Payload {
	p := &payload.Payload{
		GeneratedAt:      generatedAt,
		Version:          version,
		DaysCoverage:     []string{},
		AggregationScore: Score(t.Lines, len(t.rows)),
		Stats:            []payload.Row{},
	}
	for _, d := range t.Days() {
		p.DaysCoverage = append(p.DaysCoverage, d.String())
	}
	// Encoding the HLLs is most of the work: spread it over the cores.
	rows := t.Rows()
	p.Stats = make([]payload.Row, len(rows))
	workers := min(runtime.GOMAXPROCS(0), 1+len(rows)/4096)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(rows); i += workers {
				r := rows[i]
				p.Stats[i] = payload.Row{
					Month:                  r.Month.String(),
					Network:                r.Network,
					Station:                r.Station,
					Location:               r.Location,
					Channel:                r.Channel,
					Country:                r.Country,
					Bytes:                  r.Bytes,
					NbRequests:             r.NbRequests,
					NbSuccessfulRequests:   r.NbSuccessful,
					NbUnsuccessfulRequests: r.NbUnsuccessful,
					Clients:                r.Clients.Hex(),
				}
			}
		}(w)
	}
	wg.Wait()
	return p
}
