// Package fakeray is a FAKE Ray dashboard. It is NOT Ray.
//
// ┌──────────────────────────────────────────────────────────────────────┐
// │ THIS IS A FAKE, FOR SCALE AND FAULT TESTS ONLY.                       │
// │ It must never stand in for a real Ray cluster in functional tests:   │
// │ anything that checks what CastRay does with Ray uses real Ray        │
// │ (e2e/raycluster). The fake exists because one machine cannot run a   │
// │ 10,000-node cluster, and because real Ray cannot be told to fail,    │
// │ stall or restart on cue.                                             │
// └──────────────────────────────────────────────────────────────────────┘
//
// It serves, over an httptest server, the dashboard routes CastRay reads:
// /api/version, /api/authentication_mode, /api/gcs_healthz, /cluster_id,
// /api/v0/nodes, /api/v0/actors and /nodes?view=summary. Replies are written
// the way Ray 2.60.0's aiohttp dashboard writes them (Python json.dumps:
// ", " and ": " separators, ensure_ascii, floats as 1.0, dict insertion
// order), copied from the real captures in
// e2e/raycluster/testdata/live-2.60.0/ and
// plugins/discovery/dashboard-scan/dashscan/testdata/live-2.60.0/.
//
// The State API counting (total, num_after_truncation, num_filtered) follows
// Ray's python/ray/dashboard/state_aggregator.py and state_api_utils.py:
// "source" filters (= on node_id/state/node_name for nodes, = on
// actor_id/state/job_id for actors) run at the GCS, which returns at most
// RAY_MAX_LIMIT_FROM_DATA_SOURCE (10000) rows; then every filter runs again
// in the dashboard (do_filter, case-insensitive for strings), the rows are
// sorted by id and cut to the request's limit. So a 10,000-node cluster
// asked with limit=100 answers total=10000, num_after_truncation=10000,
// num_filtered=10000 and 100 rows: a client sees truncation as
// num_filtered > len(result). What the GCS itself counts in "total" and in
// its own num_filtered is inferred from the Python code, not captured.
//
// Actor rows are built from docs/ray-facts §3 and Ray's ActorState dataclass:
// there is no real actor capture yet, so their shape is NOT YET VERIFIED.
package fakeray
