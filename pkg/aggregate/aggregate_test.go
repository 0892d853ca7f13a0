package aggregate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/eida/eidastatsd/pkg/clients"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
	"github.com/eida/eidastatsd/pkg/payload"
)

var registry = func() *networks.Registry {
	r, err := networks.Parse([]byte(`{"networks": [{"fdsn_code": "Z3", "start_date": "2015-01-01", "end_date": "2020-12-31"}]}`))
	if err != nil {
		panic(err)
	}
	return r
}()

func line(status, country string, uid any, finished string, traces ...string) string {
	c := `{}`
	if country != "-" {
		c = fmt.Sprintf(`{"country": %s}`, country)
	}
	tr := ""
	if traces != nil {
		tr = `, "trace": [` + strings.Join(traces, ", ") + `]`
	}
	return fmt.Sprintf(`{"status": %q, "userID": %v, "userLocation": %s, "finished": %q%s}`, status, uid, c, finished, tr)
}

func trace(net, sta, loc, cha, start, status string, n int) string {
	return fmt.Sprintf(`{"net": %q, "sta": %q, "loc": %q, "cha": %q, "start": %q, "status": %q, "bytes": %d}`, net, sta, loc, cha, start, status, n)
}

func run(lines ...string) (*payload.Payload, Counts) {
	in := NewIngester(registry)
	t := NewTable()
	for _, l := range lines {
		in.Line([]byte(l), func(logline.Date, int) *Table { return t })
	}
	t.Lines = in.Counts.Lines
	return t.Payload("2025-01-01 00:00:00", "test"), in.Counts
}

func hll(uids ...string) string {
	var s clients.Set
	for _, u := range uids {
		s.AddUserID([]byte(u))
	}
	return s.Hex()
}

func TestRules(t *testing.T) {
	p, c := run(
		// OK request: one contribution per OK trace; DENIED trace ignored.
		line("OK", `"FR"`, 1, "2024-03-03T10:00:00Z",
			trace("FR", "CIEL", "00", "HHZ", "2010-01-01T00:00:00Z", "OK", 100),
			trace("FR", "CIEL", "00", "HHZ", "2010-01-01T00:00:00Z", "OK", 50),
			trace("FR", "CIEL", "00", "HHN", "2010-01-01T00:00:00Z", "DENIED", 7)),
		// Same key, another client, another day of the month.
		line("OK", `"FR"`, 2, "2024-03-31T23:59:59.5+02:00",
			trace("FR", "CIEL", "00", "HHZ", "2010-01-01T00:00:00Z", "OK", 1)),
		// Failed request: one contribution with the empty key and "--".
		line("NODATA", `null`, 3, "2024-03-04T00:00:00Z"),
		line("ERROR", "-", 3, "2024-03-04T00:00:00Z", trace("FR", "X", "", "HHZ", "2010", "OK", 9)),
		// OK without OK trace: nothing, not even its day.
		line("OK", `"DE"`, 4, "2024-03-05T00:00:00Z", trace("FR", "CIEL", "", "HHZ", "2010", "NODATA", 1)),
		// Temporary network: extended by the trace start date.
		line("OK", `"IT"`, 5, "2024-04-01T00:00:00Z", trace("Z3", "S1", "", "BHZ", "2016-05-05T00:00:00Z", "OK", 10)),
		// Temporary code outside every epoch: trace dropped, counted.
		line("OK", `"IT"`, 5, "2024-04-01T00:00:00Z", trace("Z3", "S1", "", "BHZ", "2030-05-05T00:00:00Z", "OK", 10)),
		// Case-sensitive status: "ok" is a failed request.
		line("ok", `"FR"`, 6, "2024-04-02T00:00:00Z"),
		"not json",
	)
	want := []payload.Row{
		{Month: "2024-03-01", Country: "", Location: "--", NbRequests: 2, NbUnsuccessfulRequests: 2, Clients: hll("3")},
		{Month: "2024-03-01", Network: "FR", Station: "CIEL", Location: "00", Channel: "HHZ", Country: "FR", Bytes: 151, NbRequests: 3, NbSuccessfulRequests: 3, Clients: hll("1", "2")},
		{Month: "2024-04-01", Country: "FR", Location: "--", NbRequests: 1, NbUnsuccessfulRequests: 1, Clients: hll("6")},
		{Month: "2024-04-01", Network: "Z32015", Station: "S1", Channel: "BHZ", Country: "IT", Bytes: 10, NbRequests: 1, NbSuccessfulRequests: 1, Clients: hll("5")},
	}
	if len(p.Stats) != len(want) {
		t.Fatalf("rows:\n%+v", p.Stats)
	}
	for i := range want {
		if p.Stats[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, p.Stats[i], want[i])
		}
	}
	if got := strings.Join(p.DaysCoverage, ","); got != "2024-03-03,2024-03-04,2024-03-31,2024-04-01,2024-04-02" {
		t.Errorf("days %s", got)
	}
	if p.AggregationScore != 2 { // round(9 lines / 4 rows) = round(2.25)
		t.Errorf("score %d", p.AggregationScore)
	}
	if c.SkippedLines[logline.ReasonNotJSON] != 1 || c.SkippedTraces[logline.ReasonUnknownNetwork] != 1 {
		t.Errorf("counts %+v", c)
	}
	if c.Contributions["OK"] != 4 || c.Contributions["NODATA"] != 1 || c.Contributions["ERROR"] != 1 || c.Contributions["other"] != 1 {
		t.Errorf("contributions %+v", c.Contributions)
	}
}

