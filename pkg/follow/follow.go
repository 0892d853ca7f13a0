// Package follow reads SeisComP's fdsnws request log line by line and keeps
// following it across rotation (rename + background bzip2), truncation and
// restarts, handing out every complete line exactly once together with the
// Position to resume after it.
//
// Model: mtail's logstream. When the path names another file, the old
// descriptor is drained to its end before the new file is opened; files are
// identified by device+inode and a fingerprint of their first 256 bytes.
package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// ErrIdle is returned by Next at the end of the live file (or while it does
// not exist) when Options.IdleTimeout has passed since the last ErrIdle:
// the first time Next catches up, then at most once per IdleTimeout, also
// while lines keep arriving. It is not a failure: the caller may seal days
// by wall clock (AtEOF is true), then call Next again.
var ErrIdle = errors.New("follow: idle at end of live file")

// DefaultMaxLineBytes is the longest line handed out (contract: lines may
// reach 16 MiB).
const DefaultMaxLineBytes = 16 << 20

const (
	readChunk   = 1 << 20
	defaultPoll = 500 * time.Millisecond
	// defaultMinWake: see Options.MinWake.
	defaultMinWake = 2 * time.Second
	maxReadErrors  = 3 // a rotated file failing this often is given up
)

// Line is one complete line.
type Line struct {
	// Data is the line without '\n'; valid until the next call to Next.
	// Nil when TooLong.
	Data []byte
	// Pos is the position after this line: save it to resume there.
	Pos Position
	// TooLong marks a line longer than MaxLineBytes; it was skipped.
	TooLong bool
	// Length is the line's length in bytes without '\n'.
	Length int64
}

// Options configure a Follower. Path is required.
type Options struct {
	Path string
	// Start is a saved position to resume from; nil for a fresh start.
	Start *Position
	// BackfillSince (YYYY-MM-DD), used only without Start: first read the
	// rotated files of that day and later, then the live file from 0.
	BackfillSince string
	// PollInterval is how often the files are checked without an fsnotify
	// event (default 500ms). Polling always runs; fsnotify only wakes early.
	PollInterval time.Duration
	// IdleTimeout > 0 makes Next return ErrIdle at the end of the live
	// file, at most once per IdleTimeout (see ErrIdle).
	IdleTimeout time.Duration
	// MaxLineBytes (default 16 MiB): longer lines are reported TooLong.
	MaxLineBytes int
	// Open opens rotated compressed files (default DefaultOpen).
	Open Opener
	// MinWake is the shortest time between two reads woken by fsnotify
	// (default 2s). fdsnws writes one line at a time; reading them in
	// small batches instead of waking for every write keeps following a
	// busy log cheap (scheduler wake-ups dominate otherwise). Negative: wake
	// at once.
	MinWake time.Duration
	// NoNotify disables fsnotify: polling only.
	NoNotify bool
	Logger   *slog.Logger
	Now      func() time.Time
	// Metrics, if set, is updated as the follower reads (see NewMetrics).
	Metrics *Metrics
}

// Stats is a snapshot for monitoring.
type Stats struct {
	File        string // file being read
	Live        bool   // File is the live file
	Offset      int64  // position after the last line handed out
	Size        int64  // size of File when last checked (0 if compressed)
	LagBytes    int64  // Size minus Offset
	AtEOF       bool   // at the end of the live file: nothing pending
	Rotations   uint64 // rotations followed while running
	Truncations uint64
	TooLong     uint64 // over-long lines skipped
	BytesRead   uint64
	Lost        uint64 // a Start position whose file could not be found
}

// source is one open file.
type source struct {
	path     string
	live     bool
	date     string   // rotated files: the day in the name
	file     *os.File // plain files (live or rotated); nil if compressed
	r        io.Reader
	c        io.Closer
	dev, ino uint64
	head     head
	draining bool // live file was renamed away: read to EOF, then switch
	fails    int
}

