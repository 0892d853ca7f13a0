// Package logline parses one line of SeisComP's fdsnws request log into an
// Event: the few fields the statistics need, read in any key order, without
// allocating per line. A line the reference aggregator cannot use is
// reported with a Reason instead of aborting anything.
package logline

import (
	"bytes"
	"unicode/utf8"
)

// Reason names why a line or a trace was skipped. The values are metric
// label values and summary keys, so they stay stable.
type Reason string

// Line-level reasons.
const (
	ReasonEmpty               Reason = "empty"
	ReasonInvalidUTF8         Reason = "invalid_utf8"
	ReasonNotJSON             Reason = "not_json"
	ReasonNotObject           Reason = "not_object"
	ReasonTorn                Reason = "torn" // a broken fragment before an intact record
	ReasonTooLong             Reason = "too_long"
	ReasonMissingFinished     Reason = "missing_finished"
	ReasonBadFinished         Reason = "bad_finished"
	ReasonMissingStatus       Reason = "missing_status"
	ReasonMissingUserID       Reason = "missing_userid"
	ReasonBadUserID           Reason = "bad_userid"
	ReasonMissingUserLocation Reason = "missing_userlocation"
	ReasonBadUserLocation     Reason = "bad_userlocation"
	ReasonMissingTrace        Reason = "missing_trace"
	ReasonBadTrace            Reason = "bad_trace"
)

// Trace-level reasons.
const (
	ReasonTraceNotObject    Reason = "trace_not_object"
	ReasonTraceMissingField Reason = "trace_missing_field"
	ReasonTraceBadField     Reason = "trace_bad_field"
	// ReasonUnknownNetwork is used by the aggregation for a temporary
	// network code with no registry epoch covering the trace start.
	ReasonUnknownNetwork Reason = "unknown_temporary_network"
)

// Trace is one OK trace item. Byte slices point into the line or the
// parser's scratch space and are valid until the next Parse.
type Trace struct {
	Net, Sta, Loc, Cha []byte
	Start              []byte // first 10 characters of `start`
	Bytes              int64
}

// Event is what one request contributes.
type Event struct {
	Date    Date
	Second  int    // time of day of `finished`, as written
	OK      bool   // request status is exactly "OK"
	Status  []byte // the status string (nil if not a string)
	Country []byte // "" when absent or null
	UserID  []byte // Python's str() of the userID value
	Traces  []Trace
	// SkippedTraces counts OK-status trace items that could not be used.
	SkippedTraces []Reason
}

// Parser holds reusable scratch space; it is not safe for concurrent use.
type Parser struct {
	ev      Event
	scratch []byte // decoded strings with escapes
	// raw positions of the top-level fields, filled by scanObject
	finished, status, userID, userLoc, trace span
	items                                    []traceItem // of the last "trace" array
}

type span struct {
	start, end int // value bytes [start,end) in the line; start<0: absent
}

// Parse parses one line (without its newline). The returned Event is valid
// until the next call. A non-empty Reason means the line was skipped.
func (p *Parser) Parse(line []byte) (*Event, Reason) {
	line = trimSpace(line)
	if len(line) == 0 {
		return nil, ReasonEmpty
	}
	if !utf8.Valid(line) {
		return nil, ReasonInvalidUTF8
	}
	if line[0] == '{' {
		p.resetSpans()
		if end, err := p.scanTop(line); err == nil && trimSpaceLen(line[end:]) == 0 {
			return p.build(line)
		}
	} else if end, err := skipValue(line, 0); err == nil && trimSpaceLen(line[end:]) == 0 {
		return nil, ReasonNotObject
	}
	// Not one JSON object: it may be a torn fragment (fdsnws crashed
	// mid-write) with an intact record glued after it, which counts.
	i := recoverTorn(line)
	if i < 0 {
		return nil, ReasonNotJSON
	}
	p.resetSpans()
	if _, err := p.scanTop(line[i:]); err != nil {
		return nil, ReasonNotJSON // recoverTorn checked it; cannot happen
	}
	if ev, r := p.build(line[i:]); r == "" {
		return ev, ""
	}
	return nil, ReasonTorn
}

// recoverTorn finds the start of an intact record after a torn fragment:
// the first `{"` after position 0 from which one JSON object runs exactly to
// the end of the line.
func recoverTorn(line []byte) int {
	for i := 1; i < len(line); {
		j := bytes.Index(line[i:], []byte(`{"`))
		if j < 0 {
			return -1
		}
		i += j
		if end, err := skipValue(line, i); err == nil && trimSpaceLen(line[end:]) == 0 {
			return i
		}
		i++
	}
	return -1
}

