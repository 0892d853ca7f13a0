package payload

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
)

// gzipBlockRows is how many rows are encoded and compressed as one piece.
// The pieces, and so the file, do not depend on the number of cores.
const gzipBlockRows = 4096

// WriteGzip writes Marshal's JSON, gzipped. A day's payload is tens of MB
// of JSON, so blocks of rows are encoded and deflated on every core, each
// ending on a byte boundary (a sync flush) so that the pieces concatenate
// into one deflate stream, as pigz does.
func (p *Payload) WriteGzip(w io.Writer) error {
	head, tail, err := p.frame()
	if err != nil {
		return err
	}
	nblocks := (len(p.Stats) + gzipBlockRows - 1) / gzipBlockRows
	type piece struct {
		json, deflated []byte
		err            error
		done           chan struct{}
	}
	pieces := make([]*piece, nblocks)
	for i := range pieces {
		pieces[i] = &piece{done: make(chan struct{})}
	}
	// Workers take blocks in order; at most 2 per worker are encoded and
	// not yet written, which bounds the memory to a few blocks.
	workers := min(runtime.GOMAXPROCS(0), max(nblocks, 1))
	slots := make(chan struct{}, 2*workers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc blockEncoder
			for i := range next {
				pc := pieces[i]
				rows := p.Stats[i*gzipBlockRows : min((i+1)*gzipBlockRows, len(p.Stats))]
				pc.json, pc.deflated, pc.err = enc.encode(rows, i > 0)
				close(pc.done)
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range pieces {
			slots <- struct{}{}
			next <- i
		}
	}()
	gz := gzipWriter{w: w, crc: crc32.NewIEEE()}
	gz.header()
	gz.deflate(head)
	var werr error
	for _, pc := range pieces {
		<-pc.done
		<-slots
		if werr == nil {
			if pc.err != nil {
				werr = pc.err
			} else {
				gz.raw(pc.json, pc.deflated)
			}
		}
		pc.json, pc.deflated = nil, nil
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	gz.deflate(tail)
	gz.finish()
	if gz.err != nil {
		return fmt.Errorf("gzip payload: %w", gz.err)
	}
	return nil
}

// frame is the JSON before and after the stats rows: Marshal's output for
// the payload without rows, cut inside the empty list.
func (p *Payload) frame() (head, tail []byte, err error) {
	empty := *p
	empty.Stats = []Row{}
	b, err := empty.Marshal()
	if err != nil {
		return nil, nil, err
	}
	const list = `"stats":[]`
	i := bytes.LastIndex(b, []byte(list))
	if i < 0 || !bytes.Equal(b[i+len(list):], []byte("}")) {
		return nil, nil, fmt.Errorf("encode payload: unexpected JSON frame %q", b)
	}
	cut := i + len(list) - 1
	return b[:cut], b[cut:], nil
}

// blockEncoder renders blocks of rows as Marshal does, deflated.
type blockEncoder struct {
	buf bytes.Buffer
	fw  *flate.Writer
}

// encode returns the rows' JSON, comma-separated as inside a JSON list
// (with a leading comma if comma), and its deflated form ending with a
// sync flush. The slices are the caller's.
func (e *blockEncoder) encode(rows []Row, comma bool) (js, deflated []byte, err error) {
	e.buf.Reset()
	enc := json.NewEncoder(&e.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rows); err != nil {
		return nil, nil, fmt.Errorf("encode payload: %w", err)
	}
	// Encode wrote "[row,row]\n": keep the rows.
	body := bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))
	body = body[1 : len(body)-1]
	js = make([]byte, 0, len(body)+1)
	if comma {
		js = append(js, ',')
	}
	js = append(js, body...)

	var out bytes.Buffer
	if e.fw == nil {
		e.fw, _ = flate.NewWriter(&out, flate.BestSpeed)
	} else {
		e.fw.Reset(&out)
	}
	if _, err := e.fw.Write(js); err != nil {
		return nil, nil, fmt.Errorf("gzip payload: %w", err)
	}
	if err := e.fw.Flush(); err != nil {
		return nil, nil, fmt.Errorf("gzip payload: %w", err)
	}
	return js, out.Bytes(), nil
}

// gzipWriter writes a gzip member (RFC 1952) from deflate pieces that each
// end on a byte boundary; the first error sticks.
type gzipWriter struct {
	w    io.Writer
	crc  hash.Hash32
	size uint32
	err  error
}

func (g *gzipWriter) write(b []byte) {
	if g.err == nil {
		_, g.err = g.w.Write(b)
	}
}

// header: no name, no time, fastest-level flag, unknown OS, as
// compress/gzip writes it for BestSpeed.
func (g *gzipWriter) header() {
	g.write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255})
}

// raw appends an already deflated piece of the plain bytes js.
func (g *gzipWriter) raw(js, deflated []byte) {
	g.crc.Write(js)
	g.size += uint32(len(js))
	g.write(deflated)
}

// deflate compresses a small piece here.
func (g *gzipWriter) deflate(js []byte) {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestSpeed)
	fw.Write(js)
	fw.Flush()
	g.raw(js, out.Bytes())
}

// finish ends the deflate stream with an empty final block and writes the
// trailer: CRC-32 and size mod 2^32 of the plain bytes.
func (g *gzipWriter) finish() {
	g.write([]byte{0x03, 0x00}) // final fixed-Huffman block with only end-of-block
	var t [8]byte
	binary.LittleEndian.PutUint32(t[:4], g.crc.Sum32())
	binary.LittleEndian.PutUint32(t[4:], g.size)
	g.write(t[:])
}
