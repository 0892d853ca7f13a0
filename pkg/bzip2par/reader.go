// Package bzip2par decompresses bzip2 data with several goroutines.
//
// bzip2 compresses independent blocks of up to 900 kB. A scanner finds the
// block magics at any bit offset, workers decode the candidate blocks
// concurrently (with this package's own block decoder, which checks the block
// CRC), and the reader hands out the results in input order, checking every
// stream's combined CRC. Output is byte-identical to
// `bzip2 -dc`, including concatenated (multi-stream) files as pbzip2 and
// lbzip2 write them. Unlike `bzip2 -dc`, trailing data that is not a bzip2
// stream is an error rather than a warning: silently dropping the rest of a
// damaged multi-stream file would lose log lines.
package bzip2par

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Reader decompresses bzip2 data in parallel. It is not safe for concurrent
// use by several goroutines.
type Reader struct {
	order  chan *job
	jobs   chan *job
	quit   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup

	cur      []byte // decoded data not yet returned
	curBuf   []byte // backing buffer of cur, recycled once drained
	combined uint32 // combined CRC of the current stream's blocks
	err      error  // sticky

	// split, when set by tests, cuts pieces at extra points to simulate a
	// block magic occurring by chance inside compressed data.
	split func(*job) []*job
	// decode decodes one piece: decodePiece, or decodePieceStd in tests.
	decode decodeFunc
}

// NewReader returns a reader that decompresses r using workers goroutines
// (GOMAXPROCS when workers <= 0). At most about 2*workers+2 blocks are in
// flight, so memory stays at a few MB per worker for ordinary data. Close
// stops the goroutines; it does not close r.
func NewReader(r io.Reader, workers int) *Reader {
	return newReader(r, workers, nil, nil)
}

// decodeFunc decodes one piece; see decodePiece.
type decodeFunc func(raw []byte, off uint8, nbits int64, level byte, out []byte) ([]byte, uint32, error)

// newReader is NewReader with test hooks: split (see Reader.split) and
// decode (decodePiece when nil).
func newReader(r io.Reader, workers int, split func(*job) []*job, decode decodeFunc) *Reader {
	if decode == nil {
		decode = decodePiece
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	z := &Reader{
		order:  make(chan *job, 2*workers),
		jobs:   make(chan *job, 2*workers),
		quit:   make(chan struct{}),
		split:  split,
		decode: decode,
	}
	z.wg.Add(1 + workers)
	go z.scan(r)
	for range workers {
		go z.work()
	}
	return z
}

func (z *Reader) scan(r io.Reader) {
	defer z.wg.Done()
	defer close(z.order)
	defer close(z.jobs)
	send := func(j *job) bool {
		if j.kind == kindBlock {
			j.done = make(chan struct{})
			select {
			case z.jobs <- j:
			case <-z.quit:
				return false
			}
		}
		select {
		case z.order <- j:
			return true
		case <-z.quit:
			return false
		}
	}
	s := &scanner{r: r, buf: make([]byte, 0, 2*readChunk)}
	s.emit = send
	if z.split != nil {
		s.emit = func(j *job) bool {
			for _, p := range z.split(j) {
				if !send(p) {
					return false
				}
			}
			return true
		}
	}
	if err := s.run(); err != nil {
		send(&job{kind: kindErr, err: err})
	}
}

var outPool = sync.Pool{New: func() any { return make([]byte, 0, 1<<20) }}

func (z *Reader) work() {
	defer z.wg.Done()
	for j := range z.jobs {
		j.out, j.crc, j.err = z.decode(j.raw, j.off, j.nbits, j.level, outPool.Get().([]byte)[:0])
		close(j.done)
	}
}

// Read implements io.Reader.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.cur) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		if z.curBuf != nil {
			outPool.Put(z.curBuf[:0])
			z.curBuf = nil
		}
		z.err = z.next()
	}
	n := copy(p, z.cur)
	z.cur = z.cur[n:]
	return n, nil
}

// next takes the next job in input order and makes its output current.
func (z *Reader) next() error {
	j, ok := <-z.order
	if !ok {
		return io.EOF
	}
	switch j.kind {
	case kindErr:
		return j.err
	case kindEOS:
		if z.combined != j.crc {
			return fmt.Errorf("%w at byte %d", ErrChecksum, j.pos)
		}
		z.combined = 0
		return nil
	}
	<-j.done
	if j.err != nil {
		if err := z.merge(j); err != nil {
			return err
		}
	}
	z.combined = (z.combined<<1 | z.combined>>31) ^ j.crc
	z.cur, z.curBuf = j.out, j.out
	return nil
}

// maxMerge bounds how many false boundaries one block may contain before the
// block is declared corrupt.
const maxMerge = 8

