package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type rec struct {
	ID   string            `json:"id"`
	N    int               `json:"n"`
	Tags map[string]string `json:"tags,omitempty"`
}

func openT(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPutGetDeleteList(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "castray.db"))

	for _, id := range []string{"c", "a", "b"} {
		if err := s.Put(BucketNodes, id, rec{ID: id, N: len(id)}); err != nil {
			t.Fatal(err)
		}
	}
	var r rec
	ok, err := s.Get(BucketNodes, "b", &r)
	if err != nil || !ok || r.ID != "b" {
		t.Fatalf("Get b = %v %v %+v", ok, err, r)
	}
	ok, err = s.Get(BucketNodes, "zz", &r)
	if err != nil || ok {
		t.Fatalf("Get missing = %v %v", ok, err)
	}
	ok, err = s.Get("no-such-bucket", "a", &r)
	if err != nil || ok {
		t.Fatalf("Get from missing bucket = %v %v", ok, err)
	}
	if ok, err := s.Get(BucketNodes, "a", nil); err != nil || !ok {
		t.Fatalf("Get presence only = %v %v", ok, err)
	}

	var keys []string
	err = s.List(BucketNodes, func(k string, raw []byte) error {
		keys = append(keys, k)
		if !bytes.Contains(raw, []byte(`"id":"`+k+`"`)) {
			t.Errorf("raw for %s = %s", k, raw)
		}
		return nil
	})
	if err != nil || strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("List = %v, %v; want a,b,c in order", keys, err)
	}

	// fn may call back into the store, and its error stops the listing.
	stop := errors.New("stop")
	n := 0
	err = s.List(BucketNodes, func(k string, raw []byte) error {
		n++
		if err := s.Delete(BucketNodes, k); err != nil {
			return err
		}
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with error: n=%d err=%v", n, err)
	}

	if err := s.Delete(BucketNodes, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(BucketNodes, "b"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := s.Delete("no-such-bucket", "b"); err != nil {
		t.Fatalf("Delete in a missing bucket: %v", err)
	}
	if err := s.List("no-such-bucket", func(string, []byte) error { t.Error("called"); return nil }); err != nil {
		t.Fatal(err)
	}

	// Errors carry context.
	if err := s.Put(BucketNodes, "", rec{}); err == nil || !strings.Contains(err.Error(), "put nodes") {
		t.Fatalf("Put with empty key: %v", err)
	}
	if err := s.Put(BucketNodes, "x", func() {}); err == nil || !strings.Contains(err.Error(), "encode") {
		t.Fatalf("Put of an unencodable value: %v", err)
	}
	if err := s.Put(BucketNodes, "str", "just a string"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(BucketNodes, "str", &r); err == nil || !strings.Contains(err.Error(), "nodes/str") {
		t.Fatalf("Get into the wrong type: %v", err)
	}
}

func TestBucketsAndSchemaCreated(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "castray.db"))
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, b := range []string{BucketNodes, BucketClusters, BucketTransfers, BucketMeta} {
			if tx.Bucket([]byte(b)) == nil {
				return fmt.Errorf("bucket %s missing", b)
			}
		}
		if v := tx.Bucket([]byte(BucketMeta)).Get([]byte(schemaKey)); string(v) != fmt.Sprint(SchemaVersion) {
			return fmt.Errorf("schema version = %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreatesParentDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	openT(t, filepath.Join(dir, "castray.db"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, want 0700", fi.Mode().Perm())
	}
}

func TestSurvivesCloseOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "castray.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := rec{ID: "node_1", N: 7, Tags: map[string]string{"k": "v"}}
	if err := s.Put(BucketNodes, want.ID, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(BucketTransfers, "t1", map[string]int{"bytes": 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Put(BucketNodes, "x", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if _, err := s.Get(BucketNodes, "x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}

	s2 := openT(t, path)
	var got rec
	if ok, err := s2.Get(BucketNodes, want.ID, &got); err != nil || !ok {
		t.Fatalf("after reopen: %v %v", ok, err)
	}
	if got.ID != want.ID || got.N != want.N || got.Tags["k"] != "v" {
		t.Fatalf("after reopen got %+v, want %+v", got, want)
	}
	var tr map[string]int
	if ok, _ := s2.Get(BucketTransfers, "t1", &tr); !ok || tr["bytes"] != 10 {
		t.Fatalf("transfer after reopen: %v %v", ok, tr)
	}
}

// bbolt's flock is per open file description, so a second Open of the same
// file in the same process conflicts just as another process would.
func TestLockedByAnotherOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "castray.db")
	first := openT(t, path)
	if err := first.Put(BucketNodes, "a", 1); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	s, err := Open(path)
	waited := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	want := "store " + path + " is locked by another process (is another castray running with the same data dir?)"
	if err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err, want)
	}
	if waited < lockTimeout/2 || waited > 5*lockTimeout {
		t.Fatalf("waited %v for the lock, want about %v", waited, lockTimeout)
	}
	// The first handle is unaffected, and the lock is released by Close.
	if ok, err := first.Get(BucketNodes, "a", nil); !ok || err != nil {
		t.Fatalf("first handle after failed Open: %v %v", ok, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, path)
}

func assertCorrupt(t *testing.T, path string, before []byte) {
	t.Helper()
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a damaged store succeeded")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "store "+path+" is corrupt or not a CastRay store: ") ||
		!strings.HasSuffix(msg, "; move it aside to start fresh") {
		t.Fatalf("unexpected message: %q", msg)
	}
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("Open modified the damaged file (%d bytes before, %d after)", len(before), len(after))
	}
	// The lock must have been released even though Open failed.
	f, ferr := os.OpenFile(path, os.O_RDWR, 0)
	if ferr != nil {
		t.Fatal(ferr)
	}
	defer f.Close()
	if err := flockTry(f); err != nil {
		t.Fatalf("file still locked after failed Open: %v (open error was %v)", err, msg)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageFile(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, size := range []int{1, 100, 2047, 4096, 8192, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "castray.db")
			data := make([]byte, size)
			rng.Read(data)
			writeFile(t, path, data)
			assertCorrupt(t, path, data)
		})
	}
	t.Run("text", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "castray.db")
		data := bytes.Repeat([]byte(`{"this is":"json, not bbolt"}`+"\n"), 1000)
		writeFile(t, path, data)
		assertCorrupt(t, path, data)
	})
}

