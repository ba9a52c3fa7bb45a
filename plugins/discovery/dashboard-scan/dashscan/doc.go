// Package dashscan is the logic of the "dashboard-scan" discovery plugin: it
// probes hosts × ports (127.0.0.1:8265-8269 by default) for Ray dashboards
// and reports, per dashboard found, what its HTTP API says about the
// cluster.
//
// Recognition (per host:port, each request bounded by the probe timeout):
//
//  1. GET /api/authentication_mode — open in every mode since Ray 2.52
//     ({"authentication_mode": "token"|"disabled"|"k8s"}); older Ray
//     answers 404.
//  2. GET /api/version — 200 {"ray_version", "session_name", ...}, or with
//     token auth 401 (no token) / 403 (wrong token). The token is sent only
//     to a dashboard that announced token (or k8s) auth in step 1, so it
//     never reaches an HTTP server that did not ask for it.
//
// A server is a Ray dashboard when /api/version answers 200 with a
// ray_version, or when it announced token auth and /api/version answers
// 401/403 (reported with auth_required). Anything else that speaks HTTP
// (a web server answering 200 HTML, JSON without ray_version) is not
// reported; it gets an info note.
//
// Then, in parallel: GET /api/gcs_healthz (open; "success" → status
// active), and with access: the State API node list
// /api/v0/nodes?detail=false&limit=N (alive rows counted, resources_total
// summed), /api/cluster_status (data.clusterStatus.loadMetricsReport.usage:
// {resource: [used, total]} with camelCased names, mapped back to Ray's;
// autoscaler demands and pending nodes), /cluster_id (the cluster id hex);
// then GET /nodes/{head node id}, whose raylet command line names the GCS
// address, the cluster id, the session name and dir. When the State API
// fails, /nodes?view=summary is the fallback node list.
//
// Every request goes through sdk/ray's Get and every answer through its
// decoders (DecodeAuthMode, DecodeVersion, DecodeStateNodes,
// DecodeClusterStatus, DecodeClusterID, DecodeNodesSummary,
// DecodeNodeDetail, ParseRayletCmdline): what the dashboard's answers mean
// is the Ray protocol kit's knowledge, shared with the host. This package
// keeps what is the scan's: its targets and scope, the recognition order
// and the token rule above, the probes' orchestration and the candidates.
//
// The package owns nothing but its HTTP connections; it writes no files,
// starts no processes, reads only the token sources (auth_token,
// RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token) and never logs or
// reports a token. It probes nothing outside the configured or requested
// scope, refuses CIDR blocks wider than /24 and more than max_hosts hosts
// unless allow_wide_scan is set, uses no HTTP proxy and follows redirects
// only within the same origin. It knows nothing of the daemon (it sees only
// the sdk types).
package dashscan