func TestScoreHalfToEven(t *testing.T) {
	for _, tc := range []struct {
		lines int64
		rows  int
		want  int64
	}{{5, 2, 2}, {7, 2, 4}, {3, 2, 2}, {1, 2, 0}, {3000, 8479, 0}, {200, 120, 2}, {1, 0, 0}} {
		if got := Score(tc.lines, tc.rows); got != tc.want {
			t.Errorf("Score(%d,%d)=%d want %d", tc.lines, tc.rows, got, tc.want)
		}
	}
}

// A userID whose MurmurHash3 is 0: the raw value 0 must still count.
func TestUserIDHashingToZero(t *testing.T) {
	if clients.Murmur3([]byte("2194862371")) != 0 {
		t.Fatal("test vector no longer hashes to 0")
	}
	p, _ := run(line("DENIED", `"FR"`, 2194862371, "2024-03-03T00:00:00Z"))
	if got := p.Stats[0].Clients; got != `\x128B7F0000000000000000` {
		t.Fatalf("clients %s", got)
	}
}

func TestMergeEqualsSequential(t *testing.T) {
	var lines []string
	for i := 0; i < 2000; i++ {
		lines = append(lines, line("OK", `"FR"`, i%700, fmt.Sprintf("2024-03-%02dT00:00:00Z", 1+i%28),
			trace("FR", fmt.Sprintf("S%d", i%5), "", "HHZ", "2010", "OK", i)))
	}
	whole, _ := run(lines...)
	in := NewIngester(registry)
	a, b := NewTable(), NewTable()
	for i, l := range lines {
		t := a
		if i%2 == 1 {
			t = b
		}
		in.Line([]byte(l), func(logline.Date, int) *Table { return t })
	}
	a.Merge(b)
	a.Lines = int64(len(lines))
	merged := a.Payload("2025-01-01 00:00:00", "test")
	if fmt.Sprint(merged) != fmt.Sprint(whole) {
		t.Fatal("merged tables differ from one table")
	}
}

func BenchmarkIngestLine(b *testing.B) {
	l := []byte(line("OK", `"FR"`, 589198147, "2024-03-03T10:00:00.123456Z",
		trace("FR", "CIEL", "00", "HHZ", "2010-01-01T00:00:00Z", "OK", 100),
		trace("FR", "CIEL", "00", "HHN", "2010-01-01T00:00:00Z", "OK", 100),
		trace("Z3", "CIEL", "00", "HHE", "2016-01-01T00:00:00Z", "OK", 100)))
	in := NewIngester(registry)
	t := NewTable()
	one := func(logline.Date, int) *Table { return t }
	b.SetBytes(int64(len(l)))
	b.ReportAllocs()
	for b.Loop() {
		in.Line(l, one)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	var lines []string
	for i := 0; i < 500; i++ {
		lines = append(lines, line("OK", `"FR"`, i, "2024-03-03T00:00:00Z", trace("FR", fmt.Sprint("S", i%3), "", "HHZ", "2010", "OK", i)))
	}
	lines = append(lines, line("ERROR", "-", 2194862371, "2024-03-03T00:00:00Z"))
	in := NewIngester(registry)
	tb := NewTable()
	for _, l := range lines {
		in.Line([]byte(l), func(logline.Date, int) *Table { return tb })
	}
	back, err := Restore(tb.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Payload("x", "y")) != fmt.Sprint(tb.Payload("x", "y")) {
		t.Fatal("restored table differs")
	}
}

// The parallel sort orders rows as a plain sort by (month, network,
// station, location, channel, country) does, every field deciding in turn
// and byte order for strings.
func TestSortRows(t *testing.T) {
	var want []*Row
	fields := []string{"", "A", "B", "a", "é"}
	for m := 1; m <= 2; m++ {
		for i := range 5 * 5 * 5 * 5 * 5 {
			k := Key{Month: logline.Date{Year: 2024, Month: m, Day: 1}}
			f := []*string{&k.Network, &k.Station, &k.Location, &k.Channel, &k.Country}
			for j, n := 0, i; j < 5; j, n = j+1, n/5 {
				*f[4-j] = fields[n%5]
			}
			want = append(want, &Row{Key: k})
		}
	}
	for _, parts := range []int{1, 2, 3, 4} {
		for _, n := range []int{len(want), len(want) + 5000} { // above the parallel threshold too
			src := want
			if n > len(want) {
				src = append(append([]*Row{}, want...), want[:5000]...)
			}
			got := append([]*Row{}, src...)
			for i := range got { // a deterministic shuffle
				j := (i * 7919) % len(got)
				got[i], got[j] = got[j], got[i]
			}
			sortRows(got, parts)
			for i := 1; i < len(got); i++ {
				if got[i].Key.compare(&got[i-1].Key) < 0 {
					t.Fatalf("parts=%d n=%d: row %d %+v before %+v", parts, n, i, got[i-1].Key, got[i].Key)
				}
			}
			if n == len(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("parts=%d: row %d is %+v, want %+v", parts, i, got[i].Key, want[i].Key)
					}
				}
			}
		}
	}
}
