// Package clients turns userIDs into the unique-client HyperLogLog that every
// EIDA node must produce byte for byte: MurmurHash3 x86_32 (seed 0) over the
// decimal string, read as signed and sign-extended, into an hll(11,5,-1,1).
package clients

import (
	"encoding/binary"
	"math/bits"
)

// Murmur3 is MurmurHash3 x86_32 with seed 0, as Python's mmh3.hash computes
// it before it reinterprets the result as signed.
func Murmur3(data []byte) uint32 {
	const (
		c1 = 0xcc9e2d51
		c2 = 0x1b873593
	)
	var h uint32
	n := len(data)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch n - i {
	case 3:
		k ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(data[i])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// Raw is the value the reference adds to its HLL for a userID string:
// the signed 32-bit hash sign-extended to 64 bits. Zero-extension would give
// different HLL bytes than every other node.
func Raw(userID []byte) uint64 {
	return uint64(int64(int32(Murmur3(userID))))
}
