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

// Row is one statistic. The fields every request touches come first, so
// that they share a cache line or two: a day's table is larger than the
// CPU caches, and adding to a row is mostly waiting for its memory.
type Row struct {
	Bytes, NbRequests, NbSuccessful, NbUnsuccessful int64
	// lastRaw skips re-adding the client just added: one client usually
	// sends many requests in a row, and an HLL add is idempotent.
	lastRaw  uint64
	haveLast bool
	key      rowKey // the index's key, here to share the row's cache lines
	Clients  clients.Set
	Key
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
	index rowIndex
	days  map[logline.Date]struct{}
	// lastDay skips the days map for the common case of a line of the
	// same day as the one before.
	lastDay     logline.Date
	haveLastDay bool
	pend        []pending
	// touched sums what Add reads ahead, so that the reads are not
	// optimised away.
	touched uint64
	keybuf  []byte
	// Lines is the number of log lines read into this table (the
	// aggregation score's numerator).
	Lines int64
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{index: newRowIndex(), days: map[logline.Date]struct{}{}}
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
		// In three passes, so that the memory reads of the traces overlap
		// instead of each waiting for the one before: keys and hashes,
		// then the index slots, then the rows. A busy day's rows do not
		// fit in the CPU caches; this is where aggregating waits.
		pend := t.pend[:0]
		b := t.keybuf[:0]
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
			start := len(b)
			b = appendKey(b, month, net, tr.Sta, tr.Loc, tr.Cha, ev.Country)
			pend = append(pend, pending{tr: tr, net: net, start: start, end: len(b)})
		}
		t.keybuf = b
		var touch uint64
		for i := range pend {
			pend[i].h = t.index.hash(b[pend[i].start:pend[i].end])
			touch += t.index.peek(pend[i].h)
		}
		for i := range pend {
			p := &pend[i]
			r := t.index.find(b[p.start:p.end], p.h)
			if r == nil {
				r = t.newRow(b[p.start:p.end], p.h, month, p.net, p.tr.Sta, p.tr.Loc, p.tr.Cha, ev.Country)
			}
			p.row = r
		}
		t.touched += touch
		for i := range pend {
			r := pend[i].row
			r.Bytes += pend[i].tr.Bytes
			r.NbRequests++
			r.NbSuccessful++
			r.addClient(raw)
			pend[i] = pending{}
		}
		t.pend = pend[:0]
		n = len(pend)
	}
	if n > 0 && (!t.haveLastDay || ev.Date != t.lastDay) {
		t.days[ev.Date] = struct{}{}
		t.lastDay, t.haveLastDay = ev.Date, true
	}
	return n, skipped
}

// pending is one trace of the event Add is adding.
type pending struct {
	tr         *logline.Trace
	net        []byte // extended if temporary
	start, end int    // its key in keybuf
	h          uint64
	row        *Row
}

// appendKey appends a row's index key: a length-prefixed encoding, so that
// no field value can collide with another split.
func appendKey(b []byte, month logline.Date, net, sta, loc, cha, country []byte) []byte {
	b = binary.AppendUvarint(b, uint64(month.Year*16+month.Month))
	for _, f := range [...][]byte{net, sta, loc, cha, country} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// row finds or creates the row for a key.
func (t *Table) row(month logline.Date, net, sta, loc, cha, country []byte) *Row {
	b := appendKey(t.keybuf[:0], month, net, sta, loc, cha, country)
	t.keybuf = b
	h := t.index.hash(b)
	if r := t.index.find(b, h); r != nil {
		return r
	}
	return t.newRow(b, h, month, net, sta, loc, cha, country)
}

// newRow adds the row of key (hash h), which is not in the table.
func (t *Table) newRow(key []byte, h uint64, month logline.Date, net, sta, loc, cha, country []byte) *Row {
	r := &Row{Key: Key{Month: month, Network: string(net), Station: string(sta),
		Location: string(loc), Channel: string(cha), Country: string(country)}}
	r.key.set(key)
	t.index.insert(r, h)
	return r
}

// Merge adds o's rows, days and lines into t (o is left unusable).
func (t *Table) Merge(o *Table) {
	for _, r := range o.index.rows {
		k := r.key.bytes()
		h := t.index.hash(k)
		if mine := t.index.find(k, h); mine != nil {
			mine.Bytes += r.Bytes
			mine.NbRequests += r.NbRequests
			mine.NbSuccessful += r.NbSuccessful
			mine.NbUnsuccessful += r.NbUnsuccessful
			mine.Clients.Union(&r.Clients)
		} else {
			t.index.insert(r, h)
		}
	}
	for d := range o.days {
		t.days[d] = struct{}{}
	}
	t.Lines += o.Lines
}

// Len is the number of rows.
func (t *Table) Len() int { return len(t.index.rows) }

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
	rs := slices.Clone(t.index.rows)
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
		AggregationScore: Score(t.Lines, t.Len()),
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
