// Package selector chooses target nodes by what they are rather than by id.
//
// A Selector names a cluster, a node kind, a node state, labels and
// minimum resources (total and available); a node matches when it
// satisfies every field given, and an empty Selector matches every node.
// Decode and DecodePick read a selector and a pick strictly from JSON: an
// unknown key or a value outside its range is a *FieldError naming the
// field. Select returns the matching nodes sorted by id.
//
// A Pick asks for a number of the matching nodes, chosen by a rule:
//
//   - "least-loaded" (the default): fewest active transfers first, then most
//     available resources, then node id;
//   - "most-available": most available resources first, then fewest active
//     transfers, then node id.
//
// Available resources are compared by the sum, over the resources the
// selector names (in resources or available), of what each node has
// available; when the selector names none, by available CPU. Only active
// nodes are chosen (a transfer can reach no other). The choice is a function
// of the set of nodes and of the active-transfer counts the caller provides:
// the order of the input does not change it. Every chosen node comes with a
// Choice that says why, for people.
//
// The package owns the selector's JSON shape, its validation and the
// ranking rules. It must not touch the registry, the store, transfers or
// HTTP: callers hand it the nodes (registry.Node values) and the number of
// active transfers per node, and it only reads them.
package selector
