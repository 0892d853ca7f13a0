package logline

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

var errSyntax = errors.New("invalid JSON")

// maxDepth bounds nesting so that a hostile line cannot exhaust the stack.
// Python's json gives up near its recursion limit (1000) as well.
const maxDepth = 512

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// strClass marks bytes that end the fast path inside a string.
var strClass = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return
}()

// scanString validates the string starting at b[i] == '"' and returns its
// bounds including quotes and whether it contains escapes. Control
// characters are rejected, as Python's json (strict) does.
func scanString(b []byte, i int) (start, end int, esc bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false, errSyntax
	}
	start = i
	i++
	for {
		i = nextSpecial(b, i)
		if i >= len(b) {
			return 0, 0, false, errSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return start, i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, 0, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, false, errSyntax
				}
				i += 6
			default:
				return 0, 0, false, errSyntax
			}
		default:
			return 0, 0, false, errSyntax
		}
	}
}

const (
	lo7 = 0x0101010101010101
	hi  = 0x8080808080808080
)

// specialMask has the high bit set in the first byte of w (lowest
// address) that is a control character (< 0x20), '"' or '\\', and maybe in
// later bytes too; 0 if there is none ("Bit Twiddling Hacks":
// haszero/hasless; borrows only spread upwards from a true match).
func specialMask(w uint64) uint64 {
	quote := w ^ (lo7 * '"')
	bslash := w ^ (lo7 * '\\')
	t := (w - lo7*0x20) | (quote - lo7) | (bslash - lo7)
	// A byte >= 0x80 sets its high bit in w itself; such bytes (UTF-8) are
	// never special, so ^w masks them out.
	return t &^ w & hi
}

func specialIn(w uint64) bool { return specialMask(w) != 0 }

// nextSpecial returns the index of the first special byte at or after i
// (len(b) if none), eight bytes at a time: a line is mostly string content,
// so this is the parser's hot loop.
func nextSpecial(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && !strClass[b[i]] {
		i++
	}
	return i
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		default:
			r |= rune(c-'A') + 10
		}
	}
	return r
}

// skipValue validates one JSON value (as Python's json.loads accepts it,
// NaN and Infinity included) and returns the index after it.
func skipValue(b []byte, i int) (int, error) { return skipValueDepth(b, i, 0) }

func skipValueDepth(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; c {
	case '"':
		_, end, _, err := scanString(b, i)
		return end, err
	case '{':
		if depth >= maxDepth {
			return 0, errSyntax
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			i = skipWS(b, i)
			_, ke, _, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, ke)
			if i >= len(b) || b[i] != ':' {
				return 0, errSyntax
			}
			i, err = skipValueDepth(b, skipWS(b, i+1), depth+1)
			if err != nil {
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
	case '[':
		if depth >= maxDepth {
			return 0, errSyntax
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			i, err = skipValueDepth(b, skipWS(b, i), depth+1)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, i)
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
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	case 'N':
		return literal(b, i, "NaN")
	case 'I':
		return literal(b, i, "Infinity")
	default:
		if c == '-' && i+1 < len(b) && b[i+1] == 'I' {
			return literal(b, i, "-Infinity")
		}
		return number(b, i)
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return 0, errSyntax
}

// number validates a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func number(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, errSyntax
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i+1 {
			// Python's scanner stops before a dangling '.', which then
			// fails as trailing data: the same outcome.
			return 0, errSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		if k == j {
			return 0, errSyntax
		}
		i = k
	}
	return i, nil
}

// unescape decodes a JSON string body with escapes into the parser's
// scratch space (kept until the next line).
func (p *Parser) unescape(raw []byte) []byte {
	start := len(p.scratch)
	p.scratch = appendUnescaped(p.scratch, raw)
	return p.scratch[start:len(p.scratch):len(p.scratch)]
}

func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if r2 := hex4(raw[i+2 : i+6]); r >= 0xD800 && r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000 {
					dst = utf8.AppendRune(dst, utf16.DecodeRune(r, r2))
					i += 6
					continue
				}
			}
			// A lone surrogate: Python keeps it; UTF-8 cannot, so it
			// becomes U+FFFD (it can only occur in free-text fields).
			dst = utf8.AppendRune(dst, r)
			continue
		}
		i += 2
	}
	return dst
}
