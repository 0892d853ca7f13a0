package bzip2par

import (
	"encoding/binary"
	"errors"
	"slices"
	"sync"
)

// This file is the block decoder: it decodes one bzip2 block given as the
// bits from its block magic to the next boundary, following the format as
// bzip2 1.0.x reads it. The stages are: a bit reader that loads 64 bits at a
// time, table-driven Huffman decoding (a lookup on the next lutBits bits, a
// canonical-code search for longer codes), move-to-front and RUNA/RUNB run
// decoding, the inverse Burrows-Wheeler transform walked
// in segments so that several chains of cache misses overlap, and the final
// run-length decoding, after which the block CRC is checked.
//
// Where compress/bzip2 and bzip2 (C) disagree, this decoder does as bzip2
// does, since the output must equal `bzip2 -dc`:
//   - An incomplete Huffman code is decoded canonically and a code that is
//     not assigned is an error (compress/bzip2 builds a different tree).
//   - A table that is oversubscribed is an error only if a selector uses it
//     (bzip2 decodes such codes in an undefined way; encoders never write them).
//   - A block whose data ends right after four equal bytes, without the
//     run-length byte, is an error (compress/bzip2 accepts it).
// None of these can occur in data written by bzip2, lbzip2 or pbzip2.

const (
	lutBits    = 11 // bits looked up at once; longer codes take the slow path
	maxCodeLen = 20
	maxGroups  = 6
	maxAlpha   = 258 // 256 byte values + RUNA/RUNB - 1 + end of block
	groupSize  = 50  // symbols coded with one table before the next selector
)

var (
	errMagic       = errors.New("bad block magic")
	errRandomized  = errors.New("deprecated randomized block")
	errNoSymbols   = errors.New("no symbols in use")
	errNumTables   = errors.New("invalid number of Huffman tables")
	errNoSelectors = errors.New("no Huffman table selectors")
	errSelector    = errors.New("Huffman table selector out of range")
	errFewSel      = errors.New("more symbols than the selectors cover")
	errCodeLen     = errors.New("Huffman code length out of range")
	errOversub     = errors.New("oversubscribed Huffman code in use")
	errBadCode     = errors.New("invalid Huffman code")
	errBlockSize   = errors.New("data exceeds block size")
	errOrigPtr     = errors.New("BWT origin pointer out of range")
	errPastEnd     = errors.New("block data runs past the boundary")
	errNotAtEnd    = errors.New("block ends before the boundary")
	errRunAtEnd    = errors.New("block ends inside a run-length code")
	errBlockCRC    = errors.New("block checksum mismatch")
	errTooShort    = errors.New("block too short")
)

// huffTable decodes one canonical Huffman code.
type huffTable struct {
	// lut maps the next lutBits bits to sym<<5 | length, or 0 when no code
	// of at most lutBits bits is a prefix of them.
	lut [1 << lutBits]uint16
	// For codes of length l: limit[l] is one past the last code, base[l]
	// added to a code gives its index in perm.
	limit [maxCodeLen + 1]int32
	base  [maxCodeLen + 1]int32
	perm  [maxAlpha]uint16
	// oversub marks a code whose lengths over-fill the code space.
	oversub bool
	// complete is false for a code that leaves part of the code space unused.
	complete bool
}

// build sets t up for the code lengths lens (each 1..20) of symbols 0..n-1.
func (t *huffTable) build(lens []uint8) {
	var count [maxCodeLen + 2]int32
	for _, l := range lens {
		count[l]++
	}
	var offs [maxCodeLen + 2]int32 // symbols with a shorter code
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	next := offs
	for s, l := range lens {
		t.perm[next[l]] = uint16(s)
		next[l]++
	}
	t.oversub = false
	var first [maxCodeLen + 1]int32
	code := int32(0) // first code of length l
	for l := 1; l <= maxCodeLen; l++ {
		first[l] = code
		t.limit[l] = code + count[l]
		t.base[l] = offs[l] - code
		if code+count[l] > 1<<l {
			t.oversub = true
		}
		code = (code + count[l]) << 1
	}
	t.complete = !t.oversub && code == 1<<(maxCodeLen+1)
	clear(t.lut[:])
	if t.oversub {
		return
	}
	for l := 1; l <= lutBits; l++ {
		for k := range count[l] {
			sym := t.perm[offs[l]+k]
			c := int(first[l]+k) << (lutBits - l)
			e := sym<<5 | uint16(l)
			for i := c; i < c+1<<(lutBits-l); i++ {
				t.lut[i] = e
			}
		}
	}
}

