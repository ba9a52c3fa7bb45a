package files

import (
	"errors"
	"io"
	"testing"
)

// endless yields zeros forever, counting them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

// failingWriter accepts ok bytes, then fails.
type failingWriter struct{ ok int64 }

var errDiskFull = errors.New("no space left on device")

func (w *failingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.ok {
		return 0, errDiskFull
	}
	w.ok -= int64(len(p))
	return len(p), nil
}

// A disk error ends the copy (it does not read the source to its end) and
// is returned as itself, not as an error of the source.
func TestCopyDigestStopsOnWriteError(t *testing.T) {
	src := &endless{}
	_, err := copyDigest(&failingWriter{ok: 3 * bufSize}, src, -1, 1000)
	var re *readError
	if !errors.Is(err, errDiskFull) || errors.As(err, &re) {
		t.Fatalf("err = %v, want the write error", err)
	}
	if max := int64(3*bufSize + (nbufs+2)*bufSize); src.n > max {
		t.Fatalf("read %d bytes after the disk failed at %d", src.n, 3*bufSize)
	}
}

// The limit is a bound on what is read, not only on what is kept.
func TestCopyDigestLimit(t *testing.T) {
	src := &endless{}
	d, err := copyDigest(io.Discard, src, 5*bufSize+7, bufSize)
	if err != nil || d.n != 5*bufSize+7 || src.n != d.n || len(d.crcs) != 6 {
		t.Fatalf("copied %d, read %d, %d chunks, %v", d.n, src.n, len(d.crcs), err)
	}
}
