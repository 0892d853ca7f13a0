package bzip2par

import (
	"errors"
	"fmt"
	"io"
)

const (
	blockMagic = 0x314159265359
	eosMagic   = 0x177245385090
	mask48     = 1<<48 - 1
	readChunk  = 256 << 10
)

// Errors callers may want to tell apart; all are wrapped with position context.
var (
	ErrNotBzip2        = errors.New("bzip2par: not bzip2 data")
	ErrTrailingGarbage = errors.New("bzip2par: data after end of bzip2 stream is not a bzip2 stream")
	ErrChecksum        = errors.New("bzip2par: stream checksum mismatch")
	ErrNoBoundary      = errors.New("bzip2par: no block boundary where one must be")
)

// magicTab filters candidate magic positions using the last 16 bits read:
// bit s is set when a block magic ending s bits before the end of those 16
// bits is still possible, bit 8+s likewise for the end-of-stream magic. It
// rejects all but ~1/500 positions with one load per input byte.
var magicTab = func() (t [1 << 16]uint16) {
	for x := range 1 << 16 {
		for s := range 8 {
			m := uint64(1)<<(16-s) - 1
			if (uint64(x)>>s)&m == blockMagic&m {
				t[x] |= 1 << s
			}
			if (uint64(x)>>s)&m == eosMagic&m {
				t[x] |= 1 << (8 + s)
			}
		}
	}
	return t
}()

type jobKind uint8

const (
	kindBlock jobKind = iota // a candidate block: decode it
	kindEOS                  // end of a stream: check the combined CRC
	kindErr                  // the scanner failed: report after earlier data
)

// job is one unit in the ordered pipeline. For kindBlock, raw holds the
// candidate block's bits [off, off+nbits) starting at its magic.
type job struct {
	kind  jobKind
	level byte // '1'..'9' from the stream header
	raw   []byte
	off   uint8
	nbits int64
	pos   int64  // absolute byte offset of the piece, for error messages
	crc   uint32 // kindEOS: stored stream CRC; kindBlock: stored block CRC after decode
	err   error

	done chan struct{} // closed by the worker once out/err are set
	out  []byte
}

// scanner splits the compressed input at every candidate block boundary. It
// does not decode; a false magic match inside block data yields two pieces
// that fail to decode and are merged again by the consumer.
type scanner struct {
	r    io.Reader
	buf  []byte
	base int64 // absolute byte offset of buf[0]
	keep int64 // absolute byte offset before which buf may be dropped
	eof  bool
	err  error
	emit func(*job) bool // false: the reader was closed, stop
}

// fill reads until buf holds absolute byte n-1 or the input ends.
func (s *scanner) fill(n int64) {
	for s.base+int64(len(s.buf)) < n && !s.eof {
		if drop := s.keep - s.base; drop > 0 && drop >= int64(len(s.buf))/2 {
			copy(s.buf, s.buf[drop:])
			s.buf = s.buf[:int64(len(s.buf))-drop]
			s.base = s.keep
		}
		if cap(s.buf)-len(s.buf) < readChunk {
			nb := make([]byte, len(s.buf), 2*cap(s.buf)+readChunk)
			copy(nb, s.buf)
			s.buf = nb
		}
		m, err := s.r.Read(s.buf[len(s.buf) : len(s.buf)+readChunk])
		s.buf = s.buf[:len(s.buf)+m]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			s.eof = true
			s.err = fmt.Errorf("bzip2par: read: %w", err)
		}
	}
}

func (s *scanner) end() int64 { return s.base + int64(len(s.buf)) }

// at returns the byte at absolute offset i, which must be buffered.
func (s *scanner) at(i int64) byte { return s.buf[i-s.base] }

// maxPieceBits bounds a block's compressed size: bzip2 never expands a
// block by more than a few percent plus its tables, so far beyond the block
// size there must have been a boundary.
func maxPieceBits(level byte) int64 {
	bs := int64(level-'0') * 100000
	return (bs + bs/4 + 64<<10) * 8
}

// run scans the whole input. It returns nil at a clean end after at least
// one stream.
func (s *scanner) run() error {
	pos := int64(0) // absolute byte offset of the next stream header
	for stream := 0; ; stream++ {
		s.keep = pos
		s.fill(pos + 10)
		if s.err != nil {
			return s.err
		}
		if s.end() == pos && stream > 0 {
			return nil
		}
		if s.end()-pos < 4 || s.at(pos) != 'B' || s.at(pos+1) != 'Z' || s.at(pos+2) != 'h' ||
			s.at(pos+3) < '1' || s.at(pos+3) > '9' {
			if stream == 0 {
				if s.end() == 0 {
					return fmt.Errorf("%w: empty input: %w", ErrNotBzip2, io.ErrUnexpectedEOF)
				}
				return ErrNotBzip2
			}
			return fmt.Errorf("%w (at byte %d)", ErrTrailingGarbage, pos)
		}
		level := s.at(pos + 3)
		if s.end()-pos < 10 {
			return fmt.Errorf("bzip2par: stream at byte %d: %w", pos, io.ErrUnexpectedEOF)
		}
		var m uint64
		for i := pos + 4; i < pos+10; i++ {
			m = m<<8 | uint64(s.at(i))
		}
		switch m {
		case eosMagic: // an empty stream
			s.fill(pos + 14)
			if s.end() < pos+14 {
				return fmt.Errorf("bzip2par: stream at byte %d: %w", pos, io.ErrUnexpectedEOF)
			}
			if !s.emit(&job{kind: kindEOS, crc: be32(s.buf[pos+10-s.base:]), pos: pos}) {
				return nil
			}
			pos += 14
			continue
		case blockMagic:
		default:
			return fmt.Errorf("bzip2par: stream at byte %d: bad block magic: %w", pos, ErrNotBzip2)
		}
		next, err := s.blocks(pos, level, m)
		if err != nil || next < 0 {
			return err
		}
		pos = next
	}
}

