package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// The proportions below follow the real GFZ sample (testdata
// gfz-2020-09-18.log) and the synthetic edge-case log: mostly ObsPy clients
// fetching three components, a large share of NODATA answers (half of them
// without trace), DENIED traces inside OK requests, rare huge wildcard
// requests, temporary networks whose trace start dates fall inside and
// outside their registry epochs.

// config is what the flags set.
type config struct {
	lines     int       // lines per day
	days      int       // consecutive days
	start     time.Time // first day, UTC midnight
	seed      uint64
	malformed float64 // fraction of malformed lines
}

type network struct {
	code     string
	weight   int
	stations []string
	// epochs for temporary networks (from testdata/fdsn-networks.json); the
	// generator puts trace start dates inside them, and some just outside.
	epochs [][2]string
}

var networks = func() []network {
	ns := []network{
		{code: "CX", weight: 30}, {code: "GE", weight: 25}, {code: "FR", weight: 12},
		{code: "IA", weight: 6}, {code: "NU", weight: 4}, {code: "AW", weight: 2},
		{code: "3D", weight: 5, epochs: [][2]string{{"2014-06-01", "2016-12-31"}}},
		{code: "8F", weight: 3, epochs: [][2]string{{"2005-01-01", "2009-12-31"}}},
		{code: "Z3", weight: 4, epochs: [][2]string{{"2015-01-01", "2020-12-31"}, {"1998-03-01", "2001-06-30"}}},
		{code: "XX", weight: 1, epochs: [][2]string{{"2019-06-01", "2021-05-31"}}},
		{code: "YP", weight: 1, epochs: [][2]string{{"2012-01-01", "2013-12-31"}}},
		{code: "ZO", weight: 2, epochs: [][2]string{{"2008-01-01", "2014-12-31"}}},
		{code: "7C", weight: 1, epochs: [][2]string{{"2024-09-01", "2027-12-31"}}},
		{code: "4P", weight: 2, epochs: [][2]string{{"2022-01-01", "2026-12-31"}}},
		{code: "9H", weight: 1, epochs: [][2]string{{"2016-05-01", "2016-12-31"}}},
	}
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: station names do not vary with -seed
	for i := range ns {
		n := 5 + rng.IntN(40)
		for range n {
			ns[i].stations = append(ns[i].stations, stationName(rng))
		}
	}
	return ns
}()

func stationName(rng *rand.Rand) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	switch rng.IntN(3) {
	case 0: // PB11, MA03
		return string([]byte{letters[rng.IntN(26)], letters[rng.IntN(26)]}) + fmt.Sprintf("%02d", rng.IntN(30))
	case 1: // EIL, STU
		return string([]byte{letters[rng.IntN(26)], letters[rng.IntN(26)], letters[rng.IntN(26)]})
	default: // CIEL, SNAA
		return string([]byte{letters[rng.IntN(26)], letters[rng.IntN(26)], letters[rng.IntN(26)], letters[rng.IntN(26)]})
	}
}

var countries = []struct {
	code   string
	weight int
}{
	{"DE", 18}, {"FR", 14}, {"IT", 11}, {"US", 10}, {"ID", 8}, {"CH", 6}, {"TW", 5},
	{"GR", 5}, {"NL", 4}, {"CN", 4}, {"ES", 3}, {"JP", 3}, {"GB", 3}, {"TR", 2},
	{"IN", 2}, {"PT", 1}, {"BR", 1}, {"AT", 1}, {"CA", 1}, {"NO", 1}, {"CL", 1},
	{"RO", 1}, {"CZ", 1},
}

var clientIDs = []struct {
	id     string
	weight int
}{
	{"ObsPy/1.2.2 (Windows-10-10.0.18362-SP0, Python 3.7.8)", 20},
	{"ObsPy/1.4.0 (Linux-6.1.0-x86_64-with-glibc2.36, Python 3.11.2)", 20},
	{"ObsPy/1.1.0 (Linux-5.4.0-42-generic-x86_64-with-debian-bullseye-sid, Python 3.7.", 8},
	{"IRISDMC DataCenterMeasure/2019.136 Perl/5.018004 libwww-perl/6.13", 10},
	{"FetchData/2017.164 Perl/5.016003 libwww-perl/6.15", 5},
	{"fdsnws_fetch/2020.3", 6},
	{"SeisComP/5.3.0", 5},
	{"python-requests/2.32.5", 4},
	{"curl/7.88.1", 3},
	{"fdsnws", 3}, // what SeisComP writes when there is no User-Agent
	{`Mozilla/5.0 (X11; Linux x86_64) "quoted" ünïcode`, 1},
}

// user is one client: its userID, country and tool stay the same all run.
type user struct {
	id       string // JSON text of userID: usually a number, rarely a string
	location string // JSON text of userLocation
	client   string // JSON text of clientID
	email    string // JSON text of userEmail
}

type generator struct {
	cfg   config
	rng   *rand.Rand
	users []user
	zipf  *rand.Zipf
	netW  []int
	ctyW  []int
	cliW  []int
	buf   []byte
}

