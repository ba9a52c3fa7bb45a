// Package transfer owns the daemon's file transfers: it checks a request
// against the registry (targets exist, are active and reachable by the
// backend, the cast mode fits), hashes the source, records the transfer in
// the store before anything moves, runs it through a transfer plugin, turns
// the plugin's progress and results into events, and keeps the record up to
// date until it ends.
//
// A recorded transfer is never lost: records are persisted at each state
// change, and a transfer that was running when the daemon stopped is marked
// "interrupted" at the next start (Recover).
//
// The package must not talk to plugins other than through the sdk
// interfaces, serve HTTP, or change the registry.
package transfer