// Follower follows one log path. Next must not be called concurrently;
// Stats may be called from any goroutine.
type Follower struct {
	path    string
	poll    time.Duration
	idle    time.Duration
	max     int
	open    Opener
	notify  bool
	minWake time.Duration
	woke    time.Time // last return from wait: fsnotify wakes within MinWake are batched
	log     *slog.Logger
	now     func() time.Time
	m       *Metrics
	start   *Position
	since   string
	planned bool

	cur   *source
	queue []string // rotated dates still to read from 0
	floor string   // rotated dates <= floor are done or being read

	buf        []byte
	lo         int   // first unconsumed byte in buf
	hi         int   // end of valid data in buf
	off        int64 // file offset of buf[lo]: the resume point
	skipping   bool  // inside an over-long line
	skipN      int64 // bytes of it already discarded
	size       int64
	lastIdle   time.Time // last ErrIdle
	backoff    bool
	recheck    bool // check the live file before the next read
	watcher    *fsnotify.Watcher
	timer      *time.Timer
	closed     bool
	lastErrLog time.Time

	mu  sync.Mutex // guards st
	st  Stats
	eof atomic.Bool
}

// New validates opts and returns a Follower positioned at its start: the
// saved position, the first backfill day, or the start of the current live
// file. A missing file is not an error: Next waits for it.
func New(opts Options) (*Follower, error) {
	if opts.Path == "" {
		return nil, errors.New("follow: empty path")
	}
	if opts.BackfillSince != "" {
		if _, err := time.Parse(time.DateOnly, opts.BackfillSince); err != nil {
			return nil, fmt.Errorf("follow: backfill date: %w", err)
		}
	}
	f := &Follower{
		path:    filepath.Clean(opts.Path),
		poll:    opts.PollInterval,
		idle:    opts.IdleTimeout,
		max:     opts.MaxLineBytes,
		open:    opts.Open,
		notify:  !opts.NoNotify,
		minWake: opts.MinWake,
		log:     opts.Logger,
		now:     opts.Now,
		m:       opts.Metrics,
		start:   opts.Start,
		since:   opts.BackfillSince,
	}
	if f.poll <= 0 {
		f.poll = defaultPoll
	}
	if f.max <= 0 {
		f.max = DefaultMaxLineBytes
	}
	if f.minWake == 0 {
		f.minWake = defaultMinWake
	}
	if f.open == nil {
		f.open = DefaultOpen
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.log = f.log.With("log", f.path)
	f.buf = make([]byte, min(readChunk, f.max+1))
	f.timer = time.NewTimer(time.Hour)
	f.timer.Stop()
	// Fix the starting point now (the live file as of New); on error Next
	// retries.
	if err := f.plan(); err == nil {
		f.planned = true
	} else {
		f.log.Warn("cannot locate the start yet", "err", err)
	}
	return f, nil
}

// Close releases the open file and the watcher. Not concurrently with Next.
func (f *Follower) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	if f.cur != nil {
		errs = append(errs, f.cur.c.Close())
		f.cur = nil
	}
	if f.watcher != nil {
		errs = append(errs, f.watcher.Close())
		f.watcher = nil
	}
	return errors.Join(errs...)
}

// AtEOF reports whether the follower is at the end of the live file (or
// waiting for it to appear) with every complete line handed out.
func (f *Follower) AtEOF() bool { return f.eof.Load() }

// Stats returns a snapshot.
func (f *Follower) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.AtEOF = f.eof.Load()
	return s
}