func newGenerator(cfg config) *generator {
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 0x6e6c6f67))}
	for _, n := range networks {
		g.netW = append(g.netW, n.weight)
	}
	for _, c := range countries {
		g.ctyW = append(g.ctyW, c.weight)
	}
	for _, c := range clientIDs {
		g.cliW = append(g.cliW, c.weight)
	}
	nUsers := max(50, cfg.lines/100)
	for range nUsers {
		g.users = append(g.users, g.newUser())
	}
	// Few heavy users, a long tail of occasional ones.
	g.zipf = rand.NewZipf(g.rng, 1.2, 10, uint64(nUsers-1))
	return g
}

func pick(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := rng.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func (g *generator) newUser() user {
	u := user{email: "null"}
	u.id = strconv.FormatUint(uint64(g.rng.Uint32()), 10)
	if g.rng.IntN(500) == 0 {
		u.id = "0"
	}
	switch x := g.rng.IntN(100); {
	case x < 2:
		u.location = `{"country": "` + countries[pick(g.rng, g.ctyW)].code + `", "institution": "GFZ"}`
	default:
		u.location = `{"country": "` + countries[pick(g.rng, g.ctyW)].code + `"}`
	}
	u.client = jsonString(clientIDs[pick(g.rng, g.cliW)].id)
	if g.rng.IntN(100) < 2 {
		u.email = jsonString(fmt.Sprintf("user%d@example.org", g.rng.IntN(1000)))
	}
	return u
}

// edgeCases varies a request's userID and userLocation the rare ways the
// contract lists.
func (g *generator) edgeCases(u user) user {
	switch x := g.rng.IntN(1000); {
	case x < 3: // string userIDs occur in hand-made or converted logs
		u.id = `"` + u.id + `"`
	case x < 33: // no GeoIP module
		u.location = "{}"
	case x < 43: // GeoIP lookup failed
		u.location = `{"country": null}`
	}
	return u
}

// run writes all days to w.
func (g *generator) run(w io.Writer) error {
	var last time.Time
	for d := range g.cfg.days {
		day := g.cfg.start.AddDate(0, 0, d)
		step := float64(24*time.Hour) / float64(g.cfg.lines)
		for i := range g.cfg.lines {
			// Sorted offsets keep finished non-decreasing through the day.
			fin := day.Add(time.Duration((float64(i) + g.rng.Float64()) * step)).Truncate(time.Microsecond)
			// Whole seconds give the fraction-less form; only where that
			// keeps finished non-decreasing.
			if whole := fin.Truncate(time.Second); g.rng.IntN(100) == 0 && !whole.Before(last) {
				fin = whole
			}
			last = fin
			g.buf = g.line(g.buf[:0], fin)
			if _, err := w.Write(g.buf); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
	return nil
}

// line appends one log line (a request, or a malformed line) ending in \n.
func (g *generator) line(b []byte, fin time.Time) []byte {
	if g.rng.Float64() < g.cfg.malformed {
		return g.malformed(b, fin)
	}
	return append(g.request(b, fin, false), '\n')
}

func (g *generator) malformed(b []byte, fin time.Time) []byte {
	switch g.rng.IntN(6) {
	case 0:
		return append(b, '\n')
	case 1:
		return append(b, "this is not json\n"...)
	case 2: // a line cut short, as after a crash of fdsnws
		start := len(b)
		b = g.request(b, fin, false)
		return append(b[:start+1+g.rng.IntN(len(b)-start-1)], '\n')
	case 3: // the next record glued to a broken line
		start := len(b)
		b = g.request(b, fin, false)
		b = b[:start+1+g.rng.IntN(len(b)-start-1)]
		return append(g.request(b, fin, false), '\n')
	case 4: // JSON, but not an object
		return append(b, "[1, 2, 3]\n"...)
	default: // an object missing a required field
		return append(g.request(b, fin, true), '\n')
	}
}

func appendTime(b []byte, t time.Time) []byte {
	// SeisComP omits the fraction when the microseconds are zero.
	if t.Nanosecond() == 0 {
		return t.AppendFormat(b, "2006-01-02T15:04:05Z")
	}
	return t.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
}

func (g *generator) request(b []byte, fin time.Time, dropLocation bool) []byte {
	u := g.edgeCases(g.users[g.zipf.Uint64()])
	created := fin.Add(-time.Duration(g.rng.ExpFloat64() * float64(800*time.Millisecond))).Truncate(time.Microsecond)

	var status string
	switch x := g.rng.IntN(100); {
	case x < 60:
		status = "OK"
	case x < 95:
		status = "NODATA"
	case x < 98:
		status = "DENIED"
	default:
		status = "ERROR"
	}
	withTrace := !(status == "NODATA" && g.rng.IntN(2) == 0)
	b = append(b, `{"clientID": `...)
	b = append(b, u.client...)
	b = append(b, `, "finished": "`...)
	b = appendTime(b, fin)
	if !dropLocation {
		b = append(b, `", "userLocation": `...)
		b = append(b, u.location...)
		b = append(b, `, "created": "`...)
	} else {
		b = append(b, `", "created": "`...)
	}
	b = appendTime(b, created)
	b = append(b, `", "bytes": `...)
	bytesAt := len(b)
	b = append(b, `, "service": "fdsnws-dataselect", "userEmail": `...)
	b = append(b, u.email...)
	var total int64
	if withTrace {
		b = append(b, `, "trace": [`...)
		b, total = g.traces(b, status)
		b = append(b, ']')
	}
	b = append(b, `, "status": "`...)
	b = append(b, status...)
	b = append(b, `", "userID": `...)
	b = append(b, u.id...)
	b = append(b, '}')
	// Insert the total now that the traces are known.
	num := strconv.AppendInt(nil, total, 10)
	b = append(b, num...)
	copy(b[bytesAt+len(num):], b[bytesAt:len(b)-len(num)])
	copy(b[bytesAt:], num)
	return b
}

// traceCount follows the sample: mostly three components, some single
// channels, a few wildcard requests with tens to hundreds of channels.
func (g *generator) traceCount() int {
	switch x := g.rng.IntN(1000); {
	case x < 250:
		return 1
	case x < 750:
		return 3
	case x < 940:
		return 2 + g.rng.IntN(10)
	case x < 995:
		return 12 + g.rng.IntN(40)
	default:
		return 52 + g.rng.IntN(250)
	}
}

func (g *generator) traces(b []byte, status string) ([]byte, int64) {
	n := g.traceCount()
	net := &networks[pick(g.rng, g.netW)]
	sta := net.stations[g.rng.IntN(len(net.stations))]
	start := g.traceStart(net)
	dur := time.Duration(1+g.rng.IntN(7200)) * time.Second
	loc := ""
	if g.rng.IntN(10) == 0 {
		loc = "00"
	}
	band := "BH"
	if g.rng.IntN(3) == 0 {
		band = "HH"
	}
	form := g.rng.IntN(3)
	var total int64
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
			if i%3 == 0 { // wildcard requests span stations
				sta = net.stations[g.rng.IntN(len(net.stations))]
			}
		}
		ts := "OK"
		restricted := false
		switch status {
		case "NODATA":
			ts = "NODATA"
			if g.rng.IntN(5) == 0 {
				ts, restricted = "DENIED", true
			}
		case "DENIED":
			ts, restricted = "DENIED", true
		default:
			switch x := g.rng.IntN(100); {
			case x < 7:
				ts = "NODATA"
			case x < 13:
				ts, restricted = "DENIED", true
			}
		}
		var nb int64
		if ts == "OK" {
			nb = int64(512 * (1 + g.rng.IntN(400)))
		}
		total += nb
		b = append(b, `{"cha": "`...)
		b = append(b, band...)
		b = append(b, "ZNE"[i%3])
		b = append(b, `", "sta": "`...)
		b = append(b, sta...)
		b = append(b, `", "start": "`...)
		b = appendTraceTime(b, start, form)
		b = append(b, `", "net": "`...)
		b = append(b, net.code...)
		b = append(b, `", "restricted": `...)
		b = strconv.AppendBool(b, restricted)
		b = append(b, `, "loc": "`...)
		b = append(b, loc...)
		b = append(b, `", "bytes": `...)
		b = strconv.AppendInt(b, nb, 10)
		b = append(b, `, "status": "`...)
		b = append(b, ts...)
		b = append(b, `", "end": "`...)
		b = appendTraceTime(b, start.Add(dur), form)
		b = append(b, `"}`...)
	}
	return b, total
}

// appendTraceTime writes the three forms seen in trace start/end.
func appendTraceTime(b []byte, t time.Time, form int) []byte {
	switch form {
	case 0:
		return t.AppendFormat(b, "2006-01-02T15:04:05.0000Z")
	case 1:
		return t.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	default:
		return append(t.AppendFormat(b, "2006-01-02T15:04:05"), ".5Z"...)
	}
}

// traceStart picks the requested data's start time. Temporary networks get
// dates inside an epoch, or in 15% of cases within a few days outside it
// (those traces are dropped by the aggregator).
func (g *generator) traceStart(net *network) time.Time {
	if len(net.epochs) == 0 {
		from := time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)
		return from.Add(time.Duration(g.rng.Int64N(int64(27 * 365 * 24 * time.Hour)))).Truncate(time.Microsecond)
	}
	ep := net.epochs[g.rng.IntN(len(net.epochs))]
	lo, _ := time.Parse(time.DateOnly, ep[0])
	hi, _ := time.Parse(time.DateOnly, ep[1])
	hi = hi.Add(24*time.Hour - time.Microsecond) // end_date is inclusive
	switch x := g.rng.IntN(100); {
	case x < 5: // on the epoch edges
		if g.rng.IntN(2) == 0 {
			return lo
		}
		return hi.Truncate(time.Second)
	case x < 10:
		return lo.Add(-time.Duration(1+g.rng.IntN(72)) * time.Hour)
	case x < 15:
		return hi.Add(time.Duration(1+g.rng.IntN(72)) * time.Hour)
	default:
		return lo.Add(time.Duration(g.rng.Int64N(int64(hi.Sub(lo))))).Truncate(time.Microsecond)
	}
}
