// Package verify is the logic of the "static" discovery plugin: it reports
// the clusters listed in its configuration (clusters = [{dashboard_url,
// gcs_address, auth_token | auth_token_file, name, timeout_ms}]), each
// verified with the SDK's Ray kit (sdk/ray) before it is reported. It is
// CastRay's way to know of remote clusters that no scan of the local machine
// can find.
//
// Verification, per configured cluster, concurrently (at most concurrency
// clusters at once), each cluster bounded by its timeout_ms:
//
//   - dashboard_url: a TCP connect, then GET /api/authentication_mode
//     (open), GET /api/version (ray_version, session_name); once that
//     answered, GET /cluster_id and the State API node list (alive nodes,
//     resources_total) in parallel.
//   - gcs_address: a TCP connect, then NodeInfoGcsService/CheckAlive (the
//     Ray version); once that answered, GetClusterId, GetAllNodeInfo and the
//     internal KV keys session/session_name and dashboard/dashboard in
//     parallel.
//
// The reporting rule (README.md, "What is reported") follows what the
// daemon does with candidates (host/discovery merges them, and only
// clusters with status active are connected to): every configured cluster
// in the request's scope is reported once. It is active when at least one
// of its addresses answered as Ray; otherwise it is reported with status
// unknown — never inactive, since an unreachable cluster is no evidence of
// a stopped one — with auth_required when a token was missing or rejected,
// the attribute verification naming why, and a warn note per address that
// could not be verified (unreachable, auth required, not Ray, error). When
// a cluster's dashboard and GCS turn out to belong to different clusters,
// both are reported, apart, with an error note. report_unverified = false
// keeps unverified clusters to notes only.
//
// The token (auth_token, else the first line of auth_token_file, else Ray's
// own lookup: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token) is
// sent only where it is asked for: to a dashboard whose authentication mode
// is token (or k8s), to a GCS that refused CheckAlive without one. It is
// never logged nor put in evidence, notes or attributes (token_source names
// where it came from).
//
// The package owns only the connections of one Discover call and closes
// them before Discover returns. It probes nothing but the configured
// addresses (narrowed by a request's hosts and ports), writes no files,
// reads only the token sources above, and knows nothing of the daemon (it
// sees only the sdk types).
package verify
