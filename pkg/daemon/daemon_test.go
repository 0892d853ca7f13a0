package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// firstStartSince must start where a fresh follower starts: after the
// newest rotated file, plain or compressed; other names do not count.
func TestFirstStartSince(t *testing.T) {
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{nil, "0001-01-01"},
		{[]string{"log.1", "log.old", "other.2024-05-01"}, "0001-01-01"},
		{[]string{"log.2024-02-28.bz2", "log.2024-02-29"}, "2024-03-01"},
		{[]string{"log.2024-12-31.gz", "log.2024-03-01.bz2", "log.2024-13-01"}, "2025-01-01"},
	} {
		dir := t.TempDir()
		for _, f := range append(tc.files, "log") {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := firstStartSince(filepath.Join(dir, "log")); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.files, got, tc.want)
		}
	}
}
