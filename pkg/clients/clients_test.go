package clients

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
)

func TestMurmur3Vectors(t *testing.T) {
	tests := []struct {
		in   string
		want int32 // Python mmh3.hash (signed)
	}{
		{"foo", -156908512},
		{"", 0},
	}
	for _, tc := range tests {
		if got := int32(Murmur3([]byte(tc.in))); got != tc.want {
			t.Errorf("Murmur3(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestMurmur3TailLengths(t *testing.T) {
	// Known MurmurHash3_x86_32 seed-0 values (SMHasher's reference).
	tests := []struct {
		in   string
		want uint32
	}{
		{"a", 0x3c2569b2},
		{"ab", 0x9bbfd75f},
		{"abc", 0xb3dd93fa},
		{"abcd", 0x43ed676a},
		{"Hello, world!", 0xc0363e43},
		{"The quick brown fox jumps over the lazy dog", 0x2e4ff723},
	}
	for _, tc := range tests {
		if got := Murmur3([]byte(tc.in)); got != tc.want {
			t.Errorf("Murmur3(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestRawSignExtension(t *testing.T) {
	got := Raw([]byte("foo"))
	want := uint64(0xFFFFFFFFF6A5C420) // -156908512 sign-extended
	if got != want {
		t.Fatalf("Raw(foo) = %#x, want %#x", got, want)
	}
	if zeroExt := uint64(Murmur3([]byte("foo"))); zeroExt == got {
		t.Fatal("sign extension must differ from zero extension for a negative hash")
	}
}

func TestEmptyEncoding(t *testing.T) {
	var s Set
	if got := s.Hex(); got != `\x118B7F` {
		t.Fatalf("empty = %s, want \\x118B7F", got)
	}
	if s.Cardinality() != 0 {
		t.Fatal("empty cardinality")
	}
}

func TestExplicitEncoding(t *testing.T) {
	var s Set
	s.AddUserID([]byte("1497164453"))
	// One explicit value: header 0x12 0x8B 0x7F then the 8-byte value.
	want := fmt.Sprintf(`\x128B7F%016X`, Raw([]byte("1497164453")))
	if got := s.Hex(); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestRawZeroCounts(t *testing.T) {
	var s Set
	s.Add(0)
	if got := s.Hex(); got != `\x128B7F0000000000000000` {
		t.Fatalf("raw 0 alone = %s", got)
	}
	if s.Cardinality() != 1 {
		t.Fatalf("cardinality %d, want 1", s.Cardinality())
	}
	s.Add(0) // idempotent
	s.Add(5)
	if got := s.Hex(); got != `\x128B7F00000000000000000000000000000005` {
		t.Fatalf("raw 0 and 5 = %s", got)
	}
	if s.Cardinality() != 2 {
		t.Fatalf("cardinality %d, want 2", s.Cardinality())
	}
}

// The explicit threshold for hll(11,5,-1,1) is 160 values: the 161st
// promotes to sparse, and 0 counts towards it as in PostgreSQL.
func TestRawZeroPromotion(t *testing.T) {
	var withZero, without Set
	withZero.Add(0)
	for i := 1; i <= 160; i++ {
		v := Raw([]byte(strconv.Itoa(i)))
		withZero.Add(v)
		without.Add(v)
	}
	if typ := withZero.Bytes()[0] & 0x0f; typ != 3 {
		t.Fatalf("161 values incl. 0: storage type %d, want sparse (3)", typ)
	}
	if typ := without.Bytes()[0] & 0x0f; typ != 2 {
		t.Fatalf("160 values: storage type %d, want explicit (2)", typ)
	}
	// Sparse storage ignores 0: once the set without 0 is promoted by a
	// 161st value, both hold the same registers.
	without.Add(Raw([]byte("x")))
	withZero.Add(Raw([]byte("x")))
	if !bytes.Equal(withZero.Bytes(), without.Bytes()) {
		t.Fatal("sparse sets with the same non-zero values must be identical")
	}
}

func TestUnionKeepsZero(t *testing.T) {
	var a, b Set
	a.Add(7)
	b.Add(0)
	b.Add(9)
	a.Union(&b)
	if got := a.Hex(); got != `\x128B7F000000000000000000000000000000070000000000000009` {
		t.Fatalf("union = %s", got)
	}
	var empty Set
	empty.Union(&b)
	if !bytes.Equal(empty.Bytes(), b.Bytes()) {
		t.Fatalf("union into empty = %X, want %X", empty.Bytes(), b.Bytes())
	}
}

// Union must give the same bytes as adding every value to one set, in
// every storage state.
func TestUnionEqualsSequential(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 8, 9, 12, 16, 17, 100, 160, 161, 300, 1000, 5000} {
		var all, a, b Set
		for i := 0; i < n; i++ {
			v := Raw([]byte(strconv.Itoa(i * 7919)))
			all.Add(v)
			if i%3 == 0 {
				a.Add(v)
			} else {
				b.Add(v)
			}
		}
		a.Union(&b)
		if !bytes.Equal(a.Bytes(), all.Bytes()) {
			t.Errorf("n=%d: union differs from sequential", n)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	var s Set
	for i := 0; i < 500; i++ {
		s.AddUserID([]byte(strconv.Itoa(i)))
	}
	p, err := Parse(s.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Bytes(), s.Bytes()) {
		t.Fatal("round trip differs")
	}
	lower, err := Parse(`\x118b7f`)
	if err != nil || lower.Hex() != `\x118B7F` {
		t.Fatalf("lower-case hex: %v %s", err, lower.Hex())
	}
	for _, bad := range []string{"", "118B7F", `\x11`, `\xZZ`, `\x128B7F00`, `\x118C7F`, `\x318B7F`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`\x118B7F`)
	f.Add(`\x128B7FFFFFFFFFBC818ACA`)
	f.Fuzz(func(t *testing.T, v string) {
		s, err := Parse(v)
		if err != nil {
			return
		}
		if _, err := FromBytes(s.Bytes()); err != nil {
			t.Fatalf("re-parse of own bytes: %v", err)
		}
	})
}

// Values waiting in the small buffer behave exactly like added ones,
// raw 0 included, through Bytes, Cardinality and Union (which must not
// change its argument).
func TestPendingValues(t *testing.T) {
	var small, big Set
	for _, v := range []uint64{0, 3, 3, 7} {
		small.Add(v)
	}
	before := small
	big.Union(&small)
	if small != before {
		t.Fatal("Union changed its argument")
	}
	if got := big.Hex(); got != `\x128B7F000000000000000000000000000000030000000000000007` {
		t.Fatalf("union of pending = %s", got)
	}
	if small.Cardinality() != 3 || small.Hex() != big.Hex() {
		t.Fatalf("pending set: %d %s", small.Cardinality(), small.Hex())
	}
}

// viaHLL builds a set by adding every value straight to go-hll (with the
// raw-0 fix), bypassing the values kept aside.
func viaHLL(vals []uint64) *Set {
	s := &Set{}
	s.ensure()
	for _, v := range vals {
		s.add(v)
	}
	return s
}

// The explicit encoding written for values kept aside (the inline buffer,
// then the table) equals go-hll's, in signed order, for every size across
// both thresholds, with 0 and repeated values anywhere; so does the
// cardinality, and the promotion to sparse happens at the same value.
func TestKeptValuesEqualHLL(t *testing.T) {
	special := []uint64{0, 5, 1 << 63, ^uint64(0), 42, 1<<63 - 1}
	for _, zeroAt := range []int{-1, 0, 7, 8, 9, 100, 159, 160} {
		var vals []uint64
		for i := 0; len(vals) < 200; i++ {
			switch {
			case len(vals) == zeroAt, zeroAt >= 0 && len(vals) == zeroAt+20:
				vals = append(vals, 0) // and 0 again later
			case i < len(special) && special[i] != 0:
				vals = append(vals, special[i])
			default:
				vals = append(vals, Raw([]byte(strconv.Itoa(i))))
			}
			if i%5 == 0 {
				vals = append(vals, vals[len(vals)/2]) // a repeat
			}
		}
		var kept Set
		for n, v := range vals {
			kept.Add(v)
			ref := viaHLL(vals[:n+1])
			if got, want := kept.Hex(), ref.Hex(); got != want {
				t.Fatalf("zero at %d, %d values: kept %s, go-hll %s", zeroAt, n+1, got, want)
			}
			if got, want := kept.Cardinality(), ref.Cardinality(); got != want {
				t.Fatalf("zero at %d, %d values: cardinality %d, go-hll %d", zeroAt, n+1, got, want)
			}
		}
		if !kept.init || kept.tab != nil || kept.npend != 0 {
			t.Fatalf("zero at %d: 200 values are still kept aside", zeroAt)
		}
	}
}

// Unions of sets in every combination of states (inline buffer, table,
// explicit, sparse) equal go-hll's, and leave the argument as it was.
func TestUnionAcrossStates(t *testing.T) {
	sizes := []int{0, 1, 8, 9, 60, 160, 161, 400}
	for _, na := range sizes {
		for _, nb := range sizes {
			var a, b Set
			var all []uint64
			for i := 0; i < na; i++ {
				v := Raw([]byte("a" + strconv.Itoa(i%(na/2+1)*3))) // overlaps b
				a.Add(v)
				all = append(all, v)
			}
			for i := 0; i < nb; i++ {
				v := Raw([]byte("a" + strconv.Itoa(i)))
				if i == nb/2 {
					v = 0
				}
				b.Add(v)
				all = append(all, v)
			}
			before := b.Hex()
			a.Union(&b)
			if got, want := a.Hex(), viaHLL(all).Hex(); got != want {
				t.Fatalf("%d ∪ %d: %s, want %s", na, nb, got, want)
			}
			if b.Hex() != before {
				t.Fatalf("%d ∪ %d: Union changed its argument", na, nb)
			}
		}
	}
}
