package messages

import (
	"fmt"
	"sync"
	"testing"
)

// gatedStore holds each Put until the test lets it through, in an order
// the test chooses.
type gatedStore struct {
	Store
	mu    sync.Mutex
	gates map[string]chan struct{} // by key
	in    chan string              // a Put arrived
}

func (g *gatedStore) Put(bucket, key string, v any) error {
	g.mu.Lock()
	gate := make(chan struct{})
	g.gates[key] = gate
	g.mu.Unlock()
	g.in <- key
	<-gate
	return g.Store.Put(bucket, key, v)
}

func (g *gatedStore) open(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gates[key])
}

// Records saving at the same time do not wait for each other, and
// whatever order their saves finish in, each node lists its messages in
// the order they were recorded (Recent: newest first) and keeps the
// newest MaxPerNode.
func TestConcurrentRecordsKeepTheirOrder(t *testing.T) {
	g := &gatedStore{Store: openStore(t), gates: map[string]chan struct{}{}, in: make(chan string)}
	l := New(Options{Store: g, MaxPerNode: 3})
	const n = 4
	var wg sync.WaitGroup
	keys := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Record(text(fmt.Sprintf("m%d", i), "x"), []string{"a"}, ""); err != nil {
				t.Error(err)
			}
		}()
		keys[i] = <-g.in // the next Record starts while this one's save waits
	}
	for i := n - 1; i >= 0; i-- { // saves finish newest first
		g.open(keys[i])
	}
	wg.Wait()
	got, err := l.Recent("a", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.Message.ID)
	}
	// Record i took its seq (keys[i]) before Record i+1 started.
	want := []string{"m3", "m2", "m1"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("Recent(a) = %v, want %v (newest first, 3 kept)", ids, want)
	}
}
