package payload

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

func TestSplitFits(t *testing.T) {
	p := &Payload{Version: "v", DaysCoverage: []string{"2020-09-18"},
		Stats: []Row{{Station: "B"}, {Station: "A"}}}
	for _, n := range []int{0, -1, 2, 100} {
		parts := p.Split(n)
		if len(parts) != 1 || parts[0] != p {
			t.Errorf("Split(%d) = %d parts, want p itself, order kept", n, len(parts))
		}
	}
}

func TestSplitReference(t *testing.T) {
	p, err := ReadFile("testdata/synthetic-3k.reference.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	shuffled := *p
	shuffled.Stats = slices.Clone(p.Stats)
	slices.Reverse(shuffled.Stats)

	for _, maxRows := range []int{1000, 3000, len(p.Stats) - 1} {
		t.Run(fmt.Sprint(maxRows), func(t *testing.T) {
			parts := p.Split(maxRows)
			want := (len(p.Stats) + maxRows - 1) / maxRows
			if len(parts) != want {
				t.Fatalf("%d parts, want %d", len(parts), want)
			}
			var all []Row
			for i, part := range parts {
				if len(part.Stats) > maxRows || len(part.Stats) == 0 {
					t.Errorf("part %d has %d rows", i, len(part.Stats))
				}
				if part.GeneratedAt != p.GeneratedAt || part.Version != p.Version ||
					!slices.Equal(part.DaysCoverage, p.DaysCoverage) || part.AggregationScore != p.AggregationScore {
					t.Errorf("part %d header differs", i)
				}
				all = append(all, part.Stats...)
			}
			if !slices.IsSortedFunc(all, compareRows) {
				t.Error("parts are not in key order")
			}
			sorted := slices.Clone(p.Stats)
			SortRows(sorted)
			if !slices.Equal(all, sorted) {
				t.Error("parts do not hold exactly the payload's rows")
			}
			// Same rows in another order give byte-identical parts.
			again := shuffled.Split(maxRows)
			for i := range parts {
				a, _ := parts[i].Marshal()
				b, _ := again[i].Marshal()
				if !bytes.Equal(a, b) {
					t.Fatalf("part %d differs between runs", i)
				}
			}
		})
	}
	if len(p.Stats) < 3000 {
		t.Fatalf("reference has %d rows; the test needs a large payload", len(p.Stats))
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("abcabd"), 2)
	f.Fuzz(func(t *testing.T, keys []byte, maxRows int) {
		if maxRows > 1000 || len(keys) > 500 {
			return
		}
		p := &Payload{}
		for i, k := range keys {
			p.Stats = append(p.Stats, Row{Station: string(k % 7), Channel: string(k / 7 % 5), Bytes: int64(i % 3)})
		}
		parts := p.Split(maxRows)
		n := 0
		for _, part := range parts {
			if maxRows > 0 && len(parts) > 1 && len(part.Stats) > maxRows {
				t.Fatalf("part of %d rows > %d", len(part.Stats), maxRows)
			}
			n += len(part.Stats)
		}
		if n != len(p.Stats) {
			t.Fatalf("parts hold %d rows, want %d", n, len(p.Stats))
		}
	})
}
