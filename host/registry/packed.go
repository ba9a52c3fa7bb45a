package registry

import (
	"cmp"
	"slices"
)

// Entry is one entry of a node's map (Resources, Available, Labels) as
// the registry keeps it.
type Entry[V comparable] struct {
	Name  string
	Value V
}

// Quantity is one of a node's resources (Resources or Available) as Visit
// shows it.
type Quantity = Entry[float64]

// packed is how the registry keeps a node's maps: as slices sorted by key.
// A Go map of up to eight entries takes about 250–340 bytes whatever it
// holds; a Ray node's five resources take 120 bytes as a slice and its one
// label 32, which is most of the difference between 100,000 nodes in
// 200 MiB or not (docs/reliability.md).
type packed struct {
	resources, available []Quantity
	labels               []Entry[string]
}

func pack(n *Node) packed {
	return packed{resources: packMap(n.Resources), available: packMap(n.Available), labels: packMap(n.Labels)}
}

// unpack sets n's maps from p (nil for none).
func (p *packed) unpack(n *Node) {
	n.Resources, n.Available, n.Labels = unpackMap(p.resources), unpackMap(p.available), unpackMap(p.labels)
}

// same reports whether n's maps hold what p holds (a nil map and an empty
// one are the same).
func (p *packed) same(n *Node) bool {
	return sameMap(n.Resources, p.resources) && sameMap(n.Available, p.available) && sameMap(n.Labels, p.labels)
}

// packMap is m's entries sorted by name; nil for none.
func packMap[V comparable](m map[string]V) []Entry[V] {
	if len(m) == 0 {
		return nil
	}
	out := make([]Entry[V], 0, len(m))
	for k, v := range m {
		out = append(out, Entry[V]{k, v})
	}
	slices.SortFunc(out, func(a, b Entry[V]) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// unpackMap is packMap undone.
func unpackMap[V comparable](es []Entry[V]) map[string]V {
	if len(es) == 0 {
		return nil
	}
	m := make(map[string]V, len(es))
	for _, e := range es {
		m[e.Name] = e.Value
	}
	return m
}

// sameMap reports whether m holds exactly es.
func sameMap[V comparable](m map[string]V, es []Entry[V]) bool {
	if len(m) != len(es) {
		return false
	}
	for _, e := range es {
		if v, ok := m[e.Name]; !ok || v != e.Value {
			return false
		}
	}
	return true
}
