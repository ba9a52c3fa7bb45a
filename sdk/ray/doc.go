// Package ray is the SDK's Ray protocol kit, shared by the host and every
// plugin (a plugin may import only sdk/). It speaks Ray's own protocols from Go, with no Python: the
// dashboard's HTTP APIs (version, authentication mode, State API nodes and
// actors) and the GCS's gRPC services (cluster id, node and actor tables,
// internal KV), through a minimal .proto of its own (package ray.rpc, only the
// messages and fields CastRay needs, field numbers per Ray's wire format). It
// also parses the addresses users give (dashboard URLs, GCS host:port,
// ray:// and RAY_ADDRESS forms) and identifies what answers on a bare
// host:port.
//
// Verified against a live Ray 2.60.0 (e2e/ray): Identify tells the
// dashboard, GCS, client server and agent ports apart with and without a
// token; the dashboard and the GCS agree on node id, cluster id, CPU total
// and start time; KV dashboard/dashboard is the dashboard's host:port and a
// missing key is a non-OK GcsStatus ("Failed to find the key"); the State
// API actor filter is repeated filter_keys=state&filter_predicates=%3D&
// filter_values=ALIVE; a killed detached actor leaves the alive lists and
// is DEAD in the full ones. The State API has no available resources; the
// node summary's nodeLogicalResources usage text gives them (a 1-CPU actor
// on a 2-CPU head → CPU 1 available). 2.60's State API actor rows carry no
// address (the GCS's do) and num_restarts as a string.
//
// It owns no state beyond its connections: it must not touch the registry,
// the store or events. Auth tokens are sent, never logged.
package ray
