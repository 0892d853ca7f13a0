package bzip2par

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"
)

func TestCRC(t *testing.T) {
	// Bit-at-a-time reference of the bzip2 CRC.
	ref := func(b []byte) uint32 {
		crc := uint32(0xffffffff)
		for _, v := range b {
			for i := 7; i >= 0; i-- {
				bit := uint32(v>>i&1) ^ crc>>31
				crc <<= 1
				if bit != 0 {
					crc ^= 0x04c11db7
				}
			}
		}
		return ^crc
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 100)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for n := range len(buf) + 1 {
		if got, want := blockCRC(buf[:n]), ref(buf[:n]); got != want {
			t.Fatalf("len %d: crc %08x, want %08x", n, got, want)
		}
	}
	// The check value of CRC-32/BZIP2.
	if got := blockCRC([]byte("123456789")); got != 0xfc891918 {
		t.Fatalf("check value %08x", got)
	}
}

// edgeInputs are data that exercise the decoder's corner cases.
func edgeInputs() []struct {
	name string
	data []byte
} {
	rng := rand.New(rand.NewPCG(3, 4))
	var runs bytes.Buffer
	// Runs of every length up to 300 around the run-length codes' edges
	// (4 and 4+255 equal bytes) and RUNA/RUNB lengths near powers of two.
	for n := 1; n <= 300; n++ {
		runs.Write(bytes.Repeat([]byte{byte('a' + n%3)}, n))
		runs.WriteByte('\n')
	}
	for n := 1; n <= 1<<17; n *= 2 {
		for _, d := range []int{-1, 0, 1} {
			runs.Write(bytes.Repeat([]byte{byte(n % 251)}, n+d))
			runs.WriteByte(byte(rng.Uint32()))
		}
	}
	all := make([]byte, 0, 256*40)
	for range 40 {
		for _, v := range rng.Perm(256) {
			all = append(all, byte(v))
		}
	}
	random := make([]byte, 920000) // one full block at -9
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// Random runs of random bytes: many MTF indexes and run lengths.
	var mixed bytes.Buffer
	for mixed.Len() < 512<<10 {
		mixed.Write(bytes.Repeat([]byte{byte(rng.Uint32())}, 1+rng.IntN(9)))
	}
	return []struct {
		name string
		data []byte
	}{
		{"one repeated byte 1MB", bytes.Repeat([]byte{'x'}, 1<<20)},
		{"runs", runs.Bytes()},
		{"all byte values", all},
		{"random 920kB", random},
		{"short runs", mixed.Bytes()},
		{"four equal", []byte("aaaa")},
		{"five equal", []byte("aaaaa")},
		{"log", logLike(400<<10, 13)},
	}
}

// TestEdgeCasesAllLevels compares the reader with bzip2 -dc, and each block
// with compress/bzip2, on files from bzip2, lbzip2 and pbzip2 at every
// level.
func TestEdgeCasesAllLevels(t *testing.T) {
	compressors := []struct {
		name string
		args []string
	}{{"bzip2", nil}, {"lbzip2", []string{"-n", "2"}}, {"pbzip2", []string{"-p2"}}}
	for _, in := range edgeInputs() {
		for _, c := range compressors {
			for level := 1; level <= 9; level++ {
				if testing.Short() && level%4 != 1 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s-%d", in.name, c.name, level), func(t *testing.T) {
					comp := compressWith(t, c.name, append([]string{fmt.Sprintf("-%d", level)}, c.args...), in.data)
					want, err := bzip2Dc(t, comp)
					if err != nil || !bytes.Equal(want, in.data) {
						t.Fatalf("bzip2 -dc does not round-trip: %v", err)
					}
					got, err := readAll(bytes.NewReader(comp), 2)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("got %d bytes, bzip2 -dc %d bytes, differ", len(got), len(want))
					}
					for i, p := range splitPieces(t, comp) {
						own, ocrc, oerr := decodePiece(p.raw, p.off, p.nbits, p.level, nil)
						std, scrc, serr := decodePieceStd(p.raw, p.off, p.nbits, p.level, nil)
						if oerr != nil || serr != nil || ocrc != scrc || !bytes.Equal(own, std) {
							t.Fatalf("block %d: own (%v, %08x, %d bytes) vs compress/bzip2 (%v, %08x, %d bytes)",
								i, oerr, ocrc, len(own), serr, scrc, len(std))
						}
					}
				})
			}
		}
	}
}

