package registry

import (
	"cmp"
	"slices"
)

// Quantity is one of a node's resources (Resources or Available) as Visit
// shows it.
type Quantity struct {
	Name  string
	Value float64
}

// label is one of a node's labels as the registry keeps it.
type label struct{ key, value string }

// packed is how the registry keeps a node's maps: as slices sorted by key.
// A Go map of up to eight entries takes about 250–340 bytes whatever it
// holds; a Ray node's five resources take 120 bytes as a slice and its one
// label 32, which is most of the difference between 100,000 nodes in
// 200 MiB or not (docs/reliability.md).
type packed struct {
	resources, available []Quantity
	labels               []label
}

func pack(n *Node) packed {
	return packed{resources: packQuantities(n.Resources), available: packQuantities(n.Available), labels: packLabels(n.Labels)}
}

// unpack sets n's maps from p (nil for none).
func (p *packed) unpack(n *Node) {
	n.Resources = unpackQuantities(p.resources)
	n.Available = unpackQuantities(p.available)
	n.Labels = nil
	if len(p.labels) > 0 {
		n.Labels = make(map[string]string, len(p.labels))
		for _, l := range p.labels {
			n.Labels[l.key] = l.value
		}
	}
}

// same reports whether n's maps hold what p holds (a nil map and an empty
// one are the same).
func (p *packed) same(n *Node) bool {
	if !sameQuantities(n.Resources, p.resources) || !sameQuantities(n.Available, p.available) || len(n.Labels) != len(p.labels) {
		return false
	}
	for _, l := range p.labels {
		if v, ok := n.Labels[l.key]; !ok || v != l.value {
			return false
		}
	}
	return true
}

func packQuantities(m map[string]float64) []Quantity {
	if len(m) == 0 {
		return nil
	}
	out := make([]Quantity, 0, len(m))
	for k, v := range m {
		out = append(out, Quantity{k, v})
	}
	slices.SortFunc(out, func(a, b Quantity) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func packLabels(m map[string]string) []label {
	if len(m) == 0 {
		return nil
	}
	out := make([]label, 0, len(m))
	for k, v := range m {
		out = append(out, label{k, v})
	}
	slices.SortFunc(out, func(a, b label) int { return cmp.Compare(a.key, b.key) })
	return out
}

func unpackQuantities(q []Quantity) map[string]float64 {
	if len(q) == 0 {
		return nil
	}
	m := make(map[string]float64, len(q))
	for _, x := range q {
		m[x.Name] = x.Value
	}
	return m
}

func sameQuantities(m map[string]float64, q []Quantity) bool {
	if len(m) != len(q) {
		return false
	}
	for _, x := range q {
		if v, ok := m[x.Name]; !ok || v != x.Value {
			return false
		}
	}
	return true
}
