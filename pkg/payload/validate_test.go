package payload

import (
	"errors"
	"strings"
	"testing"
)

const emptyHLL = `\x118B7F`

func goodRow() Row {
	return Row{Month: "2020-09-01", Network: "Z32015", Station: "ABCDE", Location: "00", Channel: "HHZ",
		Country: "FR", Bytes: 1 << 40, NbRequests: 3, NbSuccessfulRequests: 2, NbUnsuccessfulRequests: 1,
		Clients: `\x128b7f0000000000000001`}
}

func TestCheckRow(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Row)
		limits Limits
		field  string
		reason string
	}{
		{"valid", func(*Row) {}, DefaultLimits, "", ""},
		{"empty key fields", func(r *Row) { *r = Row{Month: "2020-10-01", Location: "--", Clients: emptyHLL} }, DefaultLimits, "", ""},
		{"odd country kept", func(r *Row) { r.Country = "None" }, DefaultLimits, "", ""},
		{"network 7", func(r *Row) { r.Network = "ABCDEFG" }, DefaultLimits, "network", ReasonTooLong},
		{"station 6", func(r *Row) { r.Station = "ABCDEF" }, DefaultLimits, "station", ReasonTooLong},
		{"station 6 with model limit 8", func(r *Row) { r.Station = "ABCDEF" }, Limits{6, 8, 2, 3}, "", ""},
		{"station counts characters not bytes", func(r *Row) { r.Station = "ÄÖÜÉÈ" }, DefaultLimits, "", ""},
		{"location 3", func(r *Row) { r.Location = "000" }, DefaultLimits, "location", ReasonTooLong},
		{"channel 4", func(r *Row) { r.Channel = "HHZZ" }, DefaultLimits, "channel", ReasonTooLong},
		{"invalid utf8", func(r *Row) { r.Station = "\xff" }, DefaultLimits, "station", ReasonBadText},
		{"NUL", func(r *Row) { r.Country = "F\x00" }, DefaultLimits, "country", ReasonBadText},
		{"month not first", func(r *Row) { r.Month = "2020-09-02" }, DefaultLimits, "month", ReasonBadMonth},
		{"month garbage", func(r *Row) { r.Month = "2020-13-01" }, DefaultLimits, "month", ReasonBadMonth},
		{"month short", func(r *Row) { r.Month = "2020-9-01" }, DefaultLimits, "month", ReasonBadMonth},
		{"month empty", func(r *Row) { r.Month = "" }, DefaultLimits, "month", ReasonBadMonth},
		{"month year 0", func(r *Row) { r.Month = "0000-01-01" }, DefaultLimits, "month", ReasonBadMonth},
		{"negative bytes", func(r *Row) { r.Bytes = -1 }, DefaultLimits, "bytes", ReasonCounterRange},
		{"int4 max ok", func(r *Row) { r.NbRequests = 2147483647 }, DefaultLimits, "", ""},
		{"int4 overflow", func(r *Row) { r.NbRequests = 2147483648 }, DefaultLimits, "nb_requests", ReasonCounterRange},
		{"negative successful", func(r *Row) { r.NbSuccessfulRequests = -1 }, DefaultLimits, "nb_successful_requests", ReasonCounterRange},
		{"unsuccessful overflow", func(r *Row) { r.NbUnsuccessfulRequests = 1 << 33 }, DefaultLimits, "nb_unsuccessful_requests", ReasonCounterRange},
		{"clients empty string", func(r *Row) { r.Clients = "" }, DefaultLimits, "clients", ReasonBadClients},
		{"clients no prefix", func(r *Row) { r.Clients = "118B7F" }, DefaultLimits, "clients", ReasonBadClients},
		{"clients bad hex", func(r *Row) { r.Clients = `\x11ZZ7F` }, DefaultLimits, "clients", ReasonBadClients},
		{"clients other log2m", func(r *Row) { r.Clients = `\x118C7F` }, DefaultLimits, "clients", ReasonBadClients},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodRow()
			tt.edit(&r)
			err := tt.limits.CheckRow(r)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CheckRow: %v, want nil", err)
				}
				return
			}
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("CheckRow = %v, want a *RowError", err)
			}
			if re.Field != tt.field || re.Reason != tt.reason {
				t.Fatalf("CheckRow = %s/%s (%v), want %s/%s", re.Field, re.Reason, err, tt.field, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Errorf("error text %q does not name the field", err)
			}
		})
	}
}

