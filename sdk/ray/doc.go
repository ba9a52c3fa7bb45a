// Package ray is the SDK's Ray protocol kit: everything CastRay says to Ray,
// in Go and with no Python, shared by the daemon and every plugin (a plugin
// may import only sdk/, so this is where the host's code and the plugins'
// code meet). It is also a helper library for third-party discovery
// plugins: a plugin that finds Ray heads somewhere CastRay cannot look
// (Kubernetes services, Consul, a CMDB) gets their addresses from there and
// hands each to Probe or to a Dashboard/GCS client to verify it is Ray and
// learn its cluster id, version, auth mode and nodes.
//
// # What is in it
//
//   - Addresses: ParseAddress reads what users write (dashboard URLs, GCS
//     host:port, ray://host:port, RAY_ADDRESS forms) into an Address of a
//     known Kind.
//   - What answers on host:port: Probe fingerprints a port as a dashboard,
//     GCS, Ray client server or dashboard agent (or says why it is not Ray),
//     with the token rules Ray applies (a token is only ever sent to a port
//     that proved to be Ray and asked for one), evidence lines for notes,
//     and optionally the GCS's cluster id and alive nodes. Identify is the
//     short form (kind and evidence).
//   - The dashboard: Dashboard is a client of its HTTP APIs (version,
//     authentication mode, cluster id, State API nodes and actors, node
//     summary, GCS address); Get is its one GET, usable alone for one-off
//     probes, with size limits and errors that never carry the URL's
//     secrets or the token (Answer.Err gives ErrAuth, ErrNotFound or a
//     StatusError). NodesIfChanged and ActorsIfChanged skip decoding an
//     answer whose bytes are those of a Digest the caller kept. The
//     Decode* functions read the dashboard's JSON answers (version, auth
//     mode, cluster id, State API listings, node summary and detail,
//     /api/cluster_status) and never panic on any input (fuzz tests hold
//     them to it); the State API listings are read in one pass
//     (parse_scan.go) with encoding/json's rules, checked against
//     encoding/json by a differential fuzz test; parse_scan.go gives the
//     figures of the JSON libraries measured in its place and why none
//     replaced it. CmdlineFlags is the kit's one
//     parser of Ray's "--key=value" command-line flags; ParseRayletCmdline
//     reads with it what a raylet's command line says (GCS address,
//     cluster id, session, node IP, head or not, static resources), and
//     rayproc reads local processes' flags with it.
//   - The GCS: DialGCS is a gRPC client of the GCS services CastRay needs
//     (CheckAlive, cluster id, node and actor tables, internal KV) on stubs
//     generated from a minimal .proto of Ray's package ray.rpc
//     (proto/ray/rpc: only the messages and fields CastRay reads, field
//     numbers per Ray's wire format, checked against live captures in
//     testdata/gcs-live-2.60.0).
//   - Subpackages: rayproc reads the local process table for Ray's
//     processes and what their command lines say; the token lookup Ray's
//     own clients use is sdk/raytoken.
//
// # Verified against a live Ray
//
// Against Ray 2.60.0 (e2e/ray and the plugins' live tests): Probe and
// Identify tell the dashboard, GCS, client server and agent ports apart with
// and without a token; the dashboard and the GCS agree on node id, cluster
// id, CPU total and start time; KV dashboard/dashboard is the dashboard's
// host:port and a missing key is a non-OK GcsStatus ("Failed to find the
// key"); the State API actor filter is repeated filter_keys=state&
// filter_predicates=%3D&filter_values=ALIVE; a killed detached actor leaves
// the alive lists and is DEAD in the full ones. The State API has no
// available resources; the node summary's nodeLogicalResources usage text
// gives them (a 1-CPU actor on a 2-CPU head → CPU 1 available). 2.60's State
// API actor rows carry no address (the GCS's do) and num_restarts as a
// string. More in docs/ray-behaviour.md.
//
// # What it owns and must not touch
//
// It owns no state beyond the connections its clients hold: it must not
// import the daemon (host/), config/ or plugins/, keep registries or caches,
// or log. Auth tokens are sent, never logged and never put in errors.
package ray
