package follow

import (
	"io"

	"github.com/eida/eidastatsd/pkg/input"
)

// Opener opens a rotated, possibly compressed, file and returns its
// decompressed content.
type Opener func(path string) (io.ReadCloser, error)

// DefaultOpen detects bzip2, gzip or plain content by magic bytes (as the
// batch command does; bzip2 is decoded on every core). A missing file's
// error satisfies errors.Is(err, fs.ErrNotExist).
func DefaultOpen(path string) (io.ReadCloser, error) {
	rc, _, err := input.Open(path, nil)
	return rc, err
}
