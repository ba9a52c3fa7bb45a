// Package transfer owns the daemon's file transfers: it checks a request
// against the registry (targets exist and are active, the cast mode fits)
// and the upload store (the file exists; its SHA-256 and chunk digests were
// computed at upload, so nothing is hashed here), records the transfer in the
// store before anything moves, runs it through a transfer plugin, turns the
// plugin's progress and results into events, and keeps the record up to date
// until it ends.
//
// A recorded transfer is never lost: records are persisted at each state
// change, and a transfer that was running when the daemon stopped is marked
// "interrupted" at the next start (Recover). Retry runs the targets that did
// not complete again, asking the backend to resume from the partial state it
// kept (sdk/partial), and ResumeInterrupted does so at start-up. Cancel asks
// the backend to discard partial state; a stop of the daemon does not.
//
// The package also keeps the history bounded (ListOptions, Delete, the
// MaxAge/MaxRecords options), the index of what each node received
// (ReceivedBy), and sweeps the inboxes of partial state no retryable transfer
// owns (Recover).
//
// The package must not talk to plugins other than through the sdk
// interfaces, serve HTTP, or change the registry.
package transfer
