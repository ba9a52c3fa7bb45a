package connector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

// OnSync hears of every sync, the first one at Connect included, with the
// connection's id and the sync's error.
func TestOnSyncHearsSyncsAndFailures(t *testing.T) {
	f := &fakeCluster{info: ray.ClusterInfo{SessionName: "s"}, nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}}
	var mu sync.Mutex
	ok, failed := map[string]int{}, map[string]int{}
	reg := registry.New(nil, nil)
	c := New(Options{Registry: reg, Dialer: fakeDialer{"g:6379": f}, SyncInterval: 20 * time.Millisecond,
		Timeout: time.Second, BackoffMax: 50 * time.Millisecond,
		OnSync: func(cluster string, _ time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[cluster]++
			} else {
				ok[cluster]++
			}
		}})
	t.Cleanup(c.Shutdown)
	st, _, err := c.Connect(context.Background(), "g:6379")
	if err != nil {
		t.Fatal(err)
	}
	count := func(m map[string]int) int { mu.Lock(); defer mu.Unlock(); return m[st.ID] }
	if count(ok) < 1 {
		t.Fatal("the first sync was not reported")
	}
	waitFor(t, "a second sync", func() bool { return count(ok) >= 2 })
	f.set(func(f *fakeCluster) { f.down = true })
	waitFor(t, "a failed sync", func() bool { return count(failed) >= 1 })
}
