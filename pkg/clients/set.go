package clients

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	hll "github.com/segmentio/go-hll"
)

// Settings are postgresql-hll's hll(11,5,-1,1), the central column type.
var Settings = hll.Settings{
	Log2m:             11,
	Regwidth:          5,
	ExplicitThreshold: hll.AutoExplicitThreshold,
	SparseEnabled:     true,
}

// Storage type nibbles of the hll storage spec.
const (
	typeEmpty    = 1
	typeExplicit = 2
)

// emptyHeader is the storage of an empty hll(11,5,-1,1): \x118B7F.
var emptyHeader = []byte{0x11, 0x8B, 0x7F}

// Set is a unique-client HyperLogLog. The zero value is an empty set.
//
// It wraps go-hll, which ignores the raw value 0, while the reference and
// PostgreSQL keep 0 in the explicit representation (in the sparse and full
// ones 0 touches no register, so ignoring it there is what they do too).
//
// While a set is small enough to be stored explicitly (at most
// explicitMax values), it keeps the values itself, and go-hll is only
// built beyond that: most rows see few clients, and a short scan or a small
// open-addressing table is much cheaper than go-hll's map. An HLL's bytes
// depend only on the set of values added, so deferring is exact.
type Set struct {
	init  bool
	npend uint8
	tab   *valueTable
	// The first pendMax distinct values; then all of them move to tab.
	pend [pendMax]uint64
	h    hll.Hll // last: rarely used, and far from the hot fields
}

const pendMax = 8

// explicitMax is the explicit threshold go-hll and PostgreSQL derive for
// hll(11,5,-1,...): the bytes of the full representation,
// 2^11 registers * 5 bits / 8, counted in 8-byte values. One value more and
// the storage becomes sparse.
const explicitMax = (1 << 11) * 5 / 8 / 8

func (s *Set) ensure() {
	if !s.init {
		h, err := hll.NewHll(Settings)
		if err != nil {
			panic(fmt.Sprintf("clients: invalid built-in HLL settings: %v", err))
		}
		s.h, s.init = h, true
	}
}

// Add adds one raw (already hashed) value.
func (s *Set) Add(raw uint64) {
	if s.init {
		s.add(raw)
		return
	}
	if s.tab == nil {
		for _, v := range s.pend[:s.npend] {
			if v == raw {
				return
			}
		}
		if s.npend < pendMax {
			s.pend[s.npend] = raw
			s.npend++
			return
		}
		s.tab = newValueTable(s.pend[:s.npend])
		s.npend = 0
	}
	s.tab.insert(raw)
	if s.tab.n > explicitMax {
		s.materialize()
	}
}

// values are the distinct values not yet in the HLL.
func (s *Set) values() []uint64 {
	if s.tab != nil {
		return s.tab.values()
	}
	return s.pend[:s.npend]
}

// materialize moves the values kept aside into the HLL.
func (s *Set) materialize() {
	vals := s.values()
	s.ensure()
	s.npend, s.tab = 0, nil
	for _, v := range vals {
		s.add(v)
	}
}

func (s *Set) add(raw uint64) {
	if raw == 0 {
		s.addZero()
		return
	}
	s.h.AddRaw(raw)
}

// AddUserID hashes a userID string the reference's way and adds it.
func (s *Set) AddUserID(userID []byte) { s.Add(Raw(userID)) }

// addZero puts 0 into the explicit set when the HLL is empty or explicit.
func (s *Set) addZero() {
	b := s.h.ToBytes()
	switch b[0] & 0x0f {
	case typeEmpty:
		b = append(b[:0:0], b[0]&0xf0|typeExplicit, b[1], b[2])
	case typeExplicit:
	default:
		return // sparse or full: 0 sets no register
	}
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // go-hll sorts on output
	h, err := hll.FromBytes(b)
	if err != nil {
		panic(fmt.Sprintf("clients: re-reading own explicit HLL: %v", err))
	}
	s.h = h
	s.promoteIfOver()
}