// Next returns the next complete line. It blocks until one is available, ctx
// is done (ctx.Err() is returned), or IdleTimeout passes at the end of the
// live file (ErrIdle). Lines already available are returned even when ctx is
// done, so a cancelled ctx makes Next non-blocking. Other errors are
// transient: log them and call Next again (it backs off one poll interval).
func (f *Follower) Next(ctx context.Context) (Line, error) {
	if f.closed {
		return Line{}, errors.New("follow: closed")
	}
	if f.backoff {
		f.backoff = false
		if err := f.sleep(ctx); err != nil {
			return Line{}, err
		}
	}
	for {
		if l, ok := f.scan(); ok {
			return l, nil
		}
		if f.cur == nil {
			wait, err := f.advance()
			if err != nil {
				return f.fail(err)
			}
			if wait {
				f.eof.Store(true)
				if err := f.wait(ctx); err != nil {
					return Line{}, err
				}
			}
			continue
		}
		if f.recheck && f.cur.live && !f.cur.draining {
			// After a pause the file may have been truncated and written
			// past our offset again: check before reading on.
			f.recheck = false
			changed, err := f.checkLive()
			if err != nil {
				return f.fail(err)
			}
			if changed {
				continue
			}
		}
		n, err := f.fill()
		if n > 0 {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if f.cur.live {
				return f.fail(fmt.Errorf("read %s: %w", f.cur.path, err))
			}
			f.cur.fails++
			if f.cur.fails < maxReadErrors {
				return f.fail(fmt.Errorf("read %s: %w", f.cur.path, err))
			}
			f.log.Error("giving up on unreadable rotated file", "file", f.cur.path, "err", err)
			f.m.readError()
			f.resetBuf()
			f.closeCur()
			continue
		}
		if err == nil {
			continue
		}
		// EOF.
		if !f.cur.live || f.cur.draining {
			// The file is complete: a last fragment without newline (a torn
			// record) is still a line of it.
			if l, ok := f.tail(); ok {
				return l, nil
			}
			if err := f.finish(); err != nil {
				return f.fail(err)
			}
			continue
		}
		changed, err := f.checkLive()
		if err != nil {
			return f.fail(err)
		}
		if changed {
			continue
		}
		f.eof.Store(true)
		f.recheck = true
		if err := f.wait(ctx); err != nil {
			return Line{}, err
		}
	}
}

func (f *Follower) fail(err error) (Line, error) {
	f.backoff = true
	f.m.readError()
	return Line{}, err
}

// scan hands out the next complete line from the buffer.
func (f *Follower) scan() (Line, bool) {
	if f.lo == f.hi {
		return Line{}, false
	}
	data := f.buf[f.lo:f.hi]
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if f.skipping {
			f.skipN += int64(len(data))
			f.lo, f.hi = 0, 0
		} else if len(data) > f.max {
			f.skipping, f.skipN = true, int64(len(data))
			f.lo, f.hi = 0, 0
		}
		return Line{}, false
	}
	f.lo += i + 1
	if f.skipping || i > f.max {
		n := f.skipN + int64(i)
		f.skipping, f.skipN = false, 0
		f.off += n + 1
		return f.tooLong(n), true
	}
	f.off += int64(i) + 1
	return Line{Data: data[:i:i], Length: int64(i), Pos: f.pos()}, true
}

func (f *Follower) tooLong(n int64) Line {
	f.log.Warn("skipped over-long line", "file", f.cur.path, "bytes", n, "max", f.max)
	f.m.tooLong()
	f.mu.Lock()
	f.st.TooLong++
	f.mu.Unlock()
	return Line{TooLong: true, Length: n, Pos: f.pos()}
}

// tail hands out what is left of a complete file without a final newline.
func (f *Follower) tail() (Line, bool) {
	if f.skipping {
		n := f.skipN + int64(f.hi-f.lo)
		f.skipping, f.skipN = false, 0
		f.lo, f.hi = 0, 0
		f.off += n
		return f.tooLong(n), true
	}
	if f.hi == f.lo {
		return Line{}, false
	}
	data := f.buf[f.lo:f.hi]
	f.lo = f.hi
	f.off += int64(len(data))
	return Line{Data: data, Length: int64(len(data)), Pos: f.pos()}, true
}

func (f *Follower) pos() Position {
	fp, n := f.cur.head.fp(f.off)
	return Position{File: f.cur.path, Dev: f.cur.dev, Ino: f.cur.ino, Fingerprint: fp, FPLen: n, Offset: f.off}
}

// readPos is the file offset of the next byte to read.
func (f *Follower) readPos() int64 { return f.off + f.skipN + int64(f.hi-f.lo) }

