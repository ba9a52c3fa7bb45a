// Package metrics owns CastRay's Prometheus metrics, served at GET /metrics
// in the text exposition format.
//
// It keeps a private prometheus.Registry (never the global default one) and
// every collector on it. Two kinds of metrics live here:
//
//   - Events that happen are counted as they happen, through small hooks
//     the daemon hands to the other packages: discovery rounds (Round),
//     cluster syncs (Sync), ended transfers (TransferEnded), HTTP requests
//     (HTTPRequest) and WebSocket clients (WSClient, WSDropped). Each hook is
//     safe for concurrent use and never blocks.
//   - State that is already queryable is read at scrape time from Sources:
//     clusters by state (the connector), nodes by kind and state (the
//     registry), running transfers (the transfer service), plugin state and
//     restarts (the plugin manager). Nothing is cached between scrapes.
//
// Label values are bounded: HTTP routes are Fiber's route patterns, never
// raw paths; clusters, plugins and backends are the daemon's own ids.
//
// The package must not serve HTTP itself (host/api mounts Handler), change
// any of the services it reads, or publish events.
package metrics
