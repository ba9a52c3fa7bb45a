package selector

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/castray/castray/host/registry"
)

func node(id string, kind registry.Kind, state registry.State, mods ...func(*registry.Node)) registry.Node {
	n := registry.Node{ID: id, Kind: kind, State: state}
	for _, m := range mods {
		m(&n)
	}
	return n
}

func res(total, avail map[string]float64) func(*registry.Node) {
	return func(n *registry.Node) { n.Resources, n.Available = total, avail }
}

func labels(l map[string]string) func(*registry.Node) {
	return func(n *registry.Node) { n.Labels = l }
}

func cluster(c string) func(*registry.Node) { return func(n *registry.Node) { n.ClusterID = c } }

func TestDecode(t *testing.T) {
	s, err := Decode([]byte(`{"cluster":"c1","kind":"ray-node","state":"active","labels":{"zone":"a"},"resources":{"GPU":1},"available":{"CPU":2.5}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Selector{Cluster: "c1", Kind: registry.KindRayNode, State: registry.StateActive,
		Labels: map[string]string{"zone": "a"}, Resources: map[string]float64{"GPU": 1}, Available: map[string]float64{"CPU": 2.5}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if s, err := Decode([]byte(` {} `)); err != nil || !s.IsZero() {
		t.Fatalf("{}: %+v, %v; want the empty selector", s, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		in, field, msg string
	}{
		{`{"zone":"a","kinds":"x","kind":"local"}`, "selector", `unknown keys "kinds", "zone"`},
		{`{"gpu":1}`, "selector", `unknown key "gpu"`},
		{`{"kind":"gpu"}`, "selector.kind", `"gpu" is not a node kind`},
		{`{"kind":1}`, "selector.kind", "must be a string"},
		{`{"state":"running"}`, "selector.state", `"running" is not a node state`},
		{`{"labels":{"zone":1}}`, "selector.labels", "object of strings"},
		{`{"labels":{"":"a"}}`, "selector.labels", "label name is empty"},
		{`{"resources":{"GPU":-1}}`, "selector.resources.GPU", "at least 0, got -1"},
		{`{"available":{"CPU":"2"}}`, "selector.available", "object of numbers"},
		{`{"available":{"":2}}`, "selector.available", "resource name is empty"},
		{`[]`, "selector", "must be a JSON object"},
		{`null`, "selector", "must be a JSON object"},
		{``, "selector", "must be a JSON object"},
		{`{"kind":"local"} {}`, "selector", "trailing data"},
		{`{"kind":`, "selector", "invalid JSON"},
	} {
		_, err := Decode([]byte(tc.in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("Decode(%s) = %v; want a FieldError on %s saying %q", tc.in, err, tc.field, tc.msg)
		}
	}
	if _, err := DecodeAt("group.selector", []byte(`{"x":1}`)); err == nil || !strings.HasPrefix(err.Error(), `group.selector: unknown key "x"`) {
		t.Errorf("DecodeAt: %v", err)
	}
}

func TestDecodePick(t *testing.T) {
	p, err := DecodePick([]byte(`{"count":2,"rule":"most-available"}`))
	if err != nil || p != (Pick{Count: 2, Rule: RuleMostAvailable}) {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, tc := range []struct{ in, field, msg string }{
		{`{}`, "pick.count", "is required"},
		{`{"count":0}`, "pick.count", "at least 1, got 0"},
		{`{"count":1.5}`, "pick.count", "whole number"},
		{`{"count":1,"rule":"random"}`, "pick.rule", `"random" is not a rule`},
		{`{"count":1,"order":"x"}`, "pick", `unknown key "order"`},
	} {
		_, err := DecodePick([]byte(tc.in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("DecodePick(%s) = %v; want a FieldError on %s saying %q", tc.in, err, tc.field, tc.msg)
		}
	}
}

func TestMatchAndSelect(t *testing.T) {
	nodes := []registry.Node{
		node("z-gpu", registry.KindRayNode, registry.StateActive, cluster("c1"),
			res(map[string]float64{"GPU": 2, "CPU": 8}, map[string]float64{"GPU": 1, "CPU": 4}), labels(map[string]string{"zone": "a"})),
		node("a-cpu", registry.KindRayNode, registry.StateActive, cluster("c1"),
			res(map[string]float64{"CPU": 8}, map[string]float64{"CPU": 8}), labels(map[string]string{"zone": "a"})),
		node("m-other", registry.KindRayNode, registry.StateDead, cluster("c2"),
			res(map[string]float64{"GPU": 4}, map[string]float64{"GPU": 4}), labels(map[string]string{"zone": "b"})),
		node("local1", registry.KindLocal, registry.StateActive),
	}
	ids := func(ns []registry.Node) string {
		var s []string
		for _, n := range ns {
			s = append(s, n.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		sel  Selector
		want string
	}{
		{Selector{}, "a-cpu,local1,m-other,z-gpu"},
		{Selector{Cluster: "c1"}, "a-cpu,z-gpu"},
		{Selector{Kind: registry.KindLocal}, "local1"},
		{Selector{State: registry.StateDead}, "m-other"},
		{Selector{Labels: map[string]string{"zone": "a"}}, "a-cpu,z-gpu"},
		{Selector{Labels: map[string]string{"zone": "a", "rack": "1"}}, ""},
		{Selector{Resources: map[string]float64{"GPU": 1}}, "m-other,z-gpu"},
		{Selector{Resources: map[string]float64{"GPU": 3}}, "m-other"},
		{Selector{Available: map[string]float64{"GPU": 1}, State: registry.StateActive}, "z-gpu"},
		{Selector{Available: map[string]float64{"CPU": 5}}, "a-cpu"},
		{Selector{Resources: map[string]float64{"GPU": 0}}, "a-cpu,local1,m-other,z-gpu"},
	} {
		if got := ids(tc.sel.Select(nodes)); got != tc.want {
			t.Errorf("Select(%s) = %q, want %q", tc.sel, got, tc.want)
		}
	}
	if got := (Selector{}).Select(nil); got == nil || len(got) != 0 {
		t.Errorf("Select(nil) = %#v, want an empty non-nil slice", got)
	}
}

// fleet is four active CPU nodes and one inactive one.
func fleet() []registry.Node {
	cpu := func(total, avail float64) func(*registry.Node) {
		return res(map[string]float64{"CPU": total}, map[string]float64{"CPU": avail})
	}
	return []registry.Node{
		node("n1", registry.KindLocal, registry.StateActive, cpu(4, 3)),
		node("n2", registry.KindLocal, registry.StateActive, cpu(4, 1)),
		node("n3", registry.KindLocal, registry.StateActive, cpu(8, 4)),
		node("n4", registry.KindLocal, registry.StateActive, cpu(4, 3)),
		node("n5", registry.KindLocal, registry.StateInactive, cpu(16, 16)),
	}
}

func activeOf(m map[string]int) func(string) int { return func(id string) int { return m[id] } }

func chosen(cs []Choice) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.NodeID)
	}
	return strings.Join(s, ",")
}

func TestChooseLeastLoaded(t *testing.T) {
	active := activeOf(map[string]int{"n1": 1, "n2": 0, "n3": 2, "n4": 1})
	cs, err := Choose(fleet(), Selector{}, Pick{Count: 3}, active)
	if err != nil {
		t.Fatal(err)
	}
	// n2 has no transfer; n1 and n4 tie on transfers and CPU, so the id
	// decides; n3 (2 transfers) and the inactive n5 are left out.
	if got := chosen(cs); got != "n2,n1,n4" {
		t.Fatalf("chose %s, want n2,n1,n4", got)
	}
	if c := cs[0]; c.Rank != 1 || c.ActiveTransfers != 0 || c.Available != 1 || !reflect.DeepEqual(c.ScoreResources, []string{"CPU"}) {
		t.Errorf("first choice %+v", c)
	}
	for i, want := range []string{
		"0 active transfers, 2 fewer than n3 (not chosen); CPU available 1 of 4",
		"1 active transfer, 1 fewer than n3 (not chosen); CPU available 3 of 4",
		"1 active transfer, 1 fewer than n3 (not chosen); CPU available 3 of 4",
	} {
		if cs[i].Reason != want {
			t.Errorf("reason %d: %q, want %q", i, cs[i].Reason, want)
		}
	}

	// Equal load: availability decides, and the reason says so.
	cs, err = Choose(fleet(), Selector{}, Pick{Count: 1}, activeOf(map[string]int{"n3": 1, "n1": 1, "n2": 1, "n4": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if chosen(cs) != "n3" || cs[0].Reason != "1 active transfer, as many as n1 (not chosen); CPU available 4 of 8, more than the 3 available on n1 (not chosen)" {
		t.Errorf("got %s: %q", chosen(cs), cs[0].Reason)
	}
}

func TestChooseMostAvailable(t *testing.T) {
	active := activeOf(map[string]int{"n1": 1, "n2": 0, "n3": 2, "n4": 0})
	cs, err := Choose(fleet(), Selector{}, Pick{Count: 2, Rule: RuleMostAvailable}, active)
	if err != nil {
		t.Fatal(err)
	}
	// n3 has most CPU; n1 and n4 tie on CPU and n4 has fewer transfers.
	if got := chosen(cs); got != "n3,n4" {
		t.Fatalf("chose %s, want n3,n4", got)
	}
	if want := "CPU available 4 of 8, more than the 3 available on n1 (not chosen); 2 active transfers"; cs[0].Reason != want {
		t.Errorf("reason 0: %q, want %q", cs[0].Reason, want)
	}
	if want := "CPU available 3 of 4, as much as n1 (not chosen); 0 active transfers, 1 fewer than n1 (not chosen)"; cs[1].Reason != want {
		t.Errorf("reason 1: %q, want %q", cs[1].Reason, want)
	}
}

func TestChooseScoresNamedResources(t *testing.T) {
	nodes := []registry.Node{
		node("a", registry.KindRayNode, registry.StateActive,
			res(map[string]float64{"GPU": 2, "CPU": 64}, map[string]float64{"GPU": 1, "CPU": 64})),
		node("b", registry.KindRayNode, registry.StateActive,
			res(map[string]float64{"GPU": 4, "CPU": 8}, map[string]float64{"GPU": 3, "CPU": 1})),
		node("c", registry.KindRayNode, registry.StateActive, res(map[string]float64{"CPU": 128}, map[string]float64{"CPU": 128})),
	}
	// The selector names GPU: GPU availability ranks, not CPU, and c (no GPU) does not match.
	sel := Selector{Resources: map[string]float64{"GPU": 1}}
	cs, err := Choose(nodes, sel, Pick{Count: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if chosen(cs) != "b" || cs[0].Available != 3 || !reflect.DeepEqual(cs[0].ScoreResources, []string{"GPU"}) {
		t.Fatalf("got %+v", cs)
	}
	if want := "0 active transfers, as many as a (not chosen); GPU available 3 of 4, more than the 1 available on a (not chosen)"; cs[0].Reason != want {
		t.Errorf("reason %q, want %q", cs[0].Reason, want)
	}
	// Every eligible node needed.
	cs, err = Choose(nodes, sel, Pick{Count: 2}, nil)
	if err != nil || chosen(cs) != "b,a" || !strings.Contains(cs[1].Reason, "every one of the 2 matching active nodes was needed") {
		t.Fatalf("got %+v, %v", cs, err)
	}
}

func TestChooseErrors(t *testing.T) {
	_, err := Choose(fleet(), Selector{}, Pick{Count: 5}, nil)
	if !errors.Is(err, ErrNotEnough) || !strings.Contains(err.Error(), "count 5, but only 4 of the 5 nodes matching every node are active") {
		t.Errorf("count beyond the active nodes: %v", err)
	}
	var fe *FieldError
	if _, err := Choose(fleet(), Selector{}, Pick{Count: 0}, nil); !errors.As(err, &fe) || fe.Field != "pick.count" {
		t.Errorf("count 0: %v", err)
	}
	if _, err := Choose(fleet(), Selector{Kind: "gpu"}, Pick{Count: 1}, nil); !errors.As(err, &fe) || fe.Field != "selector.kind" {
		t.Errorf("bad kind: %v", err)
	}
	dup := append(fleet(), fleet()[0])
	if _, err := Choose(dup, Selector{}, Pick{Count: 1}, nil); err == nil || !strings.Contains(err.Error(), `"n1" is repeated`) {
		t.Errorf("repeated id: %v", err)
	}
}

// TestChooseOrderIndependent is a property test: for random fleets,
// selectors, picks and loads, Choose gives the same answer for every order
// of the same nodes, and what it chooses is ranked as its rule says.
func TestChooseOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []registry.Kind{registry.KindLocal, registry.KindRayNode}
	states := []registry.State{registry.StateActive, registry.StateActive, registry.StateInactive}
	for iter := 0; iter < 500; iter++ {
		n := 1 + rng.IntN(12)
		nodes := make([]registry.Node, n)
		load := map[string]int{}
		for i := range nodes {
			id := fmt.Sprintf("n%02d", rng.IntN(100)*100+i) // unique, random order of ids
			total := map[string]float64{"CPU": float64(1 + rng.IntN(4)), "GPU": float64(rng.IntN(3))}
			avail := map[string]float64{"CPU": float64(rng.IntN(int(total["CPU"]) + 1)), "GPU": float64(rng.IntN(int(total["GPU"]) + 1))}
			nodes[i] = node(id, kinds[rng.IntN(2)], states[rng.IntN(3)], res(total, avail),
				labels(map[string]string{"zone": []string{"a", "b"}[rng.IntN(2)]}))
			load[id] = rng.IntN(3)
		}
		var sel Selector
		if rng.IntN(2) == 0 {
			sel.Labels = map[string]string{"zone": "a"}
		}
		if rng.IntN(2) == 0 {
			sel.Resources = map[string]float64{"GPU": 1}
		}
		pick := Pick{Count: 1 + rng.IntN(3), Rule: Rules[rng.IntN(2)]}
		want, wantErr := Choose(nodes, sel, pick, activeOf(load))
		for range 5 {
			shuffled := append([]registry.Node(nil), nodes...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got, err := Choose(shuffled, sel, pick, activeOf(load))
			if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("iteration %d: order changed the choice:\n  %v %v\n  %v %v", iter, want, wantErr, got, err)
			}
		}
		if wantErr != nil {
			if !errors.Is(wantErr, ErrNotEnough) {
				t.Fatalf("iteration %d: %v", iter, wantErr)
			}
			continue
		}
		// What was chosen is no worse than anything left out.
		picked := map[string]bool{}
		for _, c := range want {
			picked[c.NodeID] = true
		}
		last := want[len(want)-1]
		for _, nd := range nodes {
			if picked[nd.ID] || !sel.Match(nd) || nd.State != registry.StateActive {
				continue
			}
			var score float64
			for _, k := range sel.ScoreResources() {
				score += nd.Available[k]
			}
			lc := candidate{node: registry.Node{ID: last.NodeID}, active: last.ActiveTransfers, score: last.Available}
			oc := candidate{node: nd, active: load[nd.ID], score: score}
			if less(pick.rule(), &oc, &lc) {
				t.Fatalf("iteration %d: %s left out but ranks before the chosen %s", iter, nd.ID, last.NodeID)
			}
		}
	}
}