func (p *Parser) resetSpans() {
	p.finished = span{-1, -1}
	p.status = span{-1, -1}
	p.userID = span{-1, -1}
	p.userLoc = span{-1, -1}
	p.trace = span{-1, -1}
}

// scanTop validates the top-level object and records the fields we need.
// Duplicate keys: the last one wins, as in Python's json.
func (p *Parser) scanTop(b []byte) (int, error) {
	return p.members(b, 0, func(key []byte, vs int) (ve int, err error) {
		if string(key) == "trace" && vs < len(b) && b[vs] == '[' {
			// The trace list is validated and its items' fields located in
			// one pass: it is most of a line's bytes.
			ve, err = p.scanTraceArray(b, vs)
		} else {
			ve, err = skipValue(b, vs)
		}
		switch string(key) {
		case "finished":
			p.finished = span{vs, ve}
		case "status":
			p.status = span{vs, ve}
		case "userID":
			p.userID = span{vs, ve}
		case "userLocation":
			p.userLoc = span{vs, ve}
		case "trace":
			p.trace = span{vs, ve}
		}
		return ve, err
	})
}

// build extracts the event from a syntactically valid object.
func (p *Parser) build(b []byte) (*Event, Reason) {
	ev := &p.ev
	*ev = Event{Traces: ev.Traces[:0], SkippedTraces: ev.SkippedTraces[:0]}
	p.scratch = p.scratch[:0]

	// The reference reads finished, then userLocation, then status, then
	// userID; a missing one aborts it. We skip the line with that reason.
	if p.finished.start < 0 {
		return nil, ReasonMissingFinished
	}
	fin, ok := p.stringAt(b, p.finished)
	if !ok {
		return nil, ReasonBadFinished
	}
	d, sec, ok := ParseFinishedTime(fin)
	if !ok {
		return nil, ReasonBadFinished
	}
	ev.Date, ev.Second = d, sec

	if p.userLoc.start < 0 {
		return nil, ReasonMissingUserLocation
	}
	if b[p.userLoc.start] != '{' {
		return nil, ReasonBadUserLocation
	}
	ev.Country = p.country(b, p.userLoc)

	if p.status.start < 0 {
		return nil, ReasonMissingStatus
	}
	if st, ok := p.stringAt(b, p.status); ok {
		ev.Status = st
		ev.OK = string(st) == "OK"
	}

	if p.userID.start < 0 {
		return nil, ReasonMissingUserID
	}
	uid, r := p.userIDString(b, p.userID)
	if r != "" {
		return nil, r
	}
	ev.UserID = uid

	if !ev.OK {
		return ev, ""
	}
	if p.trace.start < 0 {
		return nil, ReasonMissingTrace
	}
	if b[p.trace.start] != '[' {
		return nil, ReasonBadTrace
	}
	p.traces(b)
	return ev, ""
}

// stringAt returns the decoded string value at sp, or false if it is not a
// string.
func (p *Parser) stringAt(b []byte, sp span) ([]byte, bool) {
	if b[sp.start] != '"' {
		return nil, false
	}
	raw := b[sp.start+1 : sp.end-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, true
	}
	return p.unescape(raw), true
}

// country reads userLocation.country: a string, else "".
func (p *Parser) country(b []byte, sp span) []byte {
	val := span{-1, -1}
	p.members(b, sp.start, func(key []byte, vs int) (int, error) { // validated by scanTop
		ve, err := skipValue(b, vs)
		if string(key) == "country" {
			val = span{vs, ve}
		}
		return ve, err
	})
	if val.start < 0 {
		return nil
	}
	s, ok := p.stringAt(b, val)
	if !ok {
		return nil
	}
	return s
}

// userIDString renders the userID as Python's str() would: integers in
// decimal, strings as themselves, null as None, booleans as True/False.
// Floats, objects and arrays are skipped: their str() is not something a
// userID ever is, and hashing Python's float formatting is not worth the risk
// of a silent mismatch.
func (p *Parser) userIDString(b []byte, sp span) ([]byte, Reason) {
	v := b[sp.start:sp.end]
	switch v[0] {
	case '"':
		s, _ := p.stringAt(b, sp)
		return s, ""
	case 'n':
		return []byte("None"), ""
	case 't':
		return []byte("True"), ""
	case 'f':
		return []byte("False"), ""
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if bytes.ContainsAny(v, ".eE") {
			return nil, ReasonBadUserID
		}
		if string(v) == "-0" {
			return []byte("0"), ""
		}
		return v, ""
	}
	return nil, ReasonBadUserID
}

// Trace item fields located by scanTraceArray.
const (
	fNet = iota
	fSta
	fLoc
	fCha
	fStart
	fStatus
	fBytes
	nFields
)

