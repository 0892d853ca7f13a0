package clients

// valueTable is a set of uint64 by open addressing with linear probing, for
// up to explicitMax values: slot value 0 means empty, so 0 itself is a flag.
type valueTable struct {
	slots []uint64
	shift uint8 // 64 - log2(len(slots))
	zero  bool
	n     int // distinct values, 0 included
}

func newValueTable(vals []uint64) *valueTable {
	t := &valueTable{}
	t.resize(32)
	for _, v := range vals {
		t.insert(v)
	}
	return t
}

// resize rehashes into size slots (a power of two).
func (t *valueTable) resize(size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	clear(t.slots) // written before read: see aggregate's rowIndex.grow
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	for _, v := range old {
		if v != 0 {
			t.slots[t.slot(v)] = v
		}
	}
}

// slot is where v goes: the first empty slot or v's own, probing from a
// Fibonacci hash (raw values of small test inputs are not random).
func (t *valueTable) slot(v uint64) int {
	mask := len(t.slots) - 1
	i := int((v * 0x9E3779B97F4A7C15) >> t.shift)
	for t.slots[i] != 0 && t.slots[i] != v {
		i = (i + 1) & mask
	}
	return i
}

func (t *valueTable) insert(v uint64) {
	if v == 0 {
		if !t.zero {
			t.zero = true
			t.n++
		}
		return
	}
	i := t.slot(v)
	if t.slots[i] == v {
		return
	}
	t.slots[i] = v
	t.n++
	// Keep the load under 5/8 so that probes stay short (a set that just
	// passed explicitMax goes to the HLL instead).
	if t.n <= explicitMax && t.n*8 > len(t.slots)*5 {
		t.resize(2 * len(t.slots))
	}
}

// values lists the set in slot order.
func (t *valueTable) values() []uint64 {
	out := make([]uint64, 0, t.n)
	if t.zero {
		out = append(out, 0)
	}
	for _, v := range t.slots {
		if v != 0 {
			out = append(out, v)
		}
	}
	return out
}