// slow decodes a code longer than lutBits from the next 20 bits v, or
// returns length 0 for a code that is not assigned.
func (t *huffTable) slow(v uint32) (sym uint32, l uint) {
	for n := lutBits + 1; n <= maxCodeLen; n++ {
		c := int32(v >> (maxCodeLen - n))
		if c < t.limit[n] {
			return uint32(t.perm[c+t.base[n]]), uint(n)
		}
	}
	return 0, 0
}

// bitReader reads bits MSB first, 64 at a time, from b; past the end it
// reads zeros.
type bitReader struct {
	b    []byte
	p    int    // next byte of b to load
	bits uint64 // unread bits, MSB aligned
	nb   uint   // number of valid bits in bits
}

// refill makes nb at least 56.
func (r *bitReader) refill() {
	if r.p+8 <= len(r.b) {
		r.bits |= binary.BigEndian.Uint64(r.b[r.p:]) >> r.nb
		r.p += int(63-r.nb) >> 3
		r.nb |= 56
		return
	}
	for r.nb <= 56 {
		var c byte
		if r.p < len(r.b) {
			c = r.b[r.p]
		}
		r.bits |= uint64(c) << (56 - r.nb)
		r.p++
		r.nb += 8
	}
}

// get returns the next n <= 32 bits.
func (r *bitReader) get(n uint) uint32 {
	if r.nb < n {
		r.refill()
	}
	v := uint32(r.bits >> (64 - n))
	r.bits <<= n
	r.nb -= n
	return v
}

// consumed is the number of bits read from the start of b.
func (r *bitReader) consumed() int64 { return int64(r.p)*8 - int64(r.nb) }

// blockDecoder holds the buffers for decoding one block; they are reused
// through decoderPool.
type blockDecoder struct {
	tt     []uint32 // forward links: tt[j] = T[j]<<8 | F[j]
	data   []byte   // the BWT output L
	cnt    [256]uint32
	walk   []byte // the block before run-length decoding, in pieces
	parts  [][]byte
	starts []uint32
	succ   []int32
	pieces []piece
	sorted []piece
	sel    []uint8
	lens   [maxAlpha]uint8
	tables [maxGroups]huffTable
	// incomplete is set when a table of the last block was not a complete
	// code (for the differential tests).
	incomplete bool
}

var decoderPool = sync.Pool{New: func() any { return new(blockDecoder) }}

// decodeBlock decodes the candidate block at bits [off, off+nbits) of raw
// (starting at its block magic, ending exactly at the next boundary) for a
// stream of the given level ('1'..'9'). It appends the data to out and
// returns it with the block's stored CRC, which it has checked.
func decodeBlock(raw []byte, off uint8, nbits int64, level byte, out []byte) ([]byte, uint32, error) {
	d := decoderPool.Get().(*blockDecoder)
	defer decoderPool.Put(d)
	return d.decode(raw, off, nbits, level, out)
}

