package files

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/store"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	s    *Store
	dir  string
	meta *store.Store
	log  *lockedBuffer
}

// newFixture opens a store over a real bbolt store in a temp dir.
func newFixture(t testing.TB, chunkSize int) *fixture {
	t.Helper()
	root := t.TempDir()
	meta, err := store.Open(filepath.Join(root, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	f := &fixture{dir: filepath.Join(root, "uploads"), meta: meta, log: &lockedBuffer{}}
	f.s = f.open(t, chunkSize)
	return f
}

func (f *fixture) open(t testing.TB, chunkSize int) *Store {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Output: f.log, Level: hclog.Debug})
	s, err := Open(f.dir, f.meta, chunkSize, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantMeta computes what Meta must say of data, independently of the store.
func wantDigests(data []byte, chunkSize int) (string, []uint32) {
	sum := sha256.Sum256(data)
	crcs := []uint32{}
	for off := 0; off < len(data); off += chunkSize {
		crcs = append(crcs, crc32.Checksum(data[off:min(off+chunkSize, len(data))], crc32.MakeTable(crc32.Castagnoli)))
	}
	return hex.EncodeToString(sum[:]), crcs
}

func checkMeta(t *testing.T, m Meta, name string, data []byte, chunkSize int) {
	t.Helper()
	sum, crcs := wantDigests(data, chunkSize)
	if m.Name != name || m.Size != int64(len(data)) || m.SHA256 != sum {
		t.Fatalf("meta %s %d %s, want %s %d %s", m.Name, m.Size, m.SHA256, name, len(data), sum)
	}
	if len(data) > 0 && m.ChunkSize != chunkSize {
		t.Fatalf("chunk size %d, want %d", m.ChunkSize, chunkSize)
	}
	if fmt.Sprint(m.ChunkCRC32C) != fmt.Sprint(crcs) {
		t.Fatalf("chunk CRC32C %v, want %v", m.ChunkCRC32C, crcs)
	}
}

// noParts fails if a ".upload-*.part" file is left in dir.
func noParts(t *testing.T, dir string) {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(dir, ".upload-*"))
	if len(parts) > 0 {
		t.Fatalf("parts left behind: %v", parts)
	}
}

func TestSaveAndStat(t *testing.T) {
	for _, tc := range []struct {
		size, chunk int
	}{
		{0, 1000},
		{1, 1000},
		{999, 1000},
		{1000, 1000},
		{2500, 1000},
		{3*bufSize + 12345, 1 << 20}, // several copy buffers, chunks aligned with them
		{3*bufSize + 12345, 777777},  // chunks straddling buffers
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.size, tc.chunk), func(t *testing.T) {
			f := newFixture(t, tc.chunk)
			data := randomBytes(t, tc.size)
			m, err := f.s.Save("data.bin", bytes.NewReader(data), SaveOptions{Length: int64(len(data)), MaxSize: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			checkMeta(t, m, "data.bin", data, tc.chunk)
			if tc.size == 0 && (m.ChunkSize != 0 || m.ChunkCRC32C == nil) {
				t.Fatalf("empty file: chunk size %d, crcs %#v; want 0 and []", m.ChunkSize, m.ChunkCRC32C)
			}
			got, err := os.ReadFile(filepath.Join(f.dir, "data.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored file differs (%v)", err)
			}
			fi, _ := os.Stat(filepath.Join(f.dir, "data.bin"))
			if !m.Modified.Equal(fi.ModTime()) || m.Modified.Location() != time.UTC {
				t.Fatalf("modified %v, file mtime %v", m.Modified, fi.ModTime())
			}
			noParts(t, f.dir)

			// Recorded: Stat (and a new Store on the same records) does not
			// hash again.
			var rec record
			if ok, err := f.meta.Get(Bucket, "data.bin", &rec); !ok || err != nil {
				t.Fatalf("no record (%v)", err)
			}
			if !rec.matches("data.bin", fi) {
				t.Fatalf("record %+v does not match the file", rec)
			}
			for _, s := range []*Store{f.s, f.open(t, tc.chunk)} {
				st, err := s.Stat("data.bin")
				if err != nil {
					t.Fatal(err)
				}
				checkMeta(t, st, "data.bin", data, tc.chunk)
			}
			if strings.Contains(f.log.String(), "computed the digests") {
				t.Fatalf("a saved file was hashed again:\n%s", f.log)
			}
			// Unknown length, no limit.
			m2, err := f.s.Save("again.bin", iotest.OneByteReader(bytes.NewReader(data[:min(len(data), 5000)])), SaveOptions{Length: -1})
			if err != nil {
				t.Fatal(err)
			}
			checkMeta(t, m2, "again.bin", data[:min(len(data), 5000)], tc.chunk)
		})
	}
}

// A failed Save leaves no part and the earlier file of the name intact.
func TestSaveFailureKeepsTheOldFile(t *testing.T) {
	data := randomBytes(t, 3000)
	sum, _ := wantDigests(data, 1000)
	other := strings.Repeat("0", 64)
	boom := errors.New("connection reset by peer")
	for _, tc := range []struct {
		what string
		r    io.Reader
		o    SaveOptions
		is   error
		msg  []string
	}{
		{"declared too large", bytes.NewReader(data), SaveOptions{Length: 3000, MaxSize: 2999}, ErrTooLarge, []string{"3000 bytes", "2999"}},
		{"too large", bytes.NewReader(data), SaveOptions{Length: -1, MaxSize: 2999}, ErrTooLarge, []string{"more than 2999 bytes"}},
		{"short", bytes.NewReader(data[:400]), SaveOptions{Length: 1000, MaxSize: 1 << 20}, ErrIncomplete, []string{"got 400 of 1000 bytes"}},
		{"long", bytes.NewReader(data), SaveOptions{Length: 1000, MaxSize: 1 << 20}, ErrIncomplete, []string{"more than the declared 1000 bytes"}},
		{"reader fails", io.MultiReader(bytes.NewReader(data[:700]), iotest.ErrReader(boom)), SaveOptions{Length: 3000}, boom, []string{"upload incomplete: got 700 of 3000 bytes", "connection reset"}},
		{"reader fails, no length", io.MultiReader(bytes.NewReader(data[:700]), iotest.ErrReader(boom)), SaveOptions{Length: -1}, ErrIncomplete, []string{"got 700 bytes"}},
		{"digest", bytes.NewReader(data), SaveOptions{Length: 3000, SHA256: other}, ErrDigestMismatch, []string{sum, other, "3000 bytes"}},
		{"bad name", bytes.NewReader(data), SaveOptions{Length: -1}, nil, []string{"invalid file name"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			f := newFixture(t, 1000)
			old := []byte("the earlier copy")
			oldMeta, err := f.s.Save("f.txt", bytes.NewReader(old), SaveOptions{Length: -1})
			if err != nil {
				t.Fatal(err)
			}
			name := "f.txt"
			if tc.is == nil {
				name = "../f.txt"
			}
			m, err := f.s.Save(name, tc.r, tc.o)
			if err == nil {
				t.Fatalf("saved %+v, want an error", m)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			for _, s := range tc.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not say %q", err, s)
				}
			}
			got, _ := os.ReadFile(filepath.Join(f.dir, "f.txt"))
			if !bytes.Equal(got, old) {
				t.Fatalf("the earlier copy changed: %q", got)
			}
			if st, err := f.s.Stat("f.txt"); err != nil || st.SHA256 != oldMeta.SHA256 {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
			noParts(t, f.dir)
		})
	}
}

// A reader timeout stays recognisable through Save's error.
func TestSaveReaderTimeout(t *testing.T) {
	f := newFixture(t, 1000)
	_, err := f.s.Save("t", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(os.ErrDeadlineExceeded)), SaveOptions{Length: 10})
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "t")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file stored: %v", err)
	}
	noParts(t, f.dir)
}

