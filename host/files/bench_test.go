package files

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// netLikeReader yields n zero bytes in reads of at most 64 KiB, like a socket.
type netLikeReader struct{ left int64 }

func (r *netLikeReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.left, 64<<10))
	clear(p[:n])
	r.left -= int64(n)
	return n, nil
}

const benchSize = 256 << 20

// BenchmarkSave is Save of 256 MiB; compare with BenchmarkPlainWrite, the
// same bytes written to a file with no digests.
func BenchmarkSave(b *testing.B) {
	f := newFixture(b, DefaultChunkSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := f.s.Save("bench", &netLikeReader{benchSize}, SaveOptions{Length: benchSize}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainWrite(b *testing.B) {
	dir := b.TempDir()
	b.SetBytes(benchSize)
	buf := make([]byte, bufSize)
	for b.Loop() {
		fh, err := os.Create(filepath.Join(dir, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(fh, &netLikeReader{benchSize}, buf); err != nil {
			b.Fatal(err)
		}
		fh.Sync()
		fh.Close()
	}
}