// fill reads one big chunk into the buffer.
func (f *Follower) fill() (int, error) {
	switch {
	case f.lo == f.hi:
		f.lo, f.hi = 0, 0
	case f.hi == len(f.buf) && f.lo > 0:
		f.hi = copy(f.buf, f.buf[f.lo:f.hi])
		f.lo = 0
	case f.hi == len(f.buf):
		// An unfinished line fills the buffer: grow up to max+chunk; scan
		// switches to skipping before more is needed.
		nb := make([]byte, min(2*len(f.buf), f.max+readChunk))
		f.hi = copy(nb, f.buf[f.lo:f.hi])
		f.lo = 0
		f.buf = nb
	}
	pos := f.readPos()
	n, err := f.cur.r.Read(f.buf[f.hi:])
	if n > 0 {
		f.cur.head.add(pos, f.buf[f.hi:f.hi+n])
		f.hi += n
		f.eof.Store(false)
		f.m.read(n)
		if p := pos + int64(n); p > f.size {
			f.size = p
		}
		f.publish(int64(n))
	}
	return n, err
}

func (f *Follower) publish(read int64) {
	lag := f.size - f.off
	if f.cur.file == nil {
		lag = 0 // decompressed size unknown
	}
	f.mu.Lock()
	f.st.BytesRead += uint64(read)
	f.st.Offset, f.st.Size, f.st.LagBytes = f.off, f.size, lag
	f.mu.Unlock()
	f.m.position(f.off, lag)
}

func (f *Follower) resetBuf() {
	f.lo, f.hi, f.off, f.skipping, f.skipN, f.size = 0, 0, 0, false, 0, 0
}

// setSource makes src current at offset off with pre already-read bytes.
func (f *Follower) setSource(src *source, off int64, pre []byte) {
	f.resetBuf()
	f.cur = src
	f.off = off
	f.hi = copy(f.buf, pre)
	if src.file != nil {
		if fi, err := src.file.Stat(); err == nil {
			f.size = fi.Size()
		}
	}
	if !src.live {
		f.eof.Store(false)
	}
	f.mu.Lock()
	f.st.File, f.st.Live = src.path, src.live
	f.mu.Unlock()
	f.publish(0)
	f.log.Info("reading", "file", src.path, "offset", off)
}

func (f *Follower) closeCur() {
	if f.cur == nil {
		return
	}
	if err := f.cur.c.Close(); err != nil {
		f.log.Warn("close", "file", f.cur.path, "err", err)
	}
	if !f.cur.live {
		f.floor = f.cur.date
	}
	f.cur = nil
}

// finish is called at EOF of a complete file (rotated, or live drained after
// its rename).
func (f *Follower) finish() error {
	if f.cur.live {
		if err := f.afterRotation(); err != nil {
			return err
		}
	}
	f.resetBuf()
	f.closeCur()
	return nil
}

// afterRotation runs when the drained live file was renamed away. Rotated
// dates after floor are the old file itself (skip it, it was just read) and
// files rotated after it while we were not looking (queue them).
func (f *Follower) afterRotation() error {
	dates, err := listRotated(f.path, f.floor)
	if err != nil {
		return err
	}
	f.queue = f.queue[:0]
	for i, d := range dates {
		same, err := f.isOld(d)
		if err != nil {
			return err
		}
		if same {
			if i > 0 {
				f.log.Warn("ignoring rotated files older than the one just read", "before", d)
			}
			f.floor = d
			f.queue = append(f.queue, dates[i+1:]...)
			break
		}
	}
	if len(dates) > 0 && f.floor < dates[0] {
		// The old file is gone or renamed elsewhere: every dated file is newer.
		f.queue = append(f.queue, dates...)
	}
	f.mu.Lock()
	f.st.Rotations++
	f.mu.Unlock()
	f.m.rotation()
	f.log.Info("log rotated", "read_bytes", f.off, "queued", len(f.queue))
	return nil
}

