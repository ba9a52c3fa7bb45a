package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Concurrent writes share transactions: every Put and Delete is in the
// store when it returns, and a write that fails (a key longer than bbolt
// takes) fails alone — the writes that shared its transaction are kept.
// (The wait for the queue polls; it bounds nothing.)
func TestConcurrentWritesEachCommittedAndAnswered(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "castray.db"))
	const n = 200
	for i := range n {
		if i%2 == 1 { // odd keys exist before, to be deleted
			if err := s.Put(BucketNodes, fmt.Sprintf("k%03d", i), rec{ID: "old"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tooLong := strings.Repeat("k", 40000) // bbolt's MaxKeySize is 32768
	errs := make([]error, n+1)
	// Hold bbolt's writer lock while the writes queue, so that all but the
	// first (which takes what is queued and waits on the lock) share one
	// transaction, the bad write among them.
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.db.Update(func(*bolt.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	var wg sync.WaitGroup
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case i == n:
				errs[i] = s.Put(BucketNodes, tooLong, rec{ID: "bad"})
			case i%2 == 0:
				errs[i] = s.Put(BucketNodes, fmt.Sprintf("k%03d", i), rec{ID: "new", N: i})
				if errs[i] == nil { // committed when Put returned
					var r rec
					if ok, err := s.Get(BucketNodes, fmt.Sprintf("k%03d", i), &r); !ok || err != nil || r.N != i {
						errs[i] = fmt.Errorf("after Put: %v %v %+v", ok, err, r)
					}
				}
			default:
				errs[i] = s.Delete(BucketNodes, fmt.Sprintf("k%03d", i))
			}
		}()
	}
	for queued := 0; queued < n; time.Sleep(time.Millisecond) {
		s.wmu.Lock()
		queued = len(s.wq)
		s.wmu.Unlock()
	}
	close(release)
	wg.Wait()
	if errs[n] == nil || !strings.Contains(errs[n].Error(), "key too large") {
		t.Fatalf("Put with a %d-byte key: %v, want key too large", len(tooLong), errs[n])
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
	}
	got := map[string]bool{}
	if err := s.List(BucketNodes, func(k string, _ []byte) error { got[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		if want := i%2 == 0; got[k] != want {
			t.Fatalf("%s present %v, want %v", k, got[k], want)
		}
	}
	if len(got) != n/2 {
		t.Fatalf("%d keys, want %d", len(got), n/2)
	}
}
