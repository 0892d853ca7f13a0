//go:build linux

package input

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Only plain regular files of 3 bytes or more are mapped; everything else
// is read as Open reads it, with the same bytes.
func TestOpenMappedChoosesMapping(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path   string
		data   string
		mapped bool
	}{
		{write("plain.log", "{\"a\": 1}\nx"), "{\"a\": 1}\nx", true},
		{write("empty.log", ""), "", false},
		{write("two.log", "x\n"), "x\n", false},
		{"../../testdata/gfz-2020-09-18.log.bz2", "", false},
	}
	for _, tc := range tests {
		rc, _, err := OpenMapped(tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, isMapped := rc.(*Mapped)
		if isMapped != tc.mapped {
			t.Errorf("%s: mapped %v, want %v", tc.path, isMapped, tc.mapped)
		}
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if tc.data != "" && string(got) != tc.data {
			t.Errorf("%s: read %q", tc.path, got)
		}
		if isMapped {
			if !bytes.Equal(m.Bytes(), got) {
				t.Errorf("%s: Bytes differ from Read", tc.path)
			}
			m.Release(m.Bytes()) // no page is whole here: nothing to drop
		}
		if err := rc.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.path, err)
		}
	}
	if _, _, err := OpenMapped(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing file opened")
	}
	rc, kind, err := OpenMapped("-", strings.NewReader("stdin\n"))
	if err != nil || kind != Plain {
		t.Fatalf("stdin: %v %s", err, kind)
	}
	if _, ok := rc.(*Mapped); ok {
		t.Error("stdin was mapped")
	}
}

// Released pages read back the same bytes (they fault in again from the
// page cache).
func TestReleasedPagesReadBack(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 1<<16) // 1.1 MB
	p := filepath.Join(t.TempDir(), "big.log")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rc, _, err := OpenMapped(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	m := rc.(*Mapped)
	m.Release(m.Bytes()[100 : len(data)-100])
	if !bytes.Equal(m.Bytes(), data) {
		t.Fatal("bytes changed after Release")
	}
}
