package aggregate

import "hash/maphash"

// rowIndex finds a table's rows by encoded key (see Table.row). Unlike a
// map[string]*Row it needs no memory access beyond its slot and the row
// itself: the slot holds the key's hash, and a row keeps a short key in
// its first cache lines, where Add's counters are. A day's table is larger
// than the CPU caches, so that is most of the cost of aggregating.
type rowIndex struct {
	slots []indexSlot // a power of two long, at most half full
	rows  []*Row      // in insertion order
	seed  maphash.Seed
}

type indexSlot struct {
	hash uint64 // 0: empty (hashes are made non-zero)
	row  *Row
}

// inlineKey is the longest key a row holds inline; typical keys are about
// 20 bytes, longer ones are kept in a string.
const inlineKey = 30

// rowKey is a row's encoded key.
type rowKey struct {
	n      uint8
	inline [inlineKey]byte
	long   string
}

func (k *rowKey) set(b []byte) {
	if len(b) <= inlineKey {
		k.n = uint8(len(b))
		copy(k.inline[:], b)
		return
	}
	k.n = inlineKey + 1
	k.long = string(b)
}

func (k *rowKey) equal(b []byte) bool {
	if k.n <= inlineKey {
		return int(k.n) == len(b) && string(k.inline[:k.n]) == string(b)
	}
	return k.long == string(b)
}

func (k *rowKey) bytes() []byte {
	if k.n <= inlineKey {
		return k.inline[:k.n]
	}
	return []byte(k.long)
}

func newRowIndex() rowIndex {
	return rowIndex{slots: make([]indexSlot, 64), seed: maphash.MakeSeed()}
}

func (x *rowIndex) hash(key []byte) uint64 {
	// Non-zero by the top bit: the slot is chosen by the low bits.
	return maphash.Bytes(x.seed, key) | 1<<63
}

// peek reads the slot where the search for hash h starts, so that it is
// in the cache when find needs it.
func (x *rowIndex) peek(h uint64) uint64 {
	return x.slots[h&uint64(len(x.slots)-1)].hash
}

// find returns the row of key (with hash h), or nil.
func (x *rowIndex) find(key []byte, h uint64) *Row {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.hash == 0 {
			return nil
		}
		if s.hash == h && s.row.key.equal(key) {
			return s.row
		}
	}
}

// insert adds r, whose key (hash h) is not in the index.
func (x *rowIndex) insert(r *Row, h uint64) {
	x.rows = append(x.rows, r)
	if 2*len(x.rows) > len(x.slots) {
		x.grow()
	}
	x.place(r, h)
}

func (x *rowIndex) place(r *Row, h uint64) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = indexSlot{hash: h, row: r}
}

func (x *rowIndex) grow() {
	old := x.slots
	x.slots = make([]indexSlot, 2*len(old))
	// Write the new memory before probing reads it: a fresh page read
	// first maps the shared zero page, and the first write then costs a
	// second fault and a TLB shootdown on every core.
	clear(x.slots)
	for _, s := range old {
		if s.hash != 0 {
			x.place(s.row, s.hash)
		}
	}
}
