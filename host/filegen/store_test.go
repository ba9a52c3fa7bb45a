package filegen_test

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/filegen"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/store"
)

// A 256 MiB generated file streams into the upload store: exactly its size
// on disk, with its digests, and the whole of it allocates a bounded
// amount (the store's eight 1 MiB copy buffers, refilled after the GC
// that starts the measure, and small change), not memory proportional to
// the file.
func TestGenerateIntoStoreMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	const size = 256 << 20
	dir := t.TempDir()
	meta, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	st, err := files.Open(filepath.Join(dir, "uploads"), meta, 1<<20, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	r, err := filegen.New(filegen.Random, size, "")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := st.Save("sample_big.bin", r, files.SaveOptions{Length: size})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("generating %d bytes into the store allocated %d bytes", size, alloc)
	if alloc > 16<<20 {
		t.Errorf("generating %d bytes into the store allocated %d bytes", size, alloc)
	}
	fi, err := os.Stat(st.Path("sample_big.bin"))
	if err != nil || fi.Size() != size || m.Size != size || len(m.SHA256) != 64 || len(m.ChunkCRC32C) != size/(1<<20) {
		t.Fatalf("stored %+v (sha256 %q, %d crcs), on disk %v, %v", m.Size, m.SHA256, len(m.ChunkCRC32C), fi, err)
	}
	// The bytes on disk are the generator's: not one repeated value.
	f, err := os.Open(st.Path("sample_big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	same := 0
	for _, c := range head[1:] {
		if c == head[0] {
			same++
		}
	}
	if same > 100 {
		t.Errorf("the first 4096 bytes have %d copies of the first byte: not random", same)
	}
}