// isOld reports whether the rotated file of date is the current (drained)
// live file: same inode while still plain, same content once compressed.
func (f *Follower) isOld(date string) (bool, error) {
	name := f.path + "." + date
	fi, err := os.Stat(name)
	if err == nil {
		dev, ino := ident(fi)
		return dev == f.cur.dev && ino == f.cur.ino, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("stat rotated: %w", err)
	}
	h := f.cur.head.b
	if len(h) == 0 {
		return false, nil // empty file: nothing to compare, reading it again is harmless
	}
	for _, ext := range compExts {
		rc, err := f.open(name + ext)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("open rotated: %w", err)
		}
		got := make([]byte, len(h)+1)
		n, err := io.ReadFull(rc, got)
		rc.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read rotated %s: %w", name+ext, err)
		}
		got = got[:n]
		return bytes.HasPrefix(got, h) && (len(h) == fpMax || len(got) == len(h)), nil
	}
	return false, nil
}

// advance opens the next file when none is open; wait reports that there is
// none yet (live file missing).
func (f *Follower) advance() (wait bool, err error) {
	if !f.planned {
		if err := f.plan(); err != nil {
			return false, err
		}
		f.planned = true
	}
	if f.cur != nil {
		return false, nil
	}
	for {
		if len(f.queue) > 0 {
			d := f.queue[0]
			src, pre, err := f.openRotated(d, nil)
			if errors.Is(err, fs.ErrNotExist) {
				f.log.Warn("rotated file vanished before it was read", "date", d)
				f.queue, f.floor = f.queue[1:], d
				continue
			}
			if err != nil {
				return false, err
			}
			f.queue = f.queue[1:]
			f.setSource(src, 0, pre)
			return false, nil
		}
		file, err := os.Open(f.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("open log: %w", err)
		}
		// Files rotated since floor come before the live file; if the one
		// just opened was rotated meanwhile it is among them.
		dates, lerr := listRotated(f.path, f.floor)
		if lerr != nil {
			if file != nil {
				file.Close()
			}
			return false, lerr
		}
		if len(dates) > 0 {
			if file != nil {
				file.Close()
			}
			f.queue = dates
			continue
		}
		if file == nil {
			return true, nil
		}
		src, err := liveSource(f.path, file)
		if err != nil {
			return false, err
		}
		f.setSource(src, 0, nil)
		return false, nil
	}
}

func liveSource(path string, file *os.File) (*source, error) {
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	dev, ino := ident(fi)
	return &source{path: path, live: true, file: file, r: file, c: file, dev: dev, ino: ino}, nil
}

// plan decides where a fresh Follower starts.
func (f *Follower) plan() error {
	switch {
	case f.start != nil:
		return f.resume(*f.start)
	case f.since != "":
		t, _ := time.Parse(time.DateOnly, f.since)
		f.floor = t.AddDate(0, 0, -1).Format(time.DateOnly)
	default:
		d, err := maxRotatedDate(f.path)
		if err != nil {
			return err
		}
		f.floor = d
	}
	return nil
}

// resume finds the file of p: the live file, else a rotated one (newest
// first), and continues there; later rotated files follow from 0.
func (f *Follower) resume(p Position) error {
	file, err := os.Open(f.path)
	switch {
	case err == nil:
		src, err := liveSource(f.path, file)
		if err != nil {
			return err
		}
		h, err := readHeadAt(file)
		if err != nil {
			file.Close()
			return err
		}
		if liveMatches(p, src, h, file) {
			// Rotated files present now are older, or this very file
			// rotated an instant ago (then it is the one we hold).
			floor, err := maxRotatedDate(f.path)
			if err != nil {
				file.Close()
				return err
			}
			if _, err := file.Seek(p.Offset, io.SeekStart); err != nil {
				file.Close()
				return fmt.Errorf("seek log: %w", err)
			}
			f.floor = floor
			src.head.b = h
			f.setSource(src, p.Offset, nil)
			return nil
		}
		file.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open log: %w", err)
	}
	dates, err := listRotated(f.path, "")
	if err != nil {
		return err
	}
	for i := len(dates) - 1; i >= 0; i-- {
		src, pre, err := f.openRotated(dates[i], &p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.log.Warn("cannot check rotated file", "date", dates[i], "err", err)
			}
			continue
		}
		if src == nil {
			continue
		}
		f.floor = dates[i]
		f.queue = append(f.queue[:0], dates[i+1:]...)
		f.setSource(src, p.Offset, pre)
		return nil
	}
	f.log.Error("saved position not found in the live or rotated files: reading the live file from its start",
		"file", p.File, "offset", p.Offset)
	f.mu.Lock()
	f.st.Lost++
	f.mu.Unlock()
	f.m.lostPosition()
	if len(dates) > 0 {
		f.floor = dates[len(dates)-1]
	}
	return nil
}

