// Package raydaemon is the end-to-end test of Ray delivery through the real
// daemon: the castray binary with only the local and ray transfer plugins
// (copied into a private plugin dir), driven through its REST API, connected
// by dashboard URL to a three-node Ray cluster on this machine (a head from
// e2e/raycluster plus two `ray start --address` workers, one with a custom
// resource and a label; token auth on).
//
// It checks what a user sees: one record per transfer with a result per
// target, files verified on disk in each Ray node's delivery folder and read
// back by Ray tasks pinned on those nodes, selectors, picks, actor targets,
// cancel, and a kill -9 of the daemon mid-transfer followed by a restart and a
// retry. Waits are event-driven (the API is polled until a state is reached,
// with generous deadlines); no duration is asserted.
//
// It owns what it starts: the cluster (stopped by raycluster's cleanup), the
// daemons and their data dirs, and the delivery folders of that cluster's node
// ids, which it removes.
package raydaemon