// promoteIfOver makes go-hll re-check its explicit threshold, which FromBytes
// does not do: re-adding a value already present triggers the check.
func (s *Set) promoteIfOver() {
	b := s.h.ToBytes()
	if b[0]&0x0f != typeExplicit {
		return
	}
	for i := 3; i+8 <= len(b); i += 8 {
		var v uint64
		for _, c := range b[i : i+8] {
			v = v<<8 | uint64(c)
		}
		if v != 0 {
			s.h.AddRaw(v)
			return
		}
	}
}

// Union merges o into s, as PostgreSQL's hll_union does. o is not changed.
func (s *Set) Union(o *Set) {
	if o == nil {
		return
	}
	if !o.init {
		for _, v := range o.values() {
			s.Add(v)
		}
		return
	}
	if !s.init {
		s.materialize()
	}
	otherZero := o.hasZero()
	if err := s.h.StrictUnion(o.h); err != nil {
		panic(fmt.Sprintf("clients: union of incompatible HLLs: %v", err))
	}
	if otherZero {
		s.addZero()
	}
}

// hasZero reports whether the explicit set holds the raw value 0.
func (s *Set) hasZero() bool {
	if !s.init {
		return false
	}
	b := s.h.ToBytes()
	if b[0]&0x0f != typeExplicit {
		return false
	}
	for i := 3; i+8 <= len(b); i += 8 {
		zero := true
		for _, c := range b[i : i+8] {
			if c != 0 {
				zero = false
				break
			}
		}
		if zero {
			return true
		}
	}
	return false
}

// Bytes is the hll storage-spec serialisation.
func (s *Set) Bytes() []byte {
	if !s.init && (s.npend > 0 || s.tab != nil) {
		// Values kept aside are an explicit set: the values as big-endian
		// int64, sorted as signed (the storage spec; PostgreSQL rejects
		// another order). No need to build the HLL for that.
		kept := s.values()
		vals := make([]int64, len(kept))
		for i, v := range kept {
			vals[i] = int64(v)
		}
		slices.Sort(vals)
		b := make([]byte, 3, 3+8*len(vals))
		b[0], b[1], b[2] = emptyHeader[0]&0xf0|typeExplicit, emptyHeader[1], emptyHeader[2]
		for _, v := range vals {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	if !s.init {
		return append([]byte(nil), emptyHeader...)
	}
	return s.h.ToBytes()
}

// Cardinality estimates the number of distinct clients.
func (s *Set) Cardinality() uint64 {
	if !s.init {
		// An explicit set's cardinality is its size.
		return uint64(len(s.values()))
	}
	return s.h.Cardinality()
}

// Hex is the payload encoding: `\x` and upper-case hex, as the reference
// writes it.
func (s *Set) Hex() string { return EncodeHex(s.Bytes()) }

// EncodeHex renders storage bytes as `\x` + upper-case hex.
func EncodeHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '\\', 'x'
	for i, c := range b {
		out[2+2*i], out[3+2*i] = digits[c>>4], digits[c&0x0f]
	}
	return string(out)
}

// ErrBadHex is returned for a clients value that is not `\x` + hex.
var ErrBadHex = errors.New(`clients value is not \x followed by hex`)

// Parse decodes a `\x...` clients value (either hex case) into a Set and
// checks that it is a valid hll(11,5,-1,1).
func Parse(v string) (*Set, error) {
	if !strings.HasPrefix(v, `\x`) {
		return nil, ErrBadHex
	}
	b, err := hex.DecodeString(v[2:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHex, err)
	}
	return FromBytes(b)
}

// FromBytes reads storage-spec bytes and checks the parameters.
func FromBytes(b []byte) (*Set, error) {
	h, err := hll.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("invalid HLL: %w", err)
	}
	st := h.Settings()
	if st.Log2m != Settings.Log2m || st.Regwidth != Settings.Regwidth || !st.SparseEnabled || b[2]&0x3f != 0x3f {
		return nil, fmt.Errorf("invalid HLL: want hll(11,5,-1,1), got log2m=%d regwidth=%d sparse=%v", st.Log2m, st.Regwidth, st.SparseEnabled)
	}
	return &Set{h: h, init: true}, nil
}