// TestStdlibOption runs the reader with the compress/bzip2 block decoder,
// kept for differential tests.
func TestStdlibOption(t *testing.T) {
	data := logLike(500<<10, 14)
	comp := compressWith(t, "bzip2", []string{"-1"}, data)
	z := newReader(bytes.NewReader(comp), 2, nil, decodePieceStd)
	defer z.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(z); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("output differs")
	}
}

// TestCorruptBlocks flips bits all over real blocks: the decoder must
// return an error or exactly what compress/bzip2 returns, and never panic.
func TestCorruptBlocks(t *testing.T) {
	comp := compressWith(t, "bzip2", []string{"-1"}, append(logLike(150<<10, 15), edgeInputs()[1].data...))
	pieces := splitPieces(t, comp)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		p := pieces[rng.IntN(len(pieces))]
		raw := bytes.Clone(p.raw)
		for range 1 + rng.IntN(3) {
			// Mostly in the headers and tables, where the checks are.
			k := rng.IntN(min(len(raw), 200))
			if rng.IntN(3) == 0 {
				k = rng.IntN(len(raw))
			}
			raw[k] ^= 1 << rng.IntN(8)
		}
		nbits := p.nbits
		if i%10 == 0 {
			nbits -= int64(rng.IntN(64))
		}
		compareDecoders(t, raw, p.off, nbits, p.level)
	}
}

// compareDecoders checks the own block decoder against compress/bzip2 on one
// piece. They may disagree only where bzip2 (C) and compress/bzip2 do (see
// block.go).
func compareDecoders(t *testing.T, raw []byte, off uint8, nbits int64, level byte) {
	t.Helper()
	d := new(blockDecoder)
	var own []byte
	var ocrc uint32
	var oerr error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v", p)
			}
		}()
		own, ocrc, oerr = d.decode(raw, off, nbits, level, nil)
	}()
	std, scrc, serr := decodePieceStd(raw, off, nbits, level, nil)
	switch {
	case oerr == nil && serr == nil:
		if ocrc != scrc || !bytes.Equal(own, std) {
			t.Fatalf("both decode, outputs differ (%d vs %d bytes)", len(own), len(std))
		}
	case oerr == nil:
		if !d.incomplete {
			t.Fatalf("own decoder accepts what compress/bzip2 rejects: %v", serr)
		}
	case serr == nil:
		if !d.incomplete && !errors.Is(oerr, errRunAtEnd) {
			t.Fatalf("own decoder rejects what compress/bzip2 accepts: %v", oerr)
		}
	}
}

func FuzzDecodeBlock(f *testing.F) {
	for _, in := range [][]byte{[]byte("a"), []byte("hello hello hello hello\n"), []byte("aaaaaaaaaaaaaaaaaaaab"), logLike(5000, 16)} {
		c, err := exec.LookPath("bzip2")
		if err != nil {
			break
		}
		cmd := exec.Command(c, "-c", "-1")
		cmd.Stdin = bytes.NewReader(in)
		comp, err := cmd.Output()
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range splitPieces(f, comp) {
			// As whole bytes from bit 0, and shifted by 3 bits.
			raw, _, n := joinBits(p.raw, p.off, p.nbits, nil, 0, 0)
			f.Add(raw, uint8(0), uint8(int64(len(raw))*8-n), uint8(0))
			sh, _, n := joinBits([]byte{0}, 0, 3, raw, 0, n)
			f.Add(sh, uint8(3), uint8(int64(len(sh))*8-n), uint8(8))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, off, tail, level uint8) {
		off, tail = off%8, tail%8
		nbits := int64(len(raw))*8 - int64(off) - int64(tail)
		if nbits < 0 {
			return
		}
		compareDecoders(t, raw, off, nbits, '1'+level%9)
	})
}
