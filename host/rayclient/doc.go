// Package rayclient speaks Ray's own protocols from Go, with no Python: the
// dashboard's HTTP APIs (version, authentication mode, State API nodes and
// actors) and the GCS's gRPC services (cluster id, node and actor tables,
// internal KV), through a minimal .proto of its own (package ray.rpc, only the
// messages and fields CastRay needs, field numbers per Ray's wire format). It
// also parses the addresses users give (dashboard URLs, GCS host:port,
// ray:// and RAY_ADDRESS forms) and identifies what answers on a bare
// host:port.
//
// It owns no state beyond its connections: it must not touch the registry,
// the store or events. Auth tokens are sent, never logged.
package rayclient
