package aggregate

import (
	"fmt"

	"github.com/eida/eidastatsd/pkg/clients"
	"github.com/eida/eidastatsd/pkg/logline"
)

// Snapshot is a table in a JSON-friendly form for the daemon's checkpoint.
type Snapshot struct {
	Lines int64         `json:"lines"`
	Days  []string      `json:"days"`
	Rows  []SnapshotRow `json:"rows"`
}

// SnapshotRow is one row; Clients holds the HLL storage bytes.
type SnapshotRow struct {
	Month    string `json:"m"`
	Network  string `json:"n"`
	Station  string `json:"s"`
	Location string `json:"l"`
	Channel  string `json:"c"`
	Country  string `json:"co"`
	Bytes    int64  `json:"b"`
	Req      int64  `json:"r"`
	OK       int64  `json:"ok"`
	Fail     int64  `json:"f"`
	Clients  []byte `json:"h"`
}

// Snapshot copies the table.
func (t *Table) Snapshot() Snapshot {
	s := Snapshot{Lines: t.Lines, Days: []string{}, Rows: make([]SnapshotRow, 0, t.Len())}
	for _, d := range t.Days() {
		s.Days = append(s.Days, d.String())
	}
	for _, r := range t.index.rows { // insertion order: Restore does not care
		s.Rows = append(s.Rows, SnapshotRow{r.Month.String(), r.Network, r.Station, r.Location, r.Channel, r.Country,
			r.Bytes, r.NbRequests, r.NbSuccessful, r.NbUnsuccessful, r.Clients.Bytes()})
	}
	return s
}

// Restore rebuilds a table from a snapshot.
func Restore(s Snapshot) (*Table, error) {
	t := NewTable()
	t.Lines = s.Lines
	for _, d := range s.Days {
		day, ok := logline.ParseDate(d)
		if !ok {
			return nil, fmt.Errorf("snapshot: bad day %q", d)
		}
		t.days[day] = struct{}{}
	}
	for _, sr := range s.Rows {
		m, ok := logline.ParseDate(sr.Month)
		if !ok {
			return nil, fmt.Errorf("snapshot: bad month %q", sr.Month)
		}
		set, err := clients.FromBytes(sr.Clients)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		r := t.row(m, []byte(sr.Network), []byte(sr.Station), []byte(sr.Location), []byte(sr.Channel), []byte(sr.Country))
		r.Bytes, r.NbRequests, r.NbSuccessful, r.NbUnsuccessful = sr.Bytes, sr.Req, sr.OK, sr.Fail
		r.Clients = *set
	}
	return t, nil
}
