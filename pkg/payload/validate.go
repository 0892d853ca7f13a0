package payload

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eida/eidastatsd/pkg/clients"
)

// Limits are the central schema's column widths in characters (contract
// section 6). They are configurable because the service's model already
// allows longer stations than the deployed schema.
type Limits struct {
	Network, Station, Location, Channel int
}

// DefaultLimits is the deployed central schema.
var DefaultLimits = Limits{Network: 6, Station: 5, Location: 2, Channel: 3}

// MaxVersionLen is the longest version string the central service accepts.
const MaxVersionLen = 32

// Reason codes of a rejected row: a small fixed set, usable as a metric label.
const (
	ReasonTooLong      = "too_long"
	ReasonBadText      = "bad_text"
	ReasonBadMonth     = "bad_month"
	ReasonCounterRange = "counter_range"
	ReasonBadClients   = "bad_clients"
)

// RowError says why a row cannot be sent. Its text names the field and, for
// lengths, the value's length, never the value itself: a row holds no
// personal data, but a garbled field might.
type RowError struct {
	Field  string // JSON field name
	Reason string // one of the Reason* codes
	Detail string
}

func (e *RowError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Detail)
}

// Rejected is a row kept out of a payload, with the reason.
type Rejected struct {
	Row    Row    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// CheckRow reports the first reason the central service would fail to store
// r, or nil.
func (l Limits) CheckRow(r Row) error {
	texts := []struct {
		field, v string
		max      int
	}{
		{"network", r.Network, l.Network},
		{"station", r.Station, l.Station},
		{"location", r.Location, l.Location},
		{"channel", r.Channel, l.Channel},
		{"country", r.Country, 0}, // any length: the service folds it
	}
	for _, t := range texts {
		// PostgreSQL refuses invalid UTF-8 and NUL in text columns.
		if !utf8.ValidString(t.v) || strings.IndexByte(t.v, 0) >= 0 {
			return &RowError{t.field, ReasonBadText, "not valid UTF-8 text"}
		}
		if n := utf8.RuneCountInString(t.v); t.max > 0 && n > t.max {
			return &RowError{t.field, ReasonTooLong, fmt.Sprintf("%d characters, at most %d allowed", n, t.max)}
		}
	}
	if err := checkMonth(r.Month); err != nil {
		return &RowError{"month", ReasonBadMonth, err.Error()}
	}
	if r.Bytes < 0 {
		return &RowError{"bytes", ReasonCounterRange, "negative"}
	}
	counters := []struct {
		field string
		v     int64
	}{
		{"nb_requests", r.NbRequests},
		{"nb_successful_requests", r.NbSuccessfulRequests},
		{"nb_unsuccessful_requests", r.NbUnsuccessfulRequests},
	}
	for _, c := range counters {
		if c.v < 0 || c.v > math.MaxInt32 {
			return &RowError{c.field, ReasonCounterRange, "outside 0..2147483647 (int4)"}
		}
	}
	if _, err := clients.Parse(r.Clients); err != nil {
		return &RowError{"clients", ReasonBadClients, "not an hll(11,5,-1,1) value"}
	}
	return nil
}

// checkMonth accepts exactly YYYY-MM-01 with a year PostgreSQL stores.
func checkMonth(m string) error {
	t, err := parseDay(m)
	if err != nil {
		return err
	}
	if t.Day() != 1 {
		return errors.New("not the first day of a month")
	}
	return nil
}

func parseDay(s string) (time.Time, error) {
	if len(s) != len("2006-01-02") {
		return time.Time{}, errors.New("not a YYYY-MM-DD date")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1 {
		return time.Time{}, errors.New("not a YYYY-MM-DD date")
	}
	return t, nil
}

// CheckHeader checks the top-level keys the central service requires (all
// but stats, which Partition handles row by row).
func (p *Payload) CheckHeader() error {
	if p.GeneratedAt == "" {
		return errors.New("generated_at is empty")
	}
	if p.Version == "" {
		return errors.New("version is empty")
	}
	if n := utf8.RuneCountInString(p.Version); n > MaxVersionLen {
		return fmt.Errorf("version: %d characters, at most %d allowed", n, MaxVersionLen)
	}
	if len(p.DaysCoverage) == 0 {
		return errors.New("days_coverage is empty")
	}
	for i, d := range p.DaysCoverage {
		if _, err := parseDay(d); err != nil {
			return fmt.Errorf("days_coverage[%d]: %w", i, err)
		}
	}
	return nil
}

// Partition splits p's rows into those the central service can store (a new
// payload with the same header, rows in their original order) and those it
// cannot, with the reason. p is not changed.
func (p *Payload) Partition(l Limits) (valid *Payload, rejected []Rejected) {
	v := *p
	v.DaysCoverage = append([]string(nil), p.DaysCoverage...)
	v.Stats = make([]Row, 0, len(p.Stats))
	for _, r := range p.Stats {
		err := l.CheckRow(r)
		if err == nil {
			v.Stats = append(v.Stats, r)
			continue
		}
		var re *RowError
		if !errors.As(err, &re) {
			re = &RowError{Field: "row", Reason: "invalid", Detail: err.Error()}
		}
		rejected = append(rejected, Rejected{Row: r, Field: re.Field, Reason: re.Reason, Detail: re.Detail})
	}
	return &v, rejected
}
