// Package discovery owns discovery rounds: it runs every enabled discovery
// plugin concurrently, each under its own deadline, merges the candidates
// they stream into one record per cluster, publishes discovery events as
// clusters appear, and keeps the last round's result.
//
// Merging follows the identifiers a Ray cluster has: cluster id, session
// name, GCS address and dashboard URL, with loopback names and this host's
// own addresses normalised to 127.0.0.1. Two candidates are the same cluster
// when they share one identifier and contradict none of the strong ones
// (cluster id, session name). Matching is transitive, so the order in which
// strategies answer does not change the result. A stale session and a live
// one may both have used 127.0.0.1:6379: a running cluster never joins a
// stopped one through a weak identifier (GCS address, dashboard URL) alone.
//
// A plugin that is slow, fails or crashes only loses its own results: its
// error is reported per plugin and the round completes with the others
// ("better stale or partial data than none", as Prometheus puts it).
//
// The package must not connect to clusters, change the registry or serve
// HTTP; it only discovers and reports.
package discovery
