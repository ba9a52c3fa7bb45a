// Package scan is the logic of the "portscan" discovery strategy: it connects
// to the configured hosts (loopback by default) on Ray's well-known ports,
// has sdk/ray's Probe fingerprint each open port by protocol, and turns what
// one host's ports answered into cluster candidates and notes.
//
// What it owns:
//
//   - the scope: config and request validation, host entries and CIDR
//     blocks with the wide-scan guard (targets.go), the port list and each
//     port's expected role, which only orders the probes (HTTP first for
//     dashboard and agent ports, gRPC first otherwise);
//   - the pacing: at most `concurrency` ports probed at once
//     (errgroup.SetLimit), new connection attempts paced by a
//     golang.org/x/time/rate token bucket read on an injectable clock (tests
//     never wait), the request's time budget and cancellation;
//   - the grouping (group.go): a GCS is a candidate (cluster id, version,
//     alive nodes, resources, session); a dashboard joins the GCS candidate
//     with its session name, an agent the GCS candidate that lists a node
//     with its port; anything else stands alone or is a note;
//   - the auth token lookup (config, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH,
//     ~/.ray/auth_token, through sdk/raytoken).
//
// What it does not own: the Ray protocols. sdk/ray's Probe makes the calls
// (gRPC NodeInfoGcsService/CheckAlive, GetClusterId, GetAllNodeInfo and
// RayletDriver/ClusterInfo{PING} on the generated ray.rpc stubs; HTTP
// /api/authentication_mode, /api/version, /api/gcs_healthz,
// /api/local_raylet_healthz), decides whether a port is Ray (a gRPC server
// that knows none of Ray's methods, an HTTP server without Ray's endpoints
// and a listener that says nothing are reported as notes, never as
// clusters), and sends the token only to a port that already answered like
// Ray without it. The token never appears in evidence, notes, attributes or
// logs.
//
// The package closes every socket of one Discover call before Discover
// returns. It must not probe anything outside the request's or
// configuration's scope, must not write files, and knows nothing of the
// daemon (it sees only the sdk types).
package scan
