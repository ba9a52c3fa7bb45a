// Package discovery owns discovery rounds: it runs every enabled discovery
// plugin concurrently, each under its own deadline, merges the candidates
// they stream into one record per cluster, publishes discovery events as
// clusters appear, and keeps the last round's result.
//
// Merging follows the identifiers a Ray cluster has, strongest first: the
// session name (one `ray start`), the cluster id, then the addresses (GCS
// address, dashboard URL, client address), with loopback names and this
// host's own addresses normalised to 127.0.0.1. The result of a round is a
// function of the set of candidates the plugins report, never of the order
// in which they arrive:
//
//  1. Candidates naming the same session name are one cluster. Different
//     session names are never one cluster, even when they share a cluster id
//     or an address: every stale session in a temp dir names the same
//     default 127.0.0.1:6379 and :8265 as the live one.
//  2. Candidates naming a cluster id but no session name are one cluster
//     per id. It joins the session that names the same id; failing that,
//     the session (naming no id) that it shares an address with, unless
//     another cluster id claims that session the same way.
//  3. Candidates naming neither are grouped by shared addresses,
//     transitively (a GCS-only and a dashboard-only candidate are one once a
//     third names both), and each group joins the cluster of 1 or 2 it
//     shares an address with.
//
// An address (or a cluster id in 2) may point at several clusters. A join
// then needs one target: the only one, else the only active one; with none
// or several active, the candidates stay a cluster of their own rather than
// join one by chance. A running cluster never joins a stopped one through
// an address alone, so an active dashboard-only candidate never lands in a
// stale session. Within a cluster, identifiers, resources and attributes
// come from the first candidate that knows them in a fixed order (active
// first, then by source and content); the status is active if any candidate
// says so. A cluster's id derives from its cluster id, else its session
// name, else its GCS address, else its dashboard URL, so it is the same for
// identical rounds; two clusters kept apart that would share one (two
// GCS-only clusters, one running and one stopped, on one address) get a "-2"
// suffix in that fixed order. The cluster events published while
// a round runs describe the candidates seen so far; the round's result is
// the final word.
//
// A plugin that is slow, fails or crashes only loses its own results: its
// error is reported per plugin and the round completes with the others
// ("better stale or partial data than none", as Prometheus puts it).
//
// The package must not connect to clusters, change the registry or serve
// HTTP; it only discovers and reports.
package discovery
