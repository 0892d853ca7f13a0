package follow

import (
	"crypto/sha256"
	"encoding/hex"
)

// fpMax is how many leading bytes of a file identify its content.
const fpMax = 256

// Position is a resume point: the byte after the last complete line handed
// out, in the file identified by Dev/Ino and the fingerprint of its first
// FPLen bytes. For a compressed rotated file Offset counts decompressed bytes.
// It is meant to be saved (JSON) and given back as Options.Start.
type Position struct {
	File        string `json:"file"`
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
	Fingerprint string `json:"fingerprint"`
	FPLen       int    `json:"fp_len"`
	Offset      int64  `json:"offset"`
}

// fingerprint is the hex SHA-256 of b.
func fingerprint(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// head collects the first fpMax bytes of a file's content and caches the
// full-length fingerprint, so building a Position costs nothing per line
// once a file is past its first 256 bytes.
type head struct {
	b      []byte
	fullFP string
}

// add records p, read at file offset pos, if it continues the head.
func (h *head) add(pos int64, p []byte) {
	have := int64(len(h.b))
	if have >= fpMax || pos > have || pos+int64(len(p)) <= have {
		return
	}
	p = p[have-pos:]
	if n := fpMax - int(have); len(p) > n {
		p = p[:n]
	}
	h.b = append(h.b, p...)
}

func (h *head) reset() { h.b = h.b[:0]; h.fullFP = "" }

// fp returns the fingerprint and its length for a position at offset.
func (h *head) fp(offset int64) (string, int) {
	n := len(h.b)
	if offset < int64(n) {
		n = int(offset)
	}
	if n == fpMax {
		if h.fullFP == "" {
			h.fullFP = fingerprint(h.b)
		}
		return h.fullFP, n
	}
	return fingerprint(h.b[:n]), n
}

// matches reports whether content starting with b matches fp over fpLen bytes.
func matches(b []byte, fp string, fpLen int) bool {
	if fpLen > len(b) || fpLen < 0 {
		return false
	}
	return fingerprint(b[:fpLen]) == fp
}
