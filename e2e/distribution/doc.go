// Package distribution is the live end-to-end test of standing
// distributions (POST /api/distributions): a real Ray cluster
// (e2e/raycluster, the pinned Ray of .venv-ray), the built castray binary
// with its local and ray transfer plugins, and the file checked on disk in
// each Ray node's delivery folder. A node started after the distribution
// was created gets the file without any request.
//
// It owns only its daemon's data dir, its Ray cluster (stopped by the
// raycluster helper) and the delivery folders of that cluster's nodes,
// which it removes. It must not touch other clusters or the daemon's
// packages: it talks to the daemon over HTTP only.
package distribution