type traceItem struct {
	notObject bool
	f         [nFields]span
}

var traceKeys = [nFields]string{"net", "sta", "loc", "cha", "start", "status", "bytes"}

// traceKey is the index of key in traceKeys, or -1. The switch compiles to
// length and word comparisons, not a memequal call per name.
func traceKey(key []byte) int {
	switch string(key) {
	case "net":
		return fNet
	case "sta":
		return fSta
	case "loc":
		return fLoc
	case "cha":
		return fCha
	case "start":
		return fStart
	case "status":
		return fStatus
	case "bytes":
		return fBytes
	}
	return -1
}

// scanTraceArray validates the array at b[i] == '[' and records each item's
// fields (the last of duplicate keys wins, as in Python).
func (p *Parser) scanTraceArray(b []byte, i int) (int, error) {
	p.items = p.items[:0]
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		i = skipWS(b, i)
		var end int
		var err error
		if i < len(b) && b[i] == '{' {
			var it traceItem
			end, err = p.scanTraceObject(b, i, &it)
			p.items = append(p.items, it)
		} else {
			end, err = skipValueDepth(b, i, 2)
			p.items = append(p.items, traceItem{notObject: true})
		}
		if err != nil {
			return 0, err
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return 0, errSyntax
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errSyntax
		}
		i++
	}
}

func (p *Parser) scanTraceObject(b []byte, i int, it *traceItem) (int, error) {
	for k := range it.f {
		it.f[k] = span{-1, -1}
	}
	return p.members(b, i, func(key []byte, vs int) (int, error) {
		ve, err := skipValueDepth(b, vs, 3)
		if k := traceKey(key); k >= 0 {
			it.f[k] = span{vs, ve}
		}
		return ve, err
	})
}

// traces turns the located items into OK traces; only items with status
// "OK" count.
func (p *Parser) traces(b []byte) {
	ev := &p.ev
	for idx := range p.items {
		it := &p.items[idx]
		if it.notObject {
			// The reference would index into it and abort; we cannot know
			// its status, so it is a skipped trace.
			ev.SkippedTraces = append(ev.SkippedTraces, ReasonTraceNotObject)
			continue
		}
		if it.f[fStatus].start < 0 {
			ev.SkippedTraces = append(ev.SkippedTraces, ReasonTraceMissingField)
			continue
		}
		if s, ok := p.stringAt(b, it.f[fStatus]); !ok || string(s) != "OK" {
			continue // not an OK trace: ignored, not an error
		}
		missing := false
		for _, f := range it.f {
			if f.start < 0 {
				missing = true
			}
		}
		if missing {
			ev.SkippedTraces = append(ev.SkippedTraces, ReasonTraceMissingField)
			continue
		}
		var t Trace
		var ok [5]bool
		t.Net, ok[0] = p.stringAt(b, it.f[fNet])
		t.Sta, ok[1] = p.stringAt(b, it.f[fSta])
		t.Loc, ok[2] = p.stringAt(b, it.f[fLoc])
		t.Cha, ok[3] = p.stringAt(b, it.f[fCha])
		t.Start, ok[4] = p.stringAt(b, it.f[fStart])
		n, nok := parseInt(b[it.f[fBytes].start:it.f[fBytes].end])
		if !ok[0] || !ok[1] || !ok[2] || !ok[3] || !ok[4] || !nok {
			ev.SkippedTraces = append(ev.SkippedTraces, ReasonTraceBadField)
			continue
		}
		t.Start = firstRunes(t.Start, 10) // Python slices code points
		t.Bytes = n
		ev.Traces = append(ev.Traces, t)
	}
}

// members validates the object at b[i] == '{' and calls value for each
// member with its (decoded) key and the value's start; value parses the
// value and returns the index after it.
func (p *Parser) members(b []byte, i int, value func(key []byte, vs int) (int, error)) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		i = skipWS(b, i)
		ks, ke, esc, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[ks+1 : ke-1]
		if esc {
			key = p.unescape(key)
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		if i, err = value(key, skipWS(b, i+1)); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errSyntax
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errSyntax
		}
		i++
	}
}

// parseInt reads a JSON integer that fits int64 (Python ints are unbounded,
// but the central column is int8: a larger value is a bad field).
func parseInt(v []byte) (int64, bool) {
	neg := false
	if len(v) > 0 && v[0] == '-' {
		neg = true
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpaceLen(b []byte) int { return len(trimSpace(b)) }

// firstRunes returns the first n code points of s.
func firstRunes(s []byte, n int) []byte {
	for i := 0; i < len(s); n-- {
		if n == 0 {
			return s[:i]
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRune(s[i:])
		i += size
	}
	return s
}