func liveMatches(p Position, src *source, h []byte, file *os.File) bool {
	fi, err := file.Stat()
	if err != nil || fi.Size() < p.Offset {
		return false
	}
	sameIno := src.dev == p.Dev && src.ino == p.Ino
	if p.FPLen == 0 {
		return sameIno
	}
	if !matches(h, p.Fingerprint, p.FPLen) {
		return false // includes inode reuse
	}
	// Device numbers can change across reboots; enough content identifies.
	return sameIno || p.FPLen >= 64
}

func readHeadAt(file *os.File) ([]byte, error) {
	h := make([]byte, fpMax)
	n, err := file.ReadAt(h, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read log head: %w", err)
	}
	return h[:n], nil
}

// openRotated opens the rotated file of date, preferring the plain file (it
// is complete even while bzip2 writes the .bz2). With p it returns a nil
// source unless the content matches p, and positions it at p.Offset; pre
// holds bytes already read beyond that offset.
func (f *Follower) openRotated(date string, p *Position) (src *source, pre []byte, err error) {
	name := f.path + "." + date
	file, err := os.Open(name)
	if err == nil {
		src, err := liveSource(name, file)
		if err != nil {
			return nil, nil, err
		}
		src.live, src.date = false, date
		h, err := readHeadAt(file)
		if err != nil {
			file.Close()
			return nil, nil, err
		}
		src.head.b = h
		if p == nil {
			return src, nil, nil
		}
		if fi, err := file.Stat(); err != nil || fi.Size() < p.Offset ||
			!matches(h, p.Fingerprint, p.FPLen) || (p.FPLen == 0 && (src.dev != p.Dev || src.ino != p.Ino)) {
			file.Close()
			return nil, nil, nil
		}
		if _, err := file.Seek(p.Offset, io.SeekStart); err != nil {
			file.Close()
			return nil, nil, fmt.Errorf("seek rotated: %w", err)
		}
		return src, nil, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("open rotated: %w", err)
	}
	// The plain file is gone, so the compressed one is complete.
	for _, ext := range compExts {
		rc, err := f.open(name + ext)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open rotated: %w", err)
		}
		src := &source{path: name + ext, date: date, r: rc, c: rc}
		h := make([]byte, fpMax)
		n, err := io.ReadFull(rc, h)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			rc.Close()
			return nil, nil, fmt.Errorf("read rotated %s: %w", src.path, err)
		}
		h = h[:n]
		src.head.b = h
		if p == nil {
			return src, h, nil
		}
		if p.FPLen == 0 || !matches(h, p.Fingerprint, p.FPLen) {
			rc.Close()
			return nil, nil, nil
		}
		if p.Offset <= int64(n) {
			return src, h[p.Offset:], nil
		}
		// Offsets count decompressed bytes: skip to it.
		skip := p.Offset - int64(n)
		if got, err := io.CopyN(io.Discard, rc, skip); err != nil {
			rc.Close()
			if got < skip && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return nil, nil, nil // shorter than the position: not this file
			}
			return nil, nil, fmt.Errorf("skip in rotated %s: %w", src.path, err)
		}
		return src, nil, nil
	}
	return nil, nil, fs.ErrNotExist
}

