//go:build unix

package follow

import (
	"os"
	"syscall"
)

func ident(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // types differ per OS
	}
	return 0, 0
}