func TestSaveUpperCaseDigest(t *testing.T) {
	f := newFixture(t, 1000)
	sum, _ := wantDigests([]byte("x"), 1000)
	if _, err := f.s.Save("x", strings.NewReader("x"), SaveOptions{Length: 1, SHA256: strings.ToUpper(sum)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Save("x", strings.NewReader("x"), SaveOptions{Length: 1, SHA256: "abc"}); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("err = %v", err)
	}
}

// Files copied in or changed by hand, and a crash between the rename and
// the record, get correct digests: the record is checked against the
// file's inode, size and mtime.
func TestStatRehashesStaleOrMissingRecords(t *testing.T) {
	f := newFixture(t, 1000)
	path := filepath.Join(f.dir, "f.bin")
	hashes := func() int { return strings.Count(f.log.String(), "computed the digests") }

	// Copied in by hand (or renamed in before a crash): no record.
	a := randomBytes(t, 2500)
	if err := os.WriteFile(path, a, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := f.s.Stat("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, m, "f.bin", a, 1000)
	if hashes() != 1 {
		t.Fatalf("%d hashes, want 1", hashes())
	}
	if _, err := f.s.Stat("f.bin"); err != nil || hashes() != 1 {
		t.Fatalf("the computed digests were not recorded (%v, %d hashes)", err, hashes())
	}

	// Replaced by hand (new inode), same size, same mtime.
	fi, _ := os.Stat(path)
	b := randomBytes(t, 2500)
	tmp := filepath.Join(f.dir, ".castray-test-b") // same folder: the rename keeps the new inode
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if inode(fi) != 0 {
		m, err = f.s.Stat("f.bin")
		if err != nil {
			t.Fatal(err)
		}
		checkMeta(t, m, "f.bin", b, 1000)
	}

	// Rewritten in place (same inode, same size), new mtime.
	c := randomBytes(t, 2500)
	if err := os.WriteFile(path, c, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	m, err = f.s.Stat("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, m, "f.bin", c, 1000)

	// Appended to: another size.
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.Write([]byte("more"))
	fh.Close()
	m, err = f.s.Stat("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, m, "f.bin", append(c, "more"...), 1000)

	// Open describes the file it opened.
	file, m, err := f.s.Open("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	got, _ := io.ReadAll(file)
	checkMeta(t, m, "f.bin", got, 1000)

	// The records survive a restart and a new chunk size does not
	// invalidate them (each record says its own).
	s2 := f.open(t, 4096)
	before := hashes()
	m, err = s2.Stat("f.bin")
	if err != nil || hashes() != before || m.ChunkSize != 1000 {
		t.Fatalf("after a restart: %+v, %v, %d hashes (was %d)", m, err, hashes(), before)
	}
}

// Concurrent first uses of a file without a record hash it once.
func TestConcurrentStatHashesOnce(t *testing.T) {
	f := newFixture(t, 1<<20)
	data := randomBytes(t, 5<<20)
	if err := os.WriteFile(filepath.Join(f.dir, "big"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	metas := make([]Meta, 8)
	errs := make([]error, 8)
	for i := range metas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				metas[i], errs[i] = f.s.Stat("big")
			} else {
				var fh *os.File
				fh, metas[i], errs[i] = f.s.Open("big")
				if fh != nil {
					fh.Close()
				}
			}
		}()
	}
	wg.Wait()
	for i := range metas {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		checkMeta(t, metas[i], "big", data, 1<<20)
	}
	if n := strings.Count(f.log.String(), "computed the digests"); n != 1 {
		t.Fatalf("hashed %d times, want 1", n)
	}
}

// Concurrent saves of one name: the last rename wins, and its record is
// the one kept (or, at worst, a stale one that Stat notices).
func TestConcurrentSaves(t *testing.T) {
	f := newFixture(t, 1000)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('a' + i)}, 5000+i)
			if _, err := f.s.Save("same", bytes.NewReader(data), SaveOptions{Length: int64(len(data))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := os.ReadFile(filepath.Join(f.dir, "same"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.s.Stat("same")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, m, "same", got, 1000)
	noParts(t, f.dir)
}

func TestOpenSweepsParts(t *testing.T) {
	f := newFixture(t, 1000)
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".upload-123abc.part", "half an upload")
	write(".upload-x.part", "")
	write(".keep", "someone else's")
	write("a.part", "a user's file")
	write(".upload-notapart", "not ours")
	if err := os.Mkdir(filepath.Join(f.dir, ".upload-dir.part"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A record whose file is gone is dropped.
	if err := f.meta.Put(Bucket, "gone.txt", record{Meta: Meta{Name: "gone.txt"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Save("kept.txt", strings.NewReader("k"), SaveOptions{Length: 1}); err != nil {
		t.Fatal(err)
	}

	f.open(t, 1000)
	for name, want := range map[string]bool{
		".upload-123abc.part": false, ".upload-x.part": false,
		".keep": true, "a.part": true, ".upload-notapart": true, ".upload-dir.part": true, "kept.txt": true,
	} {
		_, err := os.Lstat(filepath.Join(f.dir, name))
		if exists := err == nil; exists != want {
			t.Errorf("%s exists: %v, want %v", name, exists, want)
		}
	}
	logged := f.log.String()
	for _, name := range []string{".upload-123abc.part", ".upload-x.part"} {
		if !strings.Contains(logged, "removed an incomplete upload") || !strings.Contains(logged, name) {
			t.Errorf("removal of %s not logged:\n%s", name, logged)
		}
	}
	if ok, _ := f.meta.Get(Bucket, "gone.txt", nil); ok {
		t.Error("the record of a removed file was kept")
	}
	if ok, _ := f.meta.Get(Bucket, "kept.txt", nil); !ok {
		t.Error("the record of a present file was dropped")
	}
}

func TestListAndDelete(t *testing.T) {
	f := newFixture(t, 1000)
	for _, name := range []string{"b.txt", "a.txt"} {
		if _, err := f.s.Save(name, strings.NewReader(name), SaveOptions{Length: -1}); err != nil {
			t.Fatal(err)
		}
	}
	// Copied in by hand: listed, with digests.
	if err := os.WriteFile(filepath.Join(f.dir, "c.txt"), []byte("c.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not listed: hidden, folders, names the rule refuses.
	os.WriteFile(filepath.Join(f.dir, ".hidden"), []byte("h"), 0o600)
	os.Mkdir(filepath.Join(f.dir, "folder"), 0o700)
	os.WriteFile(filepath.Join(f.dir, "bad\u202Ename"), []byte("b"), 0o600)

	list, err := f.s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
		checkMeta(t, m, m.Name, []byte(m.Name), 1000)
	}
	if strings.Join(names, ",") != "a.txt,b.txt,c.txt" {
		t.Fatalf("listed %v", names)
	}

	if err := f.s.Delete("a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a.txt is still there")
	}
	if ok, _ := f.meta.Get(Bucket, "a.txt", nil); ok {
		t.Fatal("the record of a.txt is still there")
	}
	if err := f.s.Delete("a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := f.s.Stat("a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	if err := f.s.Delete("folder"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("Delete(folder) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "folder")); err != nil {
		t.Fatal("the folder was removed")
	}
	if err := f.s.Delete("../x"); err == nil {
		t.Fatal("Delete(../x) succeeded")
	}
	if p := f.s.Path("b.txt"); p != filepath.Join(f.dir, "b.txt") || !filepath.IsAbs(p) {
		t.Fatalf("Path = %q", p)
	}
	if p := f.s.Path("../b.txt"); p != "" {
		t.Fatalf("Path(../b.txt) = %q", p)
	}
}
