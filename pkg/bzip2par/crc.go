package bzip2par

import "encoding/binary"

// bzip2 uses the big-endian (MSB-first) CRC-32 with polynomial 0x04c11db7,
// initial value and final XOR 0xffffffff. crcTab[k][x] is the CRC register
// contribution of byte x followed by k zero bytes, for slicing-by-8.
var crcTab = func() (t [8][256]uint32) {
	const poly = 0x04c11db7
	for i := range 256 {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range 256 {
			c := t[k-1][i]
			t[k][i] = c<<8 ^ t[0][c>>24]
		}
	}
	return t
}()

// crcUpdate continues the bzip2 CRC register crc (not inverted: start with
// 0xffffffff, invert at the end) over b.
func crcUpdate(crc uint32, b []byte) uint32 {
	t := &crcTab
	for len(b) >= 8 {
		x := crc ^ binary.BigEndian.Uint32(b)
		crc = t[7][x>>24] ^ t[6][x>>16&0xff] ^ t[5][x>>8&0xff] ^ t[4][x&0xff] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, v := range b {
		crc = crc<<8 ^ t[0][byte(crc>>24)^v]
	}
	return crc
}

// blockCRC is the bzip2 CRC of b.
func blockCRC(b []byte) uint32 { return ^crcUpdate(0xffffffff, b) }