// checkLive runs at EOF of the live file: has it been renamed away, removed,
// or truncated? changed means reading should go on (draining or from 0).
func (f *Follower) checkLive() (changed bool, err error) {
	// Truncation first: if the file was truncated and then renamed, its new
	// content must be read before draining it.
	ofi, err := f.cur.file.Stat()
	if err != nil {
		return false, fmt.Errorf("stat open log: %w", err)
	}
	f.size = ofi.Size()
	truncated := ofi.Size() < f.readPos()
	if !truncated && len(f.cur.head.b) > 0 {
		// Copytruncate followed by quick growth keeps the size up; the
		// first bytes still tell.
		h := make([]byte, len(f.cur.head.b))
		n, err := f.cur.file.ReadAt(h, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read log head: %w", err)
		}
		truncated = !bytes.Equal(h[:n], f.cur.head.b)
	}
	if !truncated {
		fi, err := os.Stat(f.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("stat log: %w", err)
		}
		if err != nil {
			f.cur.draining = true
			return true, nil
		}
		if dev, ino := ident(fi); dev != f.cur.dev || ino != f.cur.ino {
			// Renamed away: the writer no longer writes to the old file, so
			// one more read to its end gets its last lines.
			f.cur.draining = true
			return true, nil
		}
		f.publish(0)
		return false, nil
	}
	if _, err := f.cur.file.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("seek log: %w", err)
	}
	f.log.Warn("log truncated: reading it again from the start", "was_at", f.readPos(), "size", ofi.Size())
	f.resetBuf()
	f.cur.head.reset()
	f.mu.Lock()
	f.st.Truncations++
	f.mu.Unlock()
	f.m.truncation()
	f.publish(0)
	return true, nil
}

// wait sleeps until an fsnotify event about the log, the poll interval, the
// idle timeout or ctx.
func (f *Follower) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := f.now()
	d := f.poll
	if f.idle > 0 {
		// At most once per IdleTimeout, also while lines keep trickling in,
		// so the caller's periodic work runs on a busy log too.
		rem := f.lastIdle.Add(f.idle).Sub(now)
		if rem <= 0 {
			// The caller reads on after its periodic work: that read
			// counts as this wake-up's, so that writes in the next
			// MinWake are read together.
			f.lastIdle, f.woke = now, now
			return ErrIdle
		}
		d = min(d, rem)
	}
	f.ensureWatch()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if f.watcher != nil {
		events, errs = f.watcher.Events, f.watcher.Errors
	}
	f.timer.Reset(d)
	defer f.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.timer.C:
			f.woke = f.now()
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Name == f.path || strings.HasPrefix(ev.Name, f.path+".") {
				f.drainEvents()
				now := f.now()
				if wait := f.woke.Add(f.minWake).Sub(now); wait > 0 {
					// Woken a moment ago: read this write with the ones
					// that follow it, when the timer fires. Not at the
					// next poll: polling looks for writes fsnotify missed,
					// and this one is known.
					if f.idle > 0 {
						wait = min(wait, f.lastIdle.Add(f.idle).Sub(now))
					}
					f.timer.Reset(wait)
					events = nil
					continue
				}
				f.woke = now
				return nil
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Overflow and the like: polling covers it.
			f.log.Debug("fsnotify", "err", err)
		}
	}
}

func (f *Follower) drainEvents() {
	for {
		select {
		case <-f.watcher.Events:
		default:
			return
		}
	}
}

// sleep waits one poll interval (back-off after an error).
func (f *Follower) sleep(ctx context.Context) error {
	f.timer.Reset(f.poll)
	defer f.timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.timer.C:
		return nil
	}
}

// ensureWatch watches the log's directory (not the file: renames and new
// files must wake us). Failure is fine: polling still runs.
func (f *Follower) ensureWatch() {
	if !f.notify || f.watcher != nil {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(f.path)); err == nil {
			f.watcher = w
			return
		}
		w.Close()
	}
	if f.now().Sub(f.lastErrLog) > time.Minute {
		f.lastErrLog = f.now()
		f.log.Debug("fsnotify unavailable, polling only", "err", err)
	}
}
