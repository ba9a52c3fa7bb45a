package registry

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
)

// A node's maps come out of the registry as they went in (nil for none),
// and same tells exactly whether a node's maps hold what is packed.
func TestPackedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randNums := func() map[string]float64 {
		n := rng.IntN(12)
		if n == 0 {
			return nil
		}
		m := map[string]float64{}
		for range n {
			m["r"+strconv.Itoa(rng.IntN(20))] = float64(rng.IntN(4))
		}
		return m
	}
	for i := range 2000 {
		n := Node{Resources: randNums(), Available: randNums()}
		if k := rng.IntN(4); k > 0 {
			n.Labels = map[string]string{}
			for j := range k {
				n.Labels["l"+strconv.Itoa(j)] = strconv.Itoa(rng.IntN(3))
			}
		}
		p := pack(&n)
		var out Node
		p.unpack(&out)
		if !maps.Equal(out.Resources, n.Resources) || !maps.Equal(out.Available, n.Available) || !maps.Equal(out.Labels, n.Labels) {
			t.Fatalf("case %d: %+v came out as %+v", i, n, out)
		}
		if !p.same(&n) || !p.same(&out) {
			t.Fatalf("case %d: not the same as itself: %+v", i, n)
		}
		other := Node{Resources: randNums(), Available: n.Available, Labels: n.Labels}
		if p.same(&other) != maps.Equal(other.Resources, n.Resources) {
			t.Fatalf("case %d: same(%v) with %v packed", i, other.Resources, n.Resources)
		}
	}
	// An empty map is no map.
	p := pack(&Node{Resources: map[string]float64{}, Labels: map[string]string{}})
	if !p.same(&Node{}) || p.resources != nil || p.labels != nil {
		t.Fatalf("empty maps packed as %+v", p)
	}
}
