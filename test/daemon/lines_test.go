package daemon_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/eida/eidastatsd/test/seiscomp"
)

// A line written in two parts with a pause, the daemon killed (-9) and
// restarted between the parts: the half line is never counted on its own,
// the completed line once.
func TestPartialLineKill(t *testing.T) {
	h := newHarness(t, opts{})
	lines := genLines(t, 31, 1, 400, "2024-07-01")
	rng := rand.New(rand.NewSource(31))
	h.start()
	splits := 0
	for i := 0; i < len(lines); {
		for j := 0; j < 40 && i < len(lines); j, i = j+1, i+1 {
			h.line(lines[i])
		}
		if i >= len(lines) {
			break
		}
		l := lines[i]
		i++
		cut := 1 + rng.Intn(len(l.Data))
		first := l.Data[:cut]
		rest := append(append([]byte(nil), l.Data[cut:]...), '\n')
		h.raw(first)
		// The daemon has read (and checkpointed) everything but the half.
		h.caughtUpBut(int64(len(first)))
		h.kill()
		h.start()
		h.raw(rest)
		splits++
	}
	ref, _ := h.reference()
	ps := h.check(ref)
	h.stop()
	t.Logf("%d lines, %d split by a kill -9, %d payloads: identical to the reference", len(lines), splits, len(ps))
}

// Torn lines: after a crash of fdsnws a fragment without newline is
// followed by a complete record on the same line. The intact record is
// counted (a broken one skipped as torn), the same as `eidastatsd aggregate`
// on the same bytes; also with a kill -9 between fragment and record, and
// with a fragment left at the end of a file that is then rotated.
func TestTornLines(t *testing.T) {
	seiscomp.RequireBzip2(t)
	h := newHarness(t, opts{})
	lines := genLines(t, 32, 2, 300, "2024-07-02")
	rng := rand.New(rand.NewSource(32))
	h.start()
	torn := 0
	for i, l := range lines {
		nextDay := i+1 < len(lines) && lines[i+1].Finished.Day() != l.Finished.Day()
		switch {
		case nextDay:
			// The last line of the day is cut: the fragment stays at the
			// end of the file the next line rotates.
			h.raw(l.Data[:len(l.Data)/2])
			torn++
		case i%25 == 7:
			frag := l.Data[:1+rng.Intn(len(l.Data)-1)]
			h.raw(frag)
			torn++
			if i%50 == 7 {
				h.caughtUpBut(int64(len(frag)))
				h.kill()
				h.start()
			}
		case i%25 == 13:
			// The end of a cut record glued to a record that is itself
			// invalid (no finished): skipped.
			h.raw(l.Data[len(l.Data)/2:])
			h.raw([]byte(`{"status": "OK", "userID": 1}` + "\n"))
			torn++
		default:
			h.line(l)
		}
	}
	if err := h.w.Wait(); err != nil {
		t.Fatal(err)
	}
	h.raw([]byte("\n"))
	// The reference reads the same files: a fragment at the end of a
	// rotated file is a line of that file.
	files, _ := filepath.Glob(h.logPath + ".*")
	ref, summary := aggregate(t, append(files, h.logPath)...)
	ps := h.check(ref)
	h.stop()
	t.Logf("%d lines, %d torn, %d payloads: identical to `aggregate` on the same files\n%s", len(lines), torn, len(ps), summary)
}

// A 17 MiB line is skipped and counted as too_long; a 15 MiB valid line
// (tens of thousands of traces) is counted, like `eidastatsd aggregate`.
func TestHugeLines(t *testing.T) {
	h := newHarness(t, opts{listen: true})
	lines := genLines(t, 33, 1, 200, "2024-07-04")
	h.start()
	for _, l := range lines[:100] {
		h.line(l)
	}
	fin := lines[99].Finished
	big := hugeLine(15<<20, fin, 1)
	tooBig := hugeLine(17<<20, fin, 2)
	h.line(seiscomp.Record{Data: tooBig, Finished: fin})
	h.line(seiscomp.Record{Data: big, Finished: fin})
	for _, l := range lines[100:] {
		h.line(l)
	}
	ref, summary := h.reference()
	if !re(`too_long:\s+1\b`).MatchString(summary) {
		t.Fatalf("the reference did not skip one too_long line:\n%s", summary)
	}
	ps := h.check(ref)
	if n := h.metric(`eidastatsd_lines_skipped_total{reason="too_long"}`); n != 1 {
		t.Errorf("lines_skipped_total{too_long} = %v, want 1", n)
	}
	h.stop()
	t.Logf("%.2f MiB line skipped, %.2f MiB line counted, %d payloads: identical to the reference", float64(len(tooBig))/(1<<20), float64(len(big))/(1<<20), len(ps))
}

// hugeLine is an OK request of about size bytes: many OK traces over a few
// stations.
func hugeLine(size int, fin time.Time, user int) []byte {
	var b bytes.Buffer
	f := fin.UTC().Format("2006-01-02T15:04:05.000000Z")
	fmt.Fprintf(&b, `{"clientID": "fdsnws", "finished": "%s", "userLocation": {"country": "FR"}, "created": "%s", "bytes": 1, "service": "fdsnws-dataselect", "userEmail": null, "status": "OK", "userID": %d, "trace": [`, f, f, user)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"cha": "HHZ", "sta": "S%03d", "start": "2020-01-01T00:00:00.0000Z", "net": "FR", "restricted": false, "loc": "00", "bytes": %d, "status": "OK", "end": "2020-01-01T01:00:00.0000Z"}`, i%97, 1000+i)
	}
	b.WriteString("]}")
	return b.Bytes()
}
