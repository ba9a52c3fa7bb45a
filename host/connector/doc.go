// Package connector owns CastRay's connections to external Ray clusters:
// several at once, each with its identity (cluster id, session, Ray version),
// how it was reached, its state and last error. Per cluster a sync loop
// reads the node and actor tables, maps them to virtual nodes and hands the
// full set to the registry, which diffs it into node events. When a cluster
// stops answering its state becomes disconnected and its nodes go offline
// (they are not deleted); the loop reconnects with capped backoff, and when
// the cluster comes back — even as a new session with new node ids — the
// node set is replaced.
//
// A sync costs little when little changed: a table the dashboard answers
// with the same bytes as at the last sync applied (a ray.Digest of the
// answer) is neither decoded, mapped nor compared, and the registry keeps
// that kind's nodes as they are (registry.SyncClusterKeep), which gives
// the same nodes and events as handing it the whole set. The actors are
// read in full whenever the node table changed (an actor's address may be
// its node's), and after a reconnect everything is. Connecting by a
// dashboard URL is one round trip: the dial's /api/version and, beside it,
// the cluster id, auth mode, summary view and the first sync's two tables
// (cancelled when the address is no dashboard).
//
// Virtual node ids are stable across syncs: ray:<cluster>:<node id hex> for
// nodes and ray:<cluster>:actor:<actor id hex> for actors, where <cluster>
// is the connection's id, fixed at connect time.
//
// The package reaches Ray only through a Dialer (production: sdk/ray); it
// must not serve HTTP, read configuration files or touch plugins.
package connector
