// Package state keeps the daemon's checkpoint on disk so that a restart,
// even after kill -9, resumes exactly where the last checkpoint was: written
// atomically (temp file, fsync, rename, directory fsync), checksummed, with
// the previous generation kept as a fallback.
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eida/eidastatsd/pkg/atomicfile"
)

const (
	fileName = "state.json"
	prevName = "state.prev.json"
	magic    = "eidastatsd-state 1 sha256="
)

// ErrNone means no state was ever saved.
var ErrNone = errors.New("state: no saved state")

// Store saves and loads one value in a directory.
type Store struct {
	Dir string
}

// Save writes v durably. The current file becomes the previous generation.
func (s Store) Save(v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: encode: %w", err)
	}
	sum := sha256.Sum256(body)
	var buf bytes.Buffer
	buf.Grow(len(body) + 100)
	buf.WriteString(magic)
	buf.WriteString(hex.EncodeToString(sum[:]))
	buf.WriteByte('\n')
	buf.Write(body)

	cur := filepath.Join(s.Dir, fileName)
	// Keep the current generation as the previous one. A hard link and a
	// rename keep state.json complete at every instant.
	if _, err := os.Stat(cur); err == nil {
		prevTmp := filepath.Join(s.Dir, ".state-prev.tmp")
		os.Remove(prevTmp)
		if err := os.Link(cur, prevTmp); err != nil {
			return fmt.Errorf("state: keep previous: %w", err)
		}
		if err := os.Rename(prevTmp, filepath.Join(s.Dir, prevName)); err != nil {
			return fmt.Errorf("state: keep previous: %w", err)
		}
	}
	if err := atomicfile.Write(cur, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Load reads the newest valid generation into v. It returns which file was
// used and, when the current one was unusable, why (so the caller can warn).
// ErrNone: neither file exists. Both corrupt: an error naming both.
//
// An unusable current generation is removed when the previous one is used:
// otherwise the next Save would rotate the damaged file into the previous
// generation's place, and until a second save both would be unusable.
func (s Store) Load(v any) (used string, problem error, err error) {
	cur := filepath.Join(s.Dir, fileName)
	prev := filepath.Join(s.Dir, prevName)
	errCur := readChecked(cur, v)
	if errCur == nil {
		return cur, nil, nil
	}
	errPrev := readChecked(prev, v)
	if errPrev == nil {
		if rm := os.Remove(cur); rm != nil && !errors.Is(rm, os.ErrNotExist) {
			errCur = errors.Join(errCur, fmt.Errorf("cannot remove it, the next save replaces it: %w", rm))
		}
		return prev, errCur, nil
	}
	if errors.Is(errCur, os.ErrNotExist) && errors.Is(errPrev, os.ErrNotExist) {
		return "", nil, ErrNone
	}
	return "", errCur, fmt.Errorf("state: no usable generation: %s: %v; %s: %v", cur, errCur, prev, errPrev)
}

func readChecked(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 || !bytes.HasPrefix(data, []byte(magic)) {
		return fmt.Errorf("not a state file (empty, truncated or foreign)")
	}
	want := string(data[len(magic):nl])
	body := data[nl+1:]
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != want {
		return fmt.Errorf("checksum mismatch (corrupt)")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
