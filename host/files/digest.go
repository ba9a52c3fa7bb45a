package files

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// The copy moves data in bufSize blocks, nbufs of them in flight: the
// reader fills one while the writer and the hasher work on earlier ones, so
// that a slow step (a disk write, a SHA-256 block) does not stall the
// network reads, and memory stays bounded (nbufs MiB per upload).
const (
	bufSize = 1 << 20
	nbufs   = 8
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, bufSize)
	return &b
}}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// digests is what one pass over a file computes.
type digests struct {
	n      int64
	sha256 string   // lower-case hex
	crcs   []uint32 // CRC32C of each chunkSize piece, the last may be shorter
}

// readError is an error of the source, as opposed to one of the
// destination (the disk).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// block is a buffer on its way through the copy; it goes back to the free
// list when its last user (writer, hasher) is done with it.
type block struct {
	p    *[]byte
	n    int
	refs atomic.Int32
}

// copyDigest copies src to dst (nil: digest only), reading at most limit
// bytes (limit < 0: up to EOF), and computes the SHA-256 and the CRC32C of
// every chunkSize piece. Three goroutines share the work: this one reads
// and computes the CRC32C (hardware-assisted, far faster than the rest),
// one writes to dst, one computes the SHA-256. An error of src is returned
// as *readError; an error of dst stops the reading.
func copyDigest(dst io.Writer, src io.Reader, limit int64, chunkSize int) (d digests, err error) {
	free := make(chan *block, nbufs)
	for range nbufs {
		free <- &block{p: bufPool.Get().(*[]byte)}
	}
	release := func(b *block) {
		if b.refs.Add(-1) == 0 {
			free <- b
		}
	}
	toHash := make(chan *block, nbufs)
	sum := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		for b := range toHash {
			h.Write((*b.p)[:b.n])
			release(b)
		}
		sum <- h.Sum(nil)
	}()
	var toWrite chan *block
	var writeFailed atomic.Bool
	written := make(chan error, 1)
	if dst != nil {
		toWrite = make(chan *block, nbufs)
		file, _ := dst.(*os.File)
		go func() {
			var werr error
			var off int64
			for b := range toWrite {
				if werr == nil {
					if _, werr = dst.Write((*b.p)[:b.n]); werr != nil {
						writeFailed.Store(true)
					} else if file != nil {
						startWriteback(file, off, b.n)
					}
					off += int64(b.n)
				}
				release(b)
			}
			written <- werr
		}()
	} else {
		written <- nil
	}

	var crc uint32
	inChunk := 0
	for (limit < 0 || d.n < limit) && !writeFailed.Load() {
		b := <-free
		buf := *b.p
		if limit >= 0 && int64(len(buf)) > limit-d.n {
			buf = buf[:limit-d.n]
		}
		m, rerr := fill(src, buf)
		if m > 0 {
			for rest := buf[:m]; len(rest) > 0; {
				k := min(len(rest), chunkSize-inChunk)
				crc = crc32.Update(crc, castagnoli, rest[:k])
				inChunk += k
				rest = rest[k:]
				if inChunk == chunkSize {
					d.crcs = append(d.crcs, crc)
					crc, inChunk = 0, 0
				}
			}
			b.n = m
			d.n += int64(m)
			if toWrite != nil {
				b.refs.Store(2)
				toHash <- b
				toWrite <- b
			} else {
				b.refs.Store(1)
				toHash <- b
			}
		} else {
			free <- b
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = &readError{rerr}
			break
		}
	}
	close(toHash)
	if toWrite != nil {
		close(toWrite)
	}
	s := <-sum
	if werr := <-written; werr != nil {
		err = werr // the disk failed first: the reading stopped because of it
	}
	for range nbufs {
		bufPool.Put((<-free).p)
	}
	if err != nil {
		return d, err
	}
	if inChunk > 0 {
		d.crcs = append(d.crcs, crc)
	}
	d.sha256 = hex.EncodeToString(s)
	return d, nil
}

// fill reads into b until it is full or r fails; io.EOF is returned as is.
func fill(r io.Reader, b []byte) (int, error) {
	n, empty := 0, 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if empty++; empty > 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}
