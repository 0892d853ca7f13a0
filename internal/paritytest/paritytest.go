// Package paritytest compares payloads the way the central service sees
// them, for the project's own tests: rows keyed by (month, network,
// station, location, channel, country folded to "" unless two characters),
// counters summed and client HLLs unioned over all given payloads.
package paritytest

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/eida/eidastatsd/pkg/clients"
	"github.com/eida/eidastatsd/pkg/payload"
)

// Key of a row as the central service stores it.
type Key struct{ Month, Network, Station, Location, Channel, Country string }

// Row is a merged row.
type Row struct {
	Bytes, Req, OK, Fail int64
	Clients              *clients.Set
}

// Merge sums payloads into central rows.
func Merge(ps ...*payload.Payload) (map[Key]*Row, error) {
	out := map[Key]*Row{}
	for _, p := range ps {
		for _, r := range p.Stats {
			c := r.Country
			if len(c) != 2 {
				c = ""
			}
			k := Key{r.Month, r.Network, r.Station, r.Location, r.Channel, c}
			set, err := clients.Parse(r.Clients)
			if err != nil {
				return nil, fmt.Errorf("row %+v: %w", k, err)
			}
			m, ok := out[k]
			if !ok {
				m = &Row{Clients: &clients.Set{}}
				out[k] = m
			}
			m.Bytes += r.Bytes
			m.Req += r.NbRequests
			m.OK += r.NbSuccessfulRequests
			m.Fail += r.NbUnsuccessfulRequests
			m.Clients.Union(set)
		}
	}
	return out, nil
}

// Diff lists the differences between want and got (empty: identical).
func Diff(want, got []*payload.Payload) ([]string, error) {
	w, err := Merge(want...)
	if err != nil {
		return nil, err
	}
	g, err := Merge(got...)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for k, wr := range w {
		gr, ok := g[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing row %+v", k))
			continue
		}
		if wr.Bytes != gr.Bytes || wr.Req != gr.Req || wr.OK != gr.OK || wr.Fail != gr.Fail {
			diffs = append(diffs, fmt.Sprintf("row %+v: counters want %d/%d/%d/%d got %d/%d/%d/%d", k, wr.Bytes, wr.Req, wr.OK, wr.Fail, gr.Bytes, gr.Req, gr.OK, gr.Fail))
		}
		if !bytes.Equal(wr.Clients.Bytes(), gr.Clients.Bytes()) {
			diffs = append(diffs, fmt.Sprintf("row %+v: clients differ", k))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra row %+v", k))
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

// Days is the sorted union of days_coverage.
func Days(ps ...*payload.Payload) string {
	set := map[string]bool{}
	for _, p := range ps {
		for _, d := range p.DaysCoverage {
			set[d] = true
		}
	}
	ds := make([]string, 0, len(set))
	for d := range set {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return strings.Join(ds, ",")
}
