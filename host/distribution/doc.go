// Package distribution keeps CastRay's standing distributions: "this
// uploaded file must be on every node a selector matches", now and later.
//
// A Distribution names a file of the upload store and a selector
// (host/selector). The Service delivers the file to every matching active
// node, and to every node that matches later — a worker that joins a
// cluster, a cluster connected later, a node that comes back — through the
// transfer service (host/transfer), one multicast transfer per reconcile
// round for the nodes that are due. Each node has a status:
//
//   - pending: matches but has nothing yet (not active, or not tried yet);
//   - delivering: a transfer (transfer_id) is sending it;
//   - present: the transfer completed and the SHA-256 its backend verified
//     on the node equals the file's;
//   - failed: the last delivery failed (error says why); it is tried again
//     at the first reconcile after next_retry_at, with a capped exponential
//     backoff (Options.RetryBase doubling up to Options.RetryMax), never in
//     a hot loop.
//
// A reconcile runs at every node_added / node_updated / node_removed /
// node_dead event of the registry and at the end of every transfer (both
// read from the event bus, bursts coalesced into one round), on every tick
// of Options.Ticks (the daemon uses external_cluster.sync_interval), and
// once at Start. A node that is added again after the registry removed it
// while this daemon ran (node_removed, then node_added) gets the file
// again, since nothing tells what it kept; a node that only was inactive
// and comes back keeps "present", and so do the nodes that reappear after
// a daemon restart as their clusters reconnect (not listed is not removed:
// a Ray node id names one raylet run, so the same id is the same node). When the upload
// store's file changes (same name, new content), present nodes become
// pending and get the new content.
//
// Distributions are saved in the store's bucket "distributions" at every
// change (with their per-node status and transfer ids), loaded by Load and
// reconciled at Start: a delivery that was running when the daemon stopped
// is found again through the transfer service's record of its transfer id
// (resumed by the transfer service, or retried here).
//
// Delete stops a distribution: nothing more is sent; files already
// delivered stay on the nodes and transfers already running finish (they
// are ordinary transfers, visible and cancellable in /api/transfers).
// While a distribution names a file, Referencing reports it so that the API
// refuses to delete that upload (409). If the file disappears anyway (by
// hand), the distribution's error says so and due nodes fail with that
// reason until it is back.
//
// Every change of a distribution is published as "distribution_updated"
// with the distribution (state "deleted" once deleted).
//
// The package owns the Distribution record, its bucket and the reconcile
// policy. It must not touch plugins, Ray, HTTP, the upload store's files
// (it only Stats them) or the registry (it only reads it); it moves no
// bytes itself — every delivery is a transfer of host/transfer.
package distribution
