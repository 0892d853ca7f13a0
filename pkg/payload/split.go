package payload

import (
	"cmp"
	"slices"
)

// compareRows orders rows by their key (month, network, station, location,
// channel, country), then by the remaining fields so that the order is total
// even for duplicate keys.
func compareRows(a, b Row) int {
	return cmp.Or(
		cmp.Compare(a.Month, b.Month),
		cmp.Compare(a.Network, b.Network),
		cmp.Compare(a.Station, b.Station),
		cmp.Compare(a.Location, b.Location),
		cmp.Compare(a.Channel, b.Channel),
		cmp.Compare(a.Country, b.Country),
		cmp.Compare(a.Bytes, b.Bytes),
		cmp.Compare(a.NbRequests, b.NbRequests),
		cmp.Compare(a.NbSuccessfulRequests, b.NbSuccessfulRequests),
		cmp.Compare(a.NbUnsuccessfulRequests, b.NbUnsuccessfulRequests),
		cmp.Compare(a.Clients, b.Clients),
	)
}

// SortRows sorts rows by key, deterministically.
func SortRows(rows []Row) { slices.SortStableFunc(rows, compareRows) }

// Split cuts p into parts of at most maxRows rows, each with p's header.
//
// A payload that fits (or maxRows <= 0) comes back as the only part with its
// rows in their original order: the central service de-duplicates on the
// order-sensitive stats list, so reordering a payload that may already have
// been sent by another tool would let it be counted twice. A payload that
// does not fit is sorted by key first, so the same input always gives
// byte-identical parts.
func (p *Payload) Split(maxRows int) []*Payload {
	if maxRows <= 0 || len(p.Stats) <= maxRows {
		return []*Payload{p}
	}
	rows := slices.Clone(p.Stats)
	SortRows(rows)
	var parts []*Payload
	for start := 0; start < len(rows); start += maxRows {
		end := min(start+maxRows, len(rows))
		part := *p
		part.DaysCoverage = slices.Clone(p.DaysCoverage)
		part.Stats = rows[start:end:end]
		parts = append(parts, &part)
	}
	return parts
}
