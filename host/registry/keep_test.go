package registry

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// SyncClusterKeep, keeping the kinds whose nodes did not change since the
// previous sync, gives the same registry, the same events in the same
// order and the same stats as SyncCluster handed the whole set: checked
// over random sequences of node and actor changes.
func TestSyncClusterKeepAsSyncCluster(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var evFull, evKeep recorder
	full, keep := New(nil, evFull.emit), New(nil, evKeep.emit)
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	full.now = func() time.Time { return clock }
	keep.now = func() time.Time { return clock }

	mk := func(kind Kind, i, version int) Node {
		n := Node{ID: fmt.Sprintf("%s-%d", kind, i), Kind: kind, State: StateActive, Address: "10.0.0.1",
			Resources: map[string]float64{"CPU": float64(version % 3)}, Labels: map[string]string{"v": fmt.Sprint(version % 2)}, LastSeen: clock}
		if version%5 == 4 {
			n.State = StateDead
		}
		return n
	}
	// The cluster: per kind, which members exist and at which version.
	tables := map[Kind]map[int]int{KindRayNode: {}, KindRayActor: {}}
	build := func(kind Kind) []Node {
		var out []Node
		for i := 0; i < 40; i++ {
			if v, ok := tables[kind][i]; ok {
				out = append(out, mk(kind, i, v))
			}
		}
		return out
	}
	for round := 0; round < 300; round++ {
		clock = clock.Add(time.Second)
		changed := map[Kind]bool{}
		for _, kind := range []Kind{KindRayNode, KindRayActor} {
			if round == 0 || rng.IntN(3) == 0 {
				changed[kind] = true
				for j := rng.IntN(4); j >= 0; j-- {
					i := rng.IntN(40)
					switch rng.IntN(3) {
					case 0:
						delete(tables[kind], i)
					default:
						tables[kind][i]++
					}
				}
			}
		}
		all := append(build(KindRayNode), build(KindRayActor)...)
		stFull := full.SyncCluster("c", all)
		var part []Node
		var kept []Kind
		for _, kind := range []Kind{KindRayNode, KindRayActor} {
			if changed[kind] {
				part = append(part, build(kind)...)
			} else {
				kept = append(kept, kind)
			}
		}
		stKeep := keep.SyncClusterKeep("c", part, kept, clock)
		if stFull != stKeep {
			t.Fatalf("round %d (kept %v): stats %v, SyncCluster's %v", round, kept, stKeep, stFull)
		}
		if a, b := evKeep.take(), evFull.take(); !reflect.DeepEqual(a, b) {
			t.Fatalf("round %d (kept %v): events\n%v\nSyncCluster's\n%v", round, kept, a, b)
		}
		if a, b := keep.List(Filter{}), full.List(Filter{}); !reflect.DeepEqual(a, b) {
			t.Fatalf("round %d (kept %v): registry\n%v\nSyncCluster's\n%v", round, kept, a, b)
		}
	}
}

// SyncClusterKeep hands the nodes' maps on to its events (the registry
// keeps its own packed copy), and a kept kind's nodes are seen again
// without an event.
func TestSyncClusterKeepMaps(t *testing.T) {
	var ev recorder
	r := New(nil, ev.emit)
	in := []Node{{ID: "n", Resources: map[string]float64{"CPU": 1}}, {ID: "a", Kind: KindRayActor}}
	r.SyncClusterKeep("c", in, nil, time.Time{})
	evs := ev.take()
	if len(evs) != 2 {
		t.Fatalf("events %v", evs)
	}
	if !oneMap(evs[0].Node.Resources, in[0].Resources) {
		t.Fatal("the event does not carry the map handed over")
	}
	in[0].Resources["CPU"] = 7 // (which the caller must not do)
	if n, _ := r.Get("n"); n.Resources["CPU"] != 1 {
		t.Fatalf("the registry keeps the map handed over: %v", n.Resources)
	}
	seen := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := r.SyncClusterKeep("c", nil, []Kind{KindRayNode, KindRayActor}, seen)
	if st != (SyncStats{Unchanged: 2}) || len(ev.take()) != 0 {
		t.Fatalf("all kept: %v", st)
	}
	if n, _ := r.Get("a"); !n.LastSeen.Equal(seen) {
		t.Fatalf("kept node last seen %v", n.LastSeen)
	}
	// Keeping the nodes and dropping every actor removes the actor only.
	st = r.SyncClusterKeep("c", nil, []Kind{KindRayNode}, seen)
	if st != (SyncStats{Unchanged: 1, Removed: 1}) || ev.summary() != "node_removed:a" {
		t.Fatalf("actors gone: %v", st)
	}
}

// oneMap reports whether a and b are one map (not two equal ones).
func oneMap[K comparable, V any](a, b map[K]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
