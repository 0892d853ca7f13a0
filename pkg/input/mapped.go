//go:build linux

package input

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Mapped is a plain regular file mapped read-only into memory. A batch run
// reads every byte of its files once: parsing the mapping in place saves
// copying the whole log through read(2) and a buffer.
//
// A file truncated while mapped makes reads of the lost pages fault
// (SIGBUS); readers of Bytes turn that into an error with
// runtime/debug.SetPanicOnFault. SeisComP rotates by renaming, so a log it
// writes is never truncated under us.
type Mapped struct {
	data []byte
	off  int
}

// Bytes is the whole file.
func (m *Mapped) Bytes() []byte { return m.data }

// Read reads the mapping like a file, for readers that need an io.Reader.
func (m *Mapped) Read(p []byte) (int, error) {
	if m.off >= len(m.data) {
		return 0, io.EOF
	}
	n := copy(p, m.data[m.off:])
	m.off += n
	return n, nil
}

// Release drops the pages wholly inside b, a part of Bytes already read,
// from the process: they stay in the page cache, but no longer count as
// the process's memory (a day's log is larger than the memory budget).
// Reading them again faults them back in.
func (m *Mapped) Release(b []byte) {
	if len(b) == 0 || len(m.data) == 0 {
		return
	}
	page := os.Getpagesize()
	start := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(m.data))))
	end := start + len(b)
	start = (start + page - 1) / page * page
	end = end / page * page
	if start < 0 || end > len(m.data) || start >= end {
		return
	}
	// Best effort: a failure only leaves the pages resident.
	_ = syscall.Madvise(m.data[start:end], syscall.MADV_DONTNEED)
}

// Close unmaps the file.
func (m *Mapped) Close() error {
	if m.data == nil {
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data = nil
	if err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

// OpenMapped opens like Open, except that a plain, non-empty regular file
// comes back as a *Mapped. Anything else (compressed, empty, a pipe, a
// system where mapping fails) is read as Open reads it.
func OpenMapped(path string, stdin io.Reader) (io.ReadCloser, Kind, error) {
	return open(path, stdin, mapPlain)
}

// mapPlain maps f if it is a plain non-empty regular file; nil, nil means
// "read it instead".
func mapPlain(f *os.File) (io.ReadCloser, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() || size < 3 || int64(int(size)) != size {
		return nil, nil
	}
	var head [3]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // shrank since Stat
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	if Detect(head[:]) != Plain {
		return nil, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil // e.g. a file system without mmap: read it
	}
	return &Mapped{data: data}, nil
}