func TestRowErrorNamesLengthNotValue(t *testing.T) {
	r := goodRow()
	r.Station = "SECRET"
	err := DefaultLimits.CheckRow(r)
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "6 characters") {
		t.Fatalf("error %q: want the length and not the value", err)
	}
}

func TestCheckHeader(t *testing.T) {
	good := Payload{GeneratedAt: "2025-01-01 00:00:00", Version: "eidastatsd 0.1.0", DaysCoverage: []string{"2020-09-18"}}
	tests := []struct {
		name string
		edit func(*Payload)
		ok   bool
	}{
		{"valid", func(*Payload) {}, true},
		{"version 32", func(p *Payload) { p.Version = strings.Repeat("v", 32) }, true},
		{"version 33", func(p *Payload) { p.Version = strings.Repeat("v", 33) }, false},
		{"no version", func(p *Payload) { p.Version = "" }, false},
		{"no generated_at", func(p *Payload) { p.GeneratedAt = "" }, false},
		{"no days", func(p *Payload) { p.DaysCoverage = nil }, false},
		{"bad day", func(p *Payload) { p.DaysCoverage = []string{"2020-09-18", "2020-9-19"} }, false},
		{"impossible day", func(p *Payload) { p.DaysCoverage = []string{"2020-02-30"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			if err := p.CheckHeader(); (err == nil) != tt.ok {
				t.Fatalf("CheckHeader = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPartition(t *testing.T) {
	bad1, bad2 := goodRow(), goodRow()
	bad1.Station = "TOOLONG"
	bad2.Month = "2020-09-18"
	ok2 := goodRow()
	ok2.Country = "DE"
	p := &Payload{GeneratedAt: "g", Version: "v", DaysCoverage: []string{"2020-09-18"}, AggregationScore: 4,
		Stats: []Row{goodRow(), bad1, ok2, bad2}}
	before, _ := p.Marshal()

	valid, rejected := p.Partition(DefaultLimits)

	if len(valid.Stats) != 2 || valid.Stats[0] != goodRow() || valid.Stats[1] != ok2 {
		t.Errorf("valid rows = %+v, want the two good rows in order", valid.Stats)
	}
	if valid.GeneratedAt != "g" || valid.Version != "v" || valid.AggregationScore != 4 || len(valid.DaysCoverage) != 1 {
		t.Errorf("header not kept: %+v", valid)
	}
	if len(rejected) != 2 || rejected[0].Row != bad1 || rejected[0].Field != "station" || rejected[1].Row != bad2 || rejected[1].Reason != ReasonBadMonth {
		t.Errorf("rejected = %+v", rejected)
	}
	if after, _ := p.Marshal(); string(after) != string(before) {
		t.Error("Partition changed its receiver")
	}
}

func TestPartitionReference(t *testing.T) {
	p, err := ReadFile("testdata/synthetic-3k.reference.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	valid, rejected := p.Partition(DefaultLimits)
	if len(rejected) != 0 || len(valid.Stats) != len(p.Stats) {
		t.Fatalf("reference output: %d rejected (first %+v), want none", len(rejected), rejected)
	}
	if err := p.CheckHeader(); err != nil {
		t.Fatalf("reference header: %v", err)
	}
}

func FuzzCheckRow(f *testing.F) {
	f.Add("2020-09-01", "FR", "CIEL", "00", "HHZ", "FR", int64(1), int64(1), `\x118B7F`)
	f.Add("2020-09-02", "ABCDEFG", "", "--", "", "", int64(-1), int64(1<<31), `\x128B7F00`)
	f.Fuzz(func(t *testing.T, month, net, sta, loc, cha, country string, b, n int64, cl string) {
		r := Row{Month: month, Network: net, Station: sta, Location: loc, Channel: cha, Country: country,
			Bytes: b, NbRequests: n, Clients: cl}
		err := DefaultLimits.CheckRow(r)
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) || re.Field == "" || re.Reason == "" {
				t.Fatalf("error without field/reason: %v", err)
			}
			return
		}
		// Whatever passes must fit the schema.
		if len([]rune(sta)) > 5 || len([]rune(net)) > 6 || len([]rune(loc)) > 2 || len([]rune(cha)) > 3 ||
			b < 0 || n < 0 || n > 1<<31-1 || len(month) != 10 || month[8:] != "01" {
			t.Fatalf("accepted a row the schema refuses: %+v", r)
		}
	})
}
