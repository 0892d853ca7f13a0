package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/follow"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/spool"
)

// checkpoint is what state.json holds: the position after the last line
// applied, and every table that line contributed to. Saved together, they
// make a restart resume exactly once.
type checkpoint struct {
	Version  int                           `json:"version"`
	Position *follow.Position              `json:"position,omitempty"`
	Open     map[string]aggregate.Snapshot `json:"open"`
	Late     map[string]aggregate.Snapshot `json:"late"`
	// Next is, per sealed day, the sequence number of its next payload (1
	// after the main payload, more after supplements).
	Next map[string]int `json:"next"`
	Lost []string       `json:"lost,omitempty"`
	// LogSecond is the latest log clock seen (days since epoch*86400+s).
	LogClock int64 `json:"log_clock"`
	// Since is where to start without a Position (follow's BackfillSince).
	Since string `json:"since,omitempty"`
}

// dayClock turns a date and a second of the day into a comparable clock.
func dayClock(d logline.Date, sec int) int64 {
	return int64(daysFromCivil(d.Year, d.Month, d.Day))*86400 + int64(sec)
}

// daysFromCivil counts days since 1970-01-01 (proleptic Gregorian).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// days holds the open and late tables.
type days struct {
	open map[logline.Date]*aggregate.Table
	late map[logline.Date]*aggregate.Table
	next map[logline.Date]int
	// lost: days an earlier run shipped whose state is gone; their lines
	// are skipped rather than counted twice.
	lost map[logline.Date]bool
}

func newDays() *days {
	return &days{open: map[logline.Date]*aggregate.Table{}, late: map[logline.Date]*aggregate.Table{}, next: map[logline.Date]int{}, lost: map[logline.Date]bool{}}
}

func (d *days) rows() int {
	n := 0
	for _, t := range d.open {
		n += t.Len()
	}
	for _, t := range d.late {
		n += t.Len()
	}
	return n
}

func (d *days) snapshot(pos *follow.Position, clock int64) checkpoint {
	c := checkpoint{Version: 1, Position: pos, Open: map[string]aggregate.Snapshot{}, Late: map[string]aggregate.Snapshot{}, Next: map[string]int{}, LogClock: clock}
	for day, t := range d.open {
		c.Open[day.String()] = t.Snapshot()
	}
	for day, t := range d.late {
		c.Late[day.String()] = t.Snapshot()
	}
	for day, n := range d.next {
		c.Next[day.String()] = n
	}
	for day := range d.lost {
		c.Lost = append(c.Lost, day.String())
	}
	return c
}

func restoreTables(m map[string]aggregate.Snapshot) (map[logline.Date]*aggregate.Table, error) {
	out := make(map[logline.Date]*aggregate.Table, len(m))
	for k, s := range m {
		day, ok := logline.ParseDate(k)
		if !ok {
			return nil, fmt.Errorf("state: bad day %q", k)
		}
		t, err := aggregate.Restore(s)
		if err != nil {
			return nil, err
		}
		out[day] = t
	}
	return out, nil
}

func restoreDays(c checkpoint) (*days, error) {
	d := newDays()
	var err error
	if d.open, err = restoreTables(c.Open); err != nil {
		return nil, err
	}
	if d.late, err = restoreTables(c.Late); err != nil {
		return nil, err
	}
	for k, n := range c.Next {
		day, ok := logline.ParseDate(k)
		if !ok {
			return nil, fmt.Errorf("state: bad day %q", k)
		}
		d.next[day] = n
	}
	for _, k := range c.Lost {
		if day, ok := logline.ParseDate(k); ok {
			d.lost[day] = true
		}
	}
	return d, nil
}

// shippedSeqs lists the payload sequence numbers present for a day in the
// spool folders (spool/, sent/, failed/), parts included.
func shippedSeqs(sp *spool.Spool, day logline.Date) []int {
	seen := map[int]bool{}
	prefix := day.String() + "_"
	for _, dir := range []string{spool.DirSpool, spool.DirSent, spool.DirFailed} {
		ents, _ := os.ReadDir(sp.Dir(dir))
		for _, e := range ents {
			name := e.Name()
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			var seq int
			if _, err := fmt.Sscanf(name[len(prefix):], "%06d_", &seq); err == nil {
				seen[seq] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// outboxDir holds payloads written but not yet committed by a checkpoint.
func outboxDir(stateDir string) string { return filepath.Join(stateDir, "outbox") }
