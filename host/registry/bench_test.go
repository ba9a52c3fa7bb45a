package registry

import (
	"fmt"
	"testing"
)

func benchNodes(n int) []Node {
	ns := make([]Node, n)
	for i := range ns {
		ns[i] = Node{
			ID:        fmt.Sprintf("%056x", i), // Ray node ids are 56 hex digits
			Kind:      KindRayNode,
			State:     StateActive,
			Address:   fmt.Sprintf("10.0.%d.%d", i/256, i%256),
			Hostname:  fmt.Sprintf("host-%d", i),
			Resources: map[string]float64{"CPU": 8, "memory": 32e9, "object_store_memory": 8e9},
			Available: map[string]float64{"CPU": 8, "memory": 32e9, "object_store_memory": 8e9},
			Labels:    map[string]string{"ray.io/node-id": fmt.Sprint(i)},
		}
	}
	return ns
}

// BenchmarkSyncCluster10kNoChange: the steady state of a big cluster, a full
// node list every poll and nothing changed. Expect zero events and no
// per-node allocations.
func BenchmarkSyncCluster10kNoChange(b *testing.B) {
	events := 0
	r := New(nil, func(string, any) { events++ })
	ns := benchNodes(10000)
	r.SyncCluster("c", ns)
	events = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.SyncCluster("c", ns)
	}
	b.StopTimer()
	if events != 0 {
		b.Fatalf("%d events for syncs with no change", events)
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkSyncCluster10k1pctChanged: 1% of the nodes change their
// available resources each poll (100 node_updated events per sync).
func BenchmarkSyncCluster10k1pctChanged(b *testing.B) {
	events := 0
	r := New(nil, func(string, any) { events++ })
	ns := benchNodes(10000)
	r.SyncCluster("c", ns)
	// Two alternating Available maps per changing node, built outside the
	// timer: the changes come from the caller, what is measured is the
	// registry's diff and its copies.
	const changed = 100
	alt := make([][2]map[string]float64, changed)
	for j := range alt {
		alt[j][0] = ns[j*100].Available
		alt[j][1] = map[string]float64{"CPU": 7, "memory": 32e9, "object_store_memory": 8e9}
	}
	events = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range alt {
			ns[j*100].Available = alt[j][(i+1)%2]
		}
		r.SyncCluster("c", ns)
	}
	b.StopTimer()
	if events != changed*b.N {
		b.Fatalf("%d events for %d syncs, want %d each", events, b.N, changed)
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
