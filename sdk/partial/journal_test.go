package partial_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/partial"
)

func header(t testing.TB) partial.Header {
	t.Helper()
	h, err := partial.NewHeader(10<<20+5, 1<<20, strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHeaderChunks(t *testing.T) {
	h := header(t)
	if h.NumChunks() != 11 || h.ChunkLen(0) != 1<<20 || h.ChunkLen(10) != 5 || h.ChunkLen(11) != 0 {
		t.Errorf("chunks %d, len(0) %d, len(10) %d", h.NumChunks(), h.ChunkLen(0), h.ChunkLen(10))
	}
	if _, err := partial.NewHeader(1, 0, ""); err == nil {
		t.Error("chunk size 0 accepted")
	}
	if _, err := partial.NewHeader(1, 1, "xyz"); err == nil {
		t.Error("bad sha256 accepted")
	}
	if z, _ := partial.NewHeader(0, 4, ""); z.NumChunks() != 0 {
		t.Error("empty file has chunks")
	}
}

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), partial.JournalName("t1"))
	h := header(t)
	j, err := partial.Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]uint32{0: 0xdeadbeef, 3: 7, 10: 0}
	for _, i := range []uint64{0, 3, 10} {
		if err := j.Append(i, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Append(11, 1); err == nil {
		t.Error("out-of-range chunk accepted")
	}
	if !maps.Equal(j.Chunks(), want) {
		t.Errorf("Chunks = %v", j.Chunks())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Create(path, h); err == nil {
		t.Error("Create overwrote an existing journal")
	}

	j, err = partial.Open(path, h)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(j.Chunks(), want) || j.Header() != h {
		t.Fatalf("reopened: %v %v", j.Chunks(), j.Header())
	}
	// A chunk recorded again: the last record wins.
	if err := j.Append(3, 8); err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, chunks, err := partial.ReadJournal(f)
	want[3] = 8
	if err != nil || got != h || !maps.Equal(chunks, want) {
		t.Errorf("ReadJournal = %v %v %v", got, chunks, err)
	}
}

func TestJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	h := header(t)
	j, err := partial.Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 4; i++ {
		if err := j.Append(i, uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const hdr, rec = 64, 16
	for name, damaged := range map[string][]byte{
		"cut mid-record":      raw[:hdr+3*rec+7],
		"zeroed last record":  append(append([]byte{}, raw[:hdr+3*rec]...), make([]byte, rec)...),
		"flipped last record": append(append([]byte{}, raw[:hdr+3*rec]...), flip(raw[hdr+3*rec:], 9)...),
	} {
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := partial.Open(path, h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := map[uint64]uint32{0: 0, 1: 1, 2: 2}; !maps.Equal(j.Chunks(), want) {
			t.Errorf("%s: chunks %v, want %v", name, j.Chunks(), want)
		}
		// The damaged tail is cut, so the next record is readable.
		if err := j.Append(3, 3); err != nil {
			t.Fatal(err)
		}
		_ = j.Close()
		j, err = partial.Open(path, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Chunks()) != 4 {
			t.Errorf("%s: after append: %v", name, j.Chunks())
		}
		_ = j.Close()
	}
	// A damaged record in the middle hides the records after it.
	if err := os.WriteFile(path, flip(raw, hdr+rec+2), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err = partial.Open(path, h)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[uint64]uint32{0: 0}; !maps.Equal(j.Chunks(), want) {
		t.Errorf("middle damage: %v", j.Chunks())
	}
	_ = j.Close()
}

func flip(b []byte, at int) []byte {
	out := append([]byte{}, b...)
	out[at] ^= 0x40
	return out
}

func TestJournalWrongHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	h := header(t)
	j, err := partial.Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Append(1, 1)
	_ = j.Close()
	other := []partial.Header{h, h, h}
	other[0].Size++
	other[1].ChunkSize *= 2
	other[2].SHA256[5]++
	for _, o := range other {
		if _, err := partial.Open(path, o); !errors.Is(err, partial.ErrMismatch) {
			t.Errorf("Open with %+v: %v, want ErrMismatch", o, err)
		}
	}
	raw, _ := os.ReadFile(path)
	for i, bad := range [][]byte{nil, []byte("CASTRAYJ"), flip(raw, 20), flip(raw, 0), flip(raw, 9)} {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := partial.Open(p, h); !errors.Is(err, partial.ErrNotJournal) {
			t.Errorf("damaged header %d: %v, want ErrNotJournal", i, err)
		}
	}
	// A symlink is not followed.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Open(link, h); err == nil {
		t.Error("Open followed a symlink")
	}
	if _, err := partial.Create(filepath.Join(dir, "new"), partial.Header{}); err == nil {
		t.Error("Create accepted chunk size 0")
	}
}

// encodeJournal writes a journal through the public API into memory.
func encodeJournal(t testing.TB, h partial.Header, recs map[uint64]uint32) []byte {
	path := filepath.Join(t.TempDir(), "j")
	j, err := partial.Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range recs {
		if err := j.Append(i, c); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// FuzzReadJournal feeds damaged journals to the parser: it must never
// panic, never return a chunk past the end of the file, and what it returns
// must be exactly what a re-encoded journal yields.
func FuzzReadJournal(f *testing.F) {
	h := header(f)
	good := encodeJournal(f, h, map[uint64]uint32{0: 1, 5: 2, 10: 3})
	f.Add(good)
	f.Add(good[:64])
	f.Add(good[:70])
	f.Add(flip(good, 30))
	f.Add(flip(good, 64+16+3))
	f.Add([]byte{})
	f.Add([]byte("CASTRAYJ"))
	small, _ := partial.NewHeader(3, 1, "")
	f.Add(encodeJournal(f, small, map[uint64]uint32{2: 9}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, chunks, err := partial.ReadJournal(bytes.NewReader(data))
		if err != nil {
			if chunks != nil {
				t.Fatalf("error %v with chunks %v", err, chunks)
			}
			return
		}
		if got.ChunkSize == 0 {
			t.Fatal("accepted chunk size 0")
		}
		for i := range chunks {
			if i >= got.NumChunks() {
				t.Fatalf("chunk %d of a %d-chunk file", i, got.NumChunks())
			}
		}
		if len(chunks) > (len(data)-64)/16 {
			t.Fatalf("%d chunks from %d bytes", len(chunks), len(data))
		}
		// Re-encoding what was trusted gives the same answer.
		again, chunks2, err := partial.ReadJournal(bytes.NewReader(encodeJournal(t, got, chunks)))
		if err != nil || again != got || !maps.Equal(chunks, chunks2) {
			t.Fatalf("re-encoded: %v %v %v", again, chunks2, err)
		}
	})
}
