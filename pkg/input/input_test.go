package input

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectAndDecompress(t *testing.T) {
	plain, err := os.ReadFile("../../testdata/gfz-2020-09-18.log")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	os.WriteFile(filepath.Join(dir, "x.log"), plain, 0o644)
	os.WriteFile(filepath.Join(dir, "x.bz2.but.gzip"), gz.Bytes(), 0o644) // the name lies
	tests := []struct {
		path string
		kind Kind
	}{
		{filepath.Join(dir, "x.log"), Plain},
		{filepath.Join(dir, "x.bz2.but.gzip"), Gzip},
		{"../../testdata/gfz-2020-09-18.log.bz2", Bzip2},
	}
	for _, open := range []struct {
		name string
		fn   func(string, io.Reader) (io.ReadCloser, Kind, error)
	}{{"Open", Open}, {"OpenMapped", OpenMapped}} {
		for _, tc := range tests {
			rc, kind, err := open.fn(tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || kind != tc.kind || !bytes.Equal(got, plain) {
				t.Errorf("%s %s: kind %s err %v equal %v", open.name, tc.path, kind, err, bytes.Equal(got, plain))
			}
		}
	}
	rc, kind, err := Open("-", bytes.NewReader(gz.Bytes()))
	if err != nil || kind != Gzip {
		t.Fatalf("stdin: %v %s", err, kind)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, plain) {
		t.Error("stdin gzip differs")
	}
	if rc, kind, err := Open("-", strings.NewReader("")); err != nil || kind != Plain {
		t.Errorf("empty stdin: %v %s", err, kind)
	} else {
		rc.Close()
	}
}

// Parallel and sequential decoding give the bytes `bzip2 -dc` gives, for a
// multi-stream file (as pbzip2/lbzip2 write them).
func TestBzip2MatchesTool(t *testing.T) {
	if _, err := exec.LookPath("bzip2"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bzip2 missing in CI")
		}
		t.Skip("bzip2 not installed")
	}
	bz, _ := os.ReadFile("../../testdata/gfz-2020-09-18.log.bz2")
	multi := append(append([]byte{}, bz...), bz...)
	want, err := exec.Command("sh", "-c", "cat ../../testdata/gfz-2020-09-18.log.bz2 ../../testdata/gfz-2020-09-18.log.bz2 | bzip2 -dc").Output()
	if err != nil {
		t.Fatal(err)
	}
	for name, dec := range map[string]func(io.Reader) (io.ReadCloser, error){"parallel": Bzip2Reader, "sequential": Sequential} {
		rc, err := dec(bytes.NewReader(multi))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: err %v, %d bytes want %d", name, err, len(got), len(want))
		}
	}
}
