//go:build !unix

package follow

import "os"

// Without inodes, identity rests on the fingerprint alone.
func ident(os.FileInfo) (dev, ino uint64) { return 0, 0 }