func (d *blockDecoder) decode(raw []byte, off uint8, nbits int64, level byte, out []byte) ([]byte, uint32, error) {
	if nbits < 48+32+1+24 {
		return nil, 0, errTooShort
	}
	d.incomplete = false
	r := bitReader{b: raw}
	r.refill()
	r.bits <<= off
	r.nb -= uint(off)
	if uint64(r.get(24))<<24|uint64(r.get(24)) != blockMagic {
		return nil, 0, errMagic
	}
	crc := r.get(32)
	if r.get(1) != 0 {
		return nil, 0, errRandomized
	}
	origPtr := int(r.get(24))

	// The byte values in use: a 16-bit map of 16-value ranges, then a 16-bit
	// map of each range in use.
	var seq [256]byte
	nInUse := 0
	ranges := r.get(16)
	for i := range 16 {
		if ranges&(0x8000>>i) == 0 {
			continue
		}
		m := r.get(16)
		for j := range 16 {
			if m&(0x8000>>j) != 0 {
				seq[nInUse] = byte(i*16 + j)
				nInUse++
			}
		}
	}
	if nInUse == 0 {
		return nil, 0, errNoSymbols
	}
	alphaSize := nInUse + 2

	nGroups := int(r.get(3))
	if nGroups < 2 || nGroups > maxGroups {
		return nil, 0, errNumTables
	}
	nSel := int(r.get(15))
	if nSel == 0 {
		return nil, 0, errNoSelectors
	}
	if cap(d.sel) < nSel {
		d.sel = make([]uint8, 1<<15)
	}
	sel := d.sel[:nSel]
	groupMTF := [maxGroups]uint8{0, 1, 2, 3, 4, 5}
	for i := range sel {
		j := 0
		for r.get(1) != 0 {
			j++
			if j >= nGroups {
				return nil, 0, errSelector
			}
		}
		v := groupMTF[j]
		copy(groupMTF[1:j+1], groupMTF[:j])
		groupMTF[0] = v
		sel[i] = v
	}

	// Code lengths: a 5-bit start, then per symbol a delta code (1 0: +1,
	// 1 1: -1, 0: done).
	lens := d.lens[:alphaSize]
	for t := range nGroups {
		cur := r.get(5)
		for s := range lens {
			for {
				if cur < 1 || cur > maxCodeLen {
					return nil, 0, errCodeLen
				}
				if r.get(1) == 0 {
					break
				}
				if r.get(1) == 0 {
					cur++
				} else {
					cur--
				}
			}
			lens[s] = uint8(cur)
		}
		d.tables[t].build(lens)
		if !d.tables[t].complete {
			d.incomplete = true
		}
	}

	limit := int(level-'0') * 100000
	if cap(d.data) < limit {
		d.data = make([]byte, limit)
		d.tt = make([]uint32, limit)
	}
	n, err := d.decodeSymbols(&r, sel, seq, nInUse, limit)
	if err != nil {
		return nil, 0, err
	}
	if got := r.consumed() - int64(off); got != nbits {
		if got > nbits {
			return nil, 0, errPastEnd
		}
		return nil, 0, errNotAtEnd
	}
	if origPtr >= n {
		return nil, 0, errOrigPtr
	}
	if err := d.inverseBWT(n, origPtr); err != nil {
		return nil, 0, err
	}
	start := len(out)
	out = slices.Grow(out, n)
	var u unRLE
	for _, p := range d.parts {
		out = u.add(out, p)
	}
	if u.run == 4 {
		return nil, 0, errRunAtEnd
	}
	if blockCRC(out[start:]) != crc {
		return nil, 0, errBlockCRC
	}
	return out, crc, nil
}

// decodeSymbols decodes the Huffman-coded, move-to-front and RUNA/RUNB
// coded symbols into d.data (the BWT output L) and returns their number.
func (d *blockDecoder) decodeSymbols(r *bitReader, sel []uint8, seq [256]byte, nInUse, limit int) (int, error) {
	data := d.data[:limit]
	cnt := &d.cnt
	clear(cnt[:])
	mtf := seq
	eob := uint32(nInUse + 1)
	n := 0
	run, runShift := 0, uint(0)
	raw := r.b
	bits, nb, p := r.bits, r.nb, r.p
	defer func() { r.bits, r.nb, r.p = bits, nb, p }()
	for gi := 0; ; gi++ {
		if gi >= len(sel) {
			return 0, errFewSel
		}
		t := &d.tables[sel[gi]]
		if t.oversub {
			return 0, errOversub
		}
		if p > len(raw)+8 {
			return 0, errPastEnd
		}
		for range groupSize {
			if nb < maxCodeLen {
				if p+8 <= len(raw) {
					bits |= binary.BigEndian.Uint64(raw[p:]) >> nb
					p += int(63-nb) >> 3
					nb |= 56
				} else {
					r.bits, r.nb, r.p = bits, nb, p
					r.refill()
					bits, nb, p = r.bits, r.nb, r.p
				}
			}
			e := t.lut[bits>>(64-lutBits)]
			sym, l := uint32(e>>5), uint(e&31)
			if l == 0 {
				if sym, l = t.slow(uint32(bits >> (64 - maxCodeLen))); l == 0 {
					return 0, errBadCode
				}
			}
			bits <<= l
			nb -= l
			if sym < 2 { // RUNA, RUNB: a bijective base-2 digit of a run length
				run += int(sym+1) << runShift
				runShift++
				if runShift > 20 { // the run exceeds any block size
					return 0, errBlockSize
				}
				continue
			}
			if run > 0 {
				if run > limit-n {
					return 0, errBlockSize
				}
				b := mtf[0]
				cnt[b] += uint32(run)
				s := data[n : n+run]
				for i := range s {
					s[i] = b
				}
				n += run
				run, runShift = 0, 0
			}
			if sym == eob {
				return n, nil
			}
			// Move to front: symbol k >= 2 is MTF index k-1.
			i := uint8(sym - 1)
			b := mtf[i]
			if i < 16 {
				for ; i > 0; i-- {
					mtf[i] = mtf[i-1]
				}
			} else {
				copy(mtf[1:int(i)+1], mtf[:i])
			}
			mtf[0] = b
			if n >= limit {
				return 0, errBlockSize
			}
			data[n] = b
			n++
			cnt[b]++
		}
	}
}

