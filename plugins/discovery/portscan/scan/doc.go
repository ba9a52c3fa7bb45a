// Package scan is the logic of the "portscan" discovery strategy: it connects
// to the configured hosts (loopback by default) on Ray's well-known ports and
// fingerprints each open port by protocol.
//
//   - GCS (gRPC): /ray.rpc.NodeInfoGcsService/CheckAlive (version), then
//     GetClusterId and GetAllNodeInfo (cluster id, alive nodes, resources,
//     session dir, dashboard agent ports).
//   - Ray client server (gRPC): /ray.rpc.RayletDriver/ClusterInfo with type
//     PING, the call a Ray client makes before it connects.
//   - Dashboard (HTTP): /api/authentication_mode, /api/version,
//     /api/gcs_healthz.
//   - Dashboard agent (HTTP): /api/local_raylet_healthz.
//
// A port counts as Ray only when it answers a Ray-specific request the way
// Ray does: a gRPC server that knows none of Ray's methods, an HTTP server
// without Ray's endpoints and a listener that says nothing are reported as
// notes, never as clusters. The Ray protobuf messages are encoded and decoded
// by hand with protowire (rayproto.go); no Ray .proto is vendored.
//
// The auth token (config, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH,
// ~/.ray/auth_token) is sent only to a port that has already answered like
// Ray without it, so a scan never hands the token to an unknown service, and
// it never appears in evidence, notes, attributes or logs.
//
// The package owns the sockets it opens for one Discover call and closes all
// of them before Discover returns. It must not probe anything outside the
// request's or configuration's scope, must not write files, and knows nothing
// of the daemon (it sees only the sdk types).
package scan
