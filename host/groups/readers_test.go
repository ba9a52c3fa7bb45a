package groups

import (
	"testing"
)

// heldStore holds each Put until release is closed.
type heldStore struct {
	Store
	in      chan struct{}
	release chan struct{}
}

func (h *heldStore) Put(b, k string, v any) error {
	h.in <- struct{}{}
	<-h.release
	return h.Store.Put(b, k, v)
}

// Reading the groups does not wait for a change being saved (a loaded
// daemon's commits made every GET /api/groups queue behind them), and the
// change is seen once its save is done.
func TestReadersDoNotWaitForASave(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Create("g1", []string{"n1"}, nil); err != nil {
		t.Fatal(err)
	}
	h := &heldStore{Store: e.st, in: make(chan struct{}), release: make(chan struct{})}
	e.s.st = h
	created := make(chan error, 1)
	go func() {
		_, err := e.s.Create("g2", []string{"n2"}, nil)
		created <- err
	}()
	<-h.in // g2's save has started and waits
	// With the save holding the lock readers take, these never return.
	if got := e.s.List(); len(got) != 1 || got[0].Name != "g1" {
		t.Fatalf("List during the save = %+v, want g1 only", got)
	}
	if _, err := e.s.Get("g1"); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if got := e.s.List(); len(got) != 2 {
		t.Fatalf("List after the save = %+v, want g1 and g2", got)
	}
}