// populated makes a real store big enough to span many pages and returns
// its bytes.
func populated(t *testing.T, path string) []byte {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		v := rec{ID: fmt.Sprintf("node-%05d", i), N: i, Tags: map[string]string{"pad": strings.Repeat("x", 200)}}
		if err := s.Put([]string{BucketNodes, BucketTransfers}[i%2], v.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	// One value spanning several overflow pages.
	if err := s.Put(BucketClusters, "big", strings.Repeat("y", 40<<10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTruncatedStore(t *testing.T) {
	dir := t.TempDir()
	full := populated(t, filepath.Join(dir, "full.db"))
	if len(full) < 256<<10 {
		t.Fatalf("populated store is only %d bytes", len(full))
	}
	// Only cuts inside the pages the metadata says are in use are damage;
	// bbolt grows files ahead of use, and cutting that slack loses nothing.
	used := func() int64 {
		s := openT(t, filepath.Join(dir, "full.db"))
		var n int64
		s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
		s.Close()
		return n
	}()
	for _, size := range []int64{3000, 4096, 2 * 4096, 3 * 4096, 4*4096 + 100, 32 << 10, used / 2, used - 4096, used - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "castray.db")
			writeFile(t, path, full[:size])
			assertCorrupt(t, path, full[:size])
		})
	}
}

// Damaged pages in the middle of a real store must give ErrCorrupt (or, if
// the damage happens to be harmless, a store that works), never a crash.
func TestDamagedPagesNeverCrash(t *testing.T) {
	dir := t.TempDir()
	full := populated(t, filepath.Join(dir, "full.db"))
	const page = 4096
	rng := rand.New(rand.NewSource(2))
	corrupt, ok := 0, 0
	// Every page would take long under -race; a stride that is prime to
	// the three fills covers meta pages, branches, leaves, overflow and
	// free pages with each kind of damage.
	fills := []string{"random", "zero", "ones"}
	for pg := 0; pg*page < len(full); pg += map[bool]int{true: 1, false: 7}[pg < 8] {
		for _, fill := range fills[pg%3 : pg%3+1] {
			data := bytes.Clone(full)
			p := data[pg*page : (pg+1)*page]
			switch fill {
			case "random":
				rng.Read(p)
			case "zero":
				clear(p)
			case "ones":
				for i := range p {
					p[i] = 0xff
				}
			}
			path := filepath.Join(dir, fmt.Sprintf("p%d-%s.db", pg, fill))
			writeFile(t, path, data)
			s, err := Open(path)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("page %d %s: err = %v, want ErrCorrupt", pg, fill, err)
				}
				if testing.Verbose() {
					t.Logf("page %d %s: %v", pg, fill, err)
				}
				corrupt++
				continue
			}
			// Opened (e.g. a free page, or one meta page damaged and the
			// other one used): the store must then be usable.
			if err := s.List(BucketNodes, func(string, []byte) error { return nil }); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("page %d %s: List: %v", pg, fill, err)
			}
			if err := s.Put(BucketNodes, "new", 1); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("page %d %s: Put: %v", pg, fill, err)
			}
			s.Close()
			ok++
		}
	}
	t.Logf("%d damaged variants refused as corrupt, %d opened", corrupt, ok)
	if corrupt == 0 {
		t.Fatal("no damaged variant was detected")
	}
}

func TestZeroLengthFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "castray.db")
	writeFile(t, path, nil)
	s := openT(t, path)
	if err := s.Put(BucketNodes, "a", 1); err != nil {
		t.Fatal(err)
	}
}

func TestForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "castray.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("someone-else"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	assertCorrupt(t, path, before)
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "castray.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketMeta)).Put([]byte(schemaKey), []byte(fmt.Sprint(SchemaVersion+1)))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	_, err = Open(path)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", SchemaVersion+1)) ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("message lacks context: %q", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("Open modified a newer store")
	}
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("Open(dir) = %v", err)
	}
}
