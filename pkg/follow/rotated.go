package follow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

var compExts = []string{".bz2", ".gz"}

// listRotated returns the dates of the rotated files of path
// (PATH.YYYY-MM-DD, plain or compressed) after `after` ("" = all), sorted.
func listRotated(path, after string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list rotated files: %w", err)
	}
	var dates []string
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || len(name) < 10 {
			continue
		}
		date, ext := name[:10], name[10:]
		if ext != "" && !slices.Contains(compExts, ext) {
			continue
		}
		if _, err := time.Parse(time.DateOnly, date); err != nil || date <= after {
			continue
		}
		dates = append(dates, date)
	}
	slices.Sort(dates)
	return slices.Compact(dates), nil
}

// maxRotatedDate is the newest rotated date present ("" if none).
func maxRotatedDate(path string) (string, error) {
	ds, err := listRotated(path, "")
	if err != nil || len(ds) == 0 {
		return "", err
	}
	return ds[len(ds)-1], nil
}