// blocks scans one stream whose first block magic starts at byte pos+4 and
// returns the offset of the byte after the stream's end, or -1 if closed.
func (s *scanner) blocks(pos int64, level byte, w uint64) (int64, error) {
	start := (pos + 4) * 8 // absolute bit offset of the current piece
	limit := maxPieceBits(level)
	// An end magic followed by neither a stream nor the end of input: either
	// a chance match in block data or a real end followed by garbage. Which
	// one is known only when no other boundary comes.
	lastEOS := int64(-1)
	garbage := func() (int64, error) {
		if lastEOS <= start {
			return 0, nil
		}
		if !s.emitPiece(start, lastEOS, level) ||
			!s.emit(&job{kind: kindEOS, crc: s.bits32(lastEOS + 48), pos: lastEOS / 8}) {
			return -1, nil
		}
		return 0, fmt.Errorf("%w (after byte %d)", ErrTrailingGarbage, (lastEOS+80+7)/8)
	}
	for i := pos + 10; ; i++ {
		if i >= s.end() {
			s.keep = start / 8
			s.fill(i + 1)
			if s.err != nil {
				return 0, s.err
			}
			if i >= s.end() {
				if next, err := garbage(); err != nil || next < 0 {
					return next, err
				}
				// The input ends inside a block: decode what is there so the
				// data before the damage still comes out, then fail.
				s.emitPiece(start, i*8, level)
				return 0, fmt.Errorf("bzip2par: stream at byte %d has no end marker: %w", pos, io.ErrUnexpectedEOF)
			}
		}
		w = w<<8 | uint64(s.at(i))
		cand := magicTab[w&0xffff]
		if cand == 0 {
			if i*8-start > limit {
				if next, err := garbage(); err != nil || next < 0 {
					return next, err
				}
				return 0, fmt.Errorf("%w: block at byte %d longer than %d bytes", ErrNoBoundary, start/8, limit/8)
			}
			continue
		}
		// Shift 7 first: candidates in increasing bit order.
		for sh := 7; sh >= 0; sh-- {
			isBlock := cand&(1<<sh) != 0 && (w>>sh)&mask48 == blockMagic
			isEOS := cand&(1<<(8+sh)) != 0 && (w>>sh)&mask48 == eosMagic
			if !isBlock && !isEOS {
				continue
			}
			at := (i+1)*8 - int64(sh) - 48
			if at <= start {
				continue
			}
			if isBlock {
				if !s.emitPiece(start, at, level) {
					return -1, nil
				}
				start = at
				continue
			}
			next, ok := s.streamEnd(at)
			if !ok {
				lastEOS = at
				continue
			}
			if !s.emitPiece(start, at, level) {
				return -1, nil
			}
			crc := s.bits32(at + 48)
			if !s.emit(&job{kind: kindEOS, crc: crc, pos: at / 8}) {
				return -1, nil
			}
			return next, nil
		}
	}
}

// streamEnd decides whether an end-of-stream magic at bit at is real: the
// stream CRC and padding must be followed by the end of input or by another
// stream header and magic. A false match in random data passes this with
// probability about 2^-80.
func (s *scanner) streamEnd(at int64) (int64, bool) {
	next := (at + 48 + 32 + 7) / 8
	s.fill(next + 10)
	if s.end() == next {
		return next, true
	}
	if s.end() < next+10 {
		return 0, false
	}
	b := s.buf[next-s.base:]
	if b[0] != 'B' || b[1] != 'Z' || b[2] != 'h' || b[3] < '1' || b[3] > '9' {
		return 0, false
	}
	var m uint64
	for _, c := range b[4:10] {
		m = m<<8 | uint64(c)
	}
	return next, m == blockMagic || m == eosMagic
}

// bits32 reads 32 bits at absolute bit offset p (buffered).
func (s *scanner) bits32(p int64) uint32 {
	var v uint64
	first := p / 8
	for i := first; i < first+5; i++ {
		v <<= 8
		if i < s.end() {
			v |= uint64(s.at(i))
		}
	}
	// v holds 40 bits starting at byte first; drop the leading p%8 bits.
	return uint32(v >> (8 - uint(p%8)))
}

func (s *scanner) emitPiece(from, to int64, level byte) bool {
	lo, hi := from/8, (to+7)/8
	raw := make([]byte, hi-lo)
	copy(raw, s.buf[lo-s.base:hi-s.base])
	return s.emit(&job{kind: kindBlock, level: level, raw: raw, off: uint8(from % 8), nbits: to - from, pos: lo})
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
