// Package spool is the on-disk queue of payloads waiting for the central
// service, under a state directory:
//
//	spool/     to send, oldest first by file name
//	sent/      delivered, pruned after a retention time
//	rejected/  rows kept out of a payload, with the reasons (JSON)
//	failed/    payloads the service refused, with its answer
//
// Every write is durable (temp file, fsync, rename, fsync of the directory),
// so a crash never leaves a half-written payload or loses a delivered one.
package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eida/eidastatsd/pkg/atomicfile"
	"github.com/eida/eidastatsd/pkg/payload"
)

// Folder names under the state directory.
const (
	DirSpool    = "spool"
	DirSent     = "sent"
	DirRejected = "rejected"
	DirFailed   = "failed"
)

// Ext is the extension of payload files.
const Ext = ".json.gz"

// attemptExt marks a payload that has been sent at least once.
const attemptExt = ".attempt"

// Spool is the queue under one state directory.
type Spool struct {
	root string
	now  func() time.Time
}

// Open creates the folders under stateDir if needed.
func Open(stateDir string, now func() time.Time) (*Spool, error) {
	if now == nil {
		now = time.Now
	}
	for _, d := range []string{DirSpool, DirSent, DirRejected, DirFailed} {
		if err := os.MkdirAll(filepath.Join(stateDir, d), 0o750); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return &Spool{root: stateDir, now: now}, nil
}

// Dir is the path of one of the folders (DirSpool, ...).
func (s *Spool) Dir(name string) string { return filepath.Join(s.root, name) }

// Name is a sortable file name for a payload: the first covered day, the
// caller's sequence number and a hash of the body, so names sort oldest first
// and two different payloads never share one.
func Name(p *payload.Payload, seq int) (string, error) {
	body, err := p.Marshal()
	if err != nil {
		return "", err
	}
	day := "0000-00-00"
	if len(p.DaysCoverage) > 0 {
		day = slices.Min(p.DaysCoverage)
	}
	sum := sha256.Sum256(body)
	return fmt.Sprintf("%s_%06d_%s%s", day, seq, hex.EncodeToString(sum[:4]), Ext), nil
}

func checkName(name string) error {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, Ext) {
		return fmt.Errorf("spool: bad payload file name %q (want a base name ending in %s)", name, Ext)
	}
	return nil
}

// Enqueue writes p durably into spool/ under name (see Name) and returns its
// path. An existing file of that name is replaced.
func (s *Spool) Enqueue(p *payload.Payload, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := p.WriteGzip(&buf); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	path := filepath.Join(s.Dir(DirSpool), name)
	if err := WriteFile(path, buf.Bytes()); err != nil {
		return "", err
	}
	return path, nil
}

// Pending lists the payload files in spool/, oldest first.
func (s *Spool) Pending() ([]string, error) {
	return s.list(DirSpool, Ext)
}

func (s *Spool) list(dir, ext string) ([]string, error) {
	ents, err := os.ReadDir(s.Dir(dir))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ext) && !strings.HasPrefix(n, ".") {
			out = append(out, filepath.Join(s.Dir(dir), n))
		}
	}
	slices.Sort(out)
	return out, nil
}

// OldestPending is the modification time of the oldest file in spool/ (its
// enqueue time; parts keep their original's), and false when it is empty.
func (s *Spool) OldestPending() (time.Time, int, error) {
	files, err := s.Pending()
	if err != nil {
		return time.Time{}, 0, err
	}
	var oldest time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			continue // delivered meanwhile
		}
		if oldest.IsZero() || st.ModTime().Before(oldest) {
			oldest = st.ModTime()
		}
	}
	return oldest, len(files), nil
}