// merge handles a piece that failed to decode: it may end at a false magic
// match inside its block, so it is joined with the following pieces until
// the block decodes. On success j holds the decoded block.
func (z *Reader) merge(j *job) error {
	first := fmt.Errorf("bzip2par: block at byte %d: %w", j.pos, j.err)
	raw, off, nbits := j.raw, j.off, j.nbits
	for range maxMerge {
		n, ok := <-z.order
		if !ok {
			return first
		}
		if n.kind == kindErr {
			return fmt.Errorf("%w (then: %w)", first, n.err)
		}
		if n.kind != kindBlock || nbits+n.nbits > maxPieceBits(j.level) {
			return first
		}
		raw, off, nbits = joinBits(raw, off, nbits, n.raw, n.off, n.nbits)
		out, crc, err := z.decode(raw, off, nbits, j.level, nil)
		if err == nil {
			j.out, j.crc, j.err = out, crc, nil
			return nil
		}
	}
	return first
}

// Close stops the scanner and workers; a scanner inside r.Read exits when
// that call returns. Reading after Close is an error.
func (z *Reader) Close() error {
	z.closed.Do(func() {
		close(z.quit)
		z.cur, z.err = nil, errors.New("bzip2par: read after Close")
	})
	return nil
}

// decodePiece decodes one candidate block given as bits [off, off+nbits) of
// raw (see decodeBlock), appending to out. It returns the output, the
// block's stored CRC (checked) and an error for anything but one whole
// valid block.
func decodePiece(raw []byte, off uint8, nbits int64, level byte, out []byte) (res []byte, crc uint32, err error) {
	defer func() {
		// Corrupt input must never take the process down.
		if p := recover(); p != nil {
			res, crc, err = nil, 0, fmt.Errorf("bzip2 decoder panic: %v", p)
		}
	}()
	return decodeBlock(raw, off, nbits, level, out)
}

// decodePieceStd is decodePiece done by compress/bzip2, for differential
// tests and benchmarks. It wraps the piece as a complete one-block stream:
// header, block, end marker and a stream CRC equal to the block's own CRC. compress/bzip2 then
// checks the block CRC and that the block ends exactly at the end marker.
func decodePieceStd(raw []byte, off uint8, nbits int64, level byte, out []byte) (res []byte, crc uint32, err error) {
	if nbits < 48+32+1+24 {
		return nil, 0, errors.New("block too short")
	}
	crc = uint32(readBits(raw, int64(off)+48, 32))
	var w bitWriter
	w.buf = make([]byte, 0, len(raw)+16)
	w.buf = append(w.buf, 'B', 'Z', 'h', level)
	w.copyBits(raw, int64(off), nbits)
	w.write(eosMagic, 48)
	w.write(uint64(crc), 32)
	w.flush()

	defer func() {
		// compress/bzip2 is fuzzed upstream, but corrupt input must never
		// take the process down.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("bzip2 decoder panic: %v", p)
		}
	}()
	d := bzip2.NewReader(bytes.NewReader(w.buf))
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := d.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, crc, nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

// readBits returns n <= 57 bits of b starting at bit p, zero past the end.
func readBits(b []byte, p int64, n uint) uint64 {
	var v uint64
	first := p / 8
	for i := first; i < first+8; i++ {
		v <<= 8
		if i < int64(len(b)) {
			v |= uint64(b[i])
		}
	}
	return (v << uint(p%8)) >> (64 - n)
}

// bitWriter appends bits MSB first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		k := min(n, 32)
		n -= k
		w.acc = w.acc<<k | (v>>n)&(1<<k-1)
		w.nacc += k
		for w.nacc >= 8 {
			w.nacc -= 8
			w.buf = append(w.buf, byte(w.acc>>w.nacc))
		}
	}
}

func (w *bitWriter) copyBits(src []byte, p, n int64) {
	if p%8 == 0 && w.nacc == 0 {
		whole := n / 8
		w.buf = append(w.buf, src[p/8:p/8+whole]...)
		p += whole * 8
		n -= whole * 8
	}
	for n >= 32 {
		w.write(readBits(src, p, 32), 32)
		p += 32
		n -= 32
	}
	if n > 0 {
		w.write(readBits(src, p, uint(n)), uint(n))
	}
}

func (w *bitWriter) flush() {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nacc)))
		w.nacc = 0
	}
}

// joinBits concatenates two bit strings.
func joinBits(a []byte, aoff uint8, an int64, b []byte, boff uint8, bn int64) ([]byte, uint8, int64) {
	var w bitWriter
	w.buf = make([]byte, 0, (an+bn)/8+2)
	w.copyBits(a, int64(aoff), an)
	w.copyBits(b, int64(boff), bn)
	w.flush()
	return w.buf, 0, an + bn
}
