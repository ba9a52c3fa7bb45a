package registry

import (
	"errors"
	"testing"
)

// slowStore is a Persister whose Put and Delete wait for release after
// saying they started: a disk in the middle of an fsync.
type slowStore struct {
	*fakeStore
	started chan string
	release chan struct{}
}

func (s *slowStore) Put(bucket, key string, v any) error {
	s.started <- "put " + key
	<-s.release
	return s.fakeStore.Put(bucket, key, v)
}

func (s *slowStore) Delete(bucket, key string) error {
	s.started <- "delete " + key
	<-s.release
	return s.fakeStore.Delete(bucket, key)
}

// Saving a local node holds no lock that readers or other nodes' changes
// need; two changes of one node still happen one after the other. (Under
// the old code the reads below waited for the save: the test hung.)
func TestSavingANodeBlocksNoReader(t *testing.T) {
	s := &slowStore{fakeStore: newFake(), started: make(chan string), release: make(chan struct{})}
	r := New(s, nil)
	root := t.TempDir()

	added := make(chan error, 1)
	go func() { _, err := r.AddLocal("a", 0, root); added <- err }()
	if got := <-s.started; got != "put a" {
		t.Fatalf("started %q", got)
	}
	// While a's save is in flight: reads answer, and b is added.
	if _, ok := r.Get("a"); ok {
		t.Error("a is listed before it is saved")
	}
	if n := len(r.List(Filter{})); n != 0 {
		t.Errorf("%d nodes listed, want 0", n)
	}
	addedB := make(chan error, 1)
	go func() { _, err := r.AddLocal("b", 0, root); addedB <- err }()
	if got := <-s.started; got != "put b" {
		t.Fatalf("started %q", got)
	}
	// A second add of a waits for the first and then finds it there.
	again := make(chan error, 1)
	go func() { _, err := r.AddLocal("a", 0, root); again <- err }()
	s.release <- struct{}{}
	s.release <- struct{}{}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if err := <-addedB; err != nil {
		t.Fatal(err)
	}
	if err := <-again; !errors.Is(err, ErrExists) {
		t.Fatalf("second add of a: %v, want ErrExists", err)
	}

	// A state change and a removal of one node are not interleaved: the
	// saved record ends removed.
	changed := make(chan error, 1)
	go func() { _, err := r.SetState("a", StateInactive); changed <- err }()
	if got := <-s.started; got != "put a" {
		t.Fatalf("started %q", got)
	}
	removed := make(chan error, 1)
	go func() { _, err := r.Remove("a"); removed <- err }()
	if n := len(r.List(Filter{})); n != 2 {
		t.Errorf("%d nodes listed during the save, want 2", n)
	}
	s.release <- struct{}{}
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
	if got := <-s.started; got != "delete a" {
		t.Fatalf("started %q", got)
	}
	s.release <- struct{}{}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if _, ok := s.data[Bucket]["a"]; ok {
		t.Error("a's record is still saved after its removal")
	}
	if _, ok := r.Get("a"); ok {
		t.Error("a is still listed after its removal")
	}
}