// The inverse BWT follows one chain of dependent loads through tt, which is
// a few MB and so misses the caches at every step. To overlap the misses,
// the chain is cut at walkSegs start rows into segments, and walkLanes
// segments are walked at once. A segment ends at the entry that leads to
// another start row, marked with walkFlag when tt is built. Segment
// lengths are not known in advance, so the lanes write into chunks of
// d.walk, and the pieces are put in order afterwards.
const (
	walkLanes = 8
	walkSegs  = 64
	walkChunk = 4096
	walkFlag  = 1 << 31
	walkMin   = 1 << 14 // smaller blocks take a single chain
)

// piece is part of one segment's output, at d.walk[start:start+n].
type piece struct{ seg, start, n int32 }

var errBWT = errors.New("BWT links do not form one cycle")

// inverseBWT undoes the Burrows-Wheeler transform of d.data[:n], the last
// column L of the sorted rotations, whose row origPtr is the block. It
// leaves the block in d.parts, in order. d.cnt holds the byte counts.
func (d *blockDecoder) inverseBWT(n, origPtr int) error {
	data := d.data[:n]
	cnt := &d.cnt
	sum := uint32(0)
	for i, c := range cnt {
		cnt[i] = sum
		sum += c
	}
	// Row i, whose rotation ends in L[i], is followed (rotated left by
	// one) by row j = LF(i), which starts with L[i]: tt[j] = i<<8 | L[i].
	// Walking tt from row origPtr gives the block from its start.
	tt := d.tt[:n]
	if need := n + (walkLanes+1)*walkChunk; cap(d.walk) < need {
		d.walk = make([]byte, need)
	}
	walk := d.walk[:cap(d.walk)]
	d.parts = d.parts[:0]
	if n < walkMin {
		for i, b := range data {
			j := cnt[b]
			cnt[b] = j + 1
			tt[j] = uint32(i)<<8 | uint32(b)
		}
		p := uint32(origPtr)
		out := walk[:n]
		for k := range out {
			x := tt[p]
			out[k] = byte(x)
			p = x >> 8
		}
		if p != uint32(origPtr) {
			return errBWT
		}
		d.parts = append(d.parts, out)
		return nil
	}

	// Start rows: origPtr and evenly spaced ones, sorted, distinct.
	starts := d.starts[:0]
	for k := range walkSegs {
		starts = append(starts, uint32(k*n/walkSegs))
	}
	starts = append(starts, uint32(origPtr))
	slices.Sort(starts)
	starts = slices.Compact(starts)
	d.starts = starts
	// Build tt; the entry leading to a start row is marked.
	i := 0
	for _, s := range starts {
		for ; i < int(s); i++ {
			b := data[i]
			j := cnt[b]
			cnt[b] = j + 1
			tt[j] = uint32(i)<<8 | uint32(b)
		}
		b := data[i]
		j := cnt[b]
		cnt[b] = j + 1
		tt[j] = uint32(i)<<8 | uint32(b) | walkFlag
		i++
	}
	for ; i < n; i++ {
		b := data[i]
		j := cnt[b]
		cnt[b] = j + 1
		tt[j] = uint32(i)<<8 | uint32(b)
	}
	segOf := func(row uint32) int {
		k, _ := slices.BinarySearch(starts, row)
		return k
	}

	nseg := len(starts)
	succ := d.succ[:0]
	for range nseg {
		succ = append(succ, -1)
	}
	d.succ = succ
	pieces := d.pieces[:0]
	var (
		row        [walkLanes]uint32
		pos, end   [walkLanes]int
		pieceStart [walkLanes]int
		seg        [walkLanes]int32
	)
	bump, nextSeg, active := 0, 0, 0
	for l := 0; l < walkLanes && nextSeg < nseg; l++ {
		row[l], seg[l] = starts[nextSeg], int32(nextSeg)
		nextSeg++
		pos[l], end[l], pieceStart[l] = bump, bump+walkChunk, bump
		bump += walkChunk
		active++
	}
	for active > 0 {
		for l := 0; l < active; l++ {
			x := tt[row[l]]
			walk[pos[l]] = byte(x)
			pos[l]++
			row[l] = x >> 8 & (1<<23 - 1)
			if x&walkFlag == 0 && pos[l] < end[l] {
				continue
			}
			if pos[l] > pieceStart[l] {
				pieces = append(pieces, piece{seg[l], int32(pieceStart[l]), int32(pos[l] - pieceStart[l])})
				pieceStart[l] = pos[l]
			}
			if pos[l] == end[l] {
				if bump+walkChunk > len(walk) {
					return errBWT
				}
				pos[l], end[l], pieceStart[l] = bump, bump+walkChunk, bump
				bump += walkChunk
			}
			if x&walkFlag == 0 {
				continue
			}
			succ[seg[l]] = int32(segOf(row[l]))
			if nextSeg < nseg {
				row[l], seg[l] = starts[nextSeg], int32(nextSeg)
				nextSeg++
				continue
			}
			// No segment left: this lane stops; the last lane takes its
			// place (and is walked again from the next round).
			active--
			row[l], pos[l], end[l], pieceStart[l], seg[l] =
				row[active], pos[active], end[active], pieceStart[active], seg[active]
			l--
		}
	}
	d.pieces = pieces

	// Order: segments from origPtr's, pieces of a segment in walk order.
	first := make([]int32, nseg+1)
	for _, p := range pieces {
		first[p.seg+1]++
	}
	for k := 1; k <= nseg; k++ {
		first[k] += first[k-1]
	}
	sorted := slices.Grow(d.sorted[:0], len(pieces))[:len(pieces)]
	fill := slices.Clone(first[:nseg])
	for _, p := range pieces {
		sorted[fill[p.seg]] = p
		fill[p.seg]++
	}
	d.sorted = sorted
	s0 := segOf(uint32(origPtr))
	total := 0
	for s, k := s0, 0; ; k++ {
		if k == nseg || s < 0 {
			return errBWT
		}
		for _, p := range sorted[first[s]:first[s+1]] {
			d.parts = append(d.parts, walk[p.start:p.start+p.n])
			total += int(p.n)
		}
		if s = int(succ[s]); s == s0 {
			break
		}
	}
	if total != n {
		return errBWT
	}
	return nil
}

// unRLE undoes the initial run-length coding: after four equal bytes, the
// next byte is a count of further copies. Its state carries over from one
// call of add to the next.
type unRLE struct {
	last byte
	run  int // equal bytes seen, 4: the next byte is a count
}

// add appends the decoding of in to out.
func (u *unRLE) add(out, in []byte) []byte {
	o := len(out)
	out = slices.Grow(out, len(in))
	out = out[:cap(out)]
	last, run := u.last, u.run
	for i := 0; i < len(in); i++ {
		b := in[i]
		if run == 4 {
			c := int(b)
			if rest := len(in) - i - 1; o+c+rest > len(out) {
				out = slices.Grow(out[:o], c+rest)
				out = out[:cap(out)]
			}
			s := out[o : o+c]
			for j := range s {
				s[j] = last
			}
			o += c
			run = 0
			continue
		}
		if b == last && run > 0 {
			run++
		} else {
			run, last = 1, b
		}
		out[o] = b
		o++
	}
	u.last, u.run = last, run
	return out[:o]
}