// Replace puts parts in place of the payload at path (after rows were
// rejected or it was split): each part is written durably first, with the
// original's time so ages stay true, and only then is the original removed.
// A crash in between leaves the original, and redoing the same replacement
// writes identical files. It returns the parts' paths, oldest first.
func (s *Spool) Replace(path string, parts []*payload.Payload) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	base := strings.TrimSuffix(filepath.Base(path), Ext)
	var out []string
	for i, p := range parts {
		name := filepath.Base(path)
		if len(parts) > 1 {
			name = fmt.Sprintf("%s.p%03d%s", base, i+1, Ext)
		}
		np, err := s.Enqueue(p, name)
		if err != nil {
			return nil, err
		}
		if err := os.Chtimes(np, st.ModTime(), st.ModTime()); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		out = append(out, np)
	}
	if len(parts) != 1 {
		if err := s.Remove(path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Remove deletes a payload from spool/ (with its attempt marker).
func (s *Spool) Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	_ = os.Remove(path + attemptExt)
	return syncDir(filepath.Dir(path))
}

// MarkAttempt records, durably, that path is about to be sent. A later
// "already exists" answer then means an earlier attempt got through.
func (s *Spool) MarkAttempt(path string) error {
	return WriteFile(path+attemptExt, []byte(s.now().UTC().Format(time.RFC3339)+"\n"))
}

// Attempted reports whether path was sent before.
func (s *Spool) Attempted(path string) bool {
	_, err := os.Stat(path + attemptExt)
	return err == nil
}

// Delivered moves path to sent/, stamped with the delivery time.
func (s *Spool) Delivered(path string) (string, error) {
	dst, err := s.move(path, DirSent)
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := os.Chtimes(dst, now, now); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	return dst, nil
}

// Answer is what the central service said about a failed payload.
type Answer struct {
	Time   time.Time `json:"time"`
	URL    string    `json:"url,omitempty"`
	Status int       `json:"status,omitempty"`
	Body   string    `json:"body,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Failed moves path to failed/ and writes the answer beside it as
// <name>.answer.json.
func (s *Spool) Failed(path string, a Answer) (string, error) {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	name := filepath.Base(path)
	if err := WriteFile(filepath.Join(s.Dir(DirFailed), name+".answer.json"), append(b, '\n')); err != nil {
		return "", err
	}
	return s.move(path, DirFailed)
}

// RejectedFile is the JSON document written to rejected/.
type RejectedFile struct {
	Payload      string             `json:"payload"`
	GeneratedAt  string             `json:"generated_at"`
	Version      string             `json:"version"`
	DaysCoverage []string           `json:"days_coverage"`
	Rows         []payload.Rejected `json:"rows"`
}

// WriteRejected keeps rows taken out of the payload at path, for the
// operator, as rejected/<name>.rejected.json.
func (s *Spool) WriteRejected(path string, p *payload.Payload, rows []payload.Rejected) (string, error) {
	doc := RejectedFile{Payload: filepath.Base(path), GeneratedAt: p.GeneratedAt, Version: p.Version,
		DaysCoverage: p.DaysCoverage, Rows: rows}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	dst := filepath.Join(s.Dir(DirRejected), strings.TrimSuffix(filepath.Base(path), Ext)+".rejected.json")
	return dst, WriteFile(dst, append(b, '\n'))
}

// PruneSent deletes files in sent/ delivered more than keep ago.
func (s *Spool) PruneSent(keep time.Duration) (int, error) {
	files, err := s.list(DirSent, "")
	if err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-keep)
	n := 0
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || !st.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(f); err != nil {
			return n, fmt.Errorf("spool: %w", err)
		}
		n++
	}
	if n > 0 {
		return n, syncDir(s.Dir(DirSent))
	}
	return 0, nil
}

func (s *Spool) move(path, dir string) (string, error) {
	dst := filepath.Join(s.Dir(dir), filepath.Base(path))
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.Dir(dir)); err != nil {
		return "", err
	}
	_ = os.Remove(path + attemptExt)
	return dst, syncDir(filepath.Dir(path))
}

// WriteFile writes data to path durably: a temp file in the same folder,
// fsync, rename over path, fsync of the folder.
func WriteFile(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o640); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
