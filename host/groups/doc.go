// Package groups keeps named multicast groups: a name (validated like a
// local node id) and either a list of node ids or a selector
// (host/selector). Groups are saved in the store (bucket "groups", one JSON
// record per group keyed by name) at every change and read back by Load, so
// they survive restarts.
//
// Resolve turns a group into node ids: for a selector group, the active
// nodes of the registry that match, sorted by id; for a list group, its
// members that still exist, in member order, with the members that no
// longer exist reported in Missing (never silently dropped) and the ones
// that are not active in Inactive.
//
// Members are added and removed one at a time, on list groups only; a
// selector group's membership follows the registry. A member must exist
// when it is added (the id is checked against the registry); removing a
// member does not require it to exist, so a group can be cleaned of nodes
// that were deleted. A failed change leaves the group as it was, in memory
// and in the store.
//
// The package owns the groups and their records. It must not touch HTTP,
// transfers, plugins, or the registry's nodes (it only reads them), and it
// does not publish events.
package groups
