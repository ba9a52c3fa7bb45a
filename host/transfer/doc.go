// Package transfer owns the daemon's file transfers: it checks a request
// against the registry (targets exist and are active, the cast mode fits)
// and the upload store (the file exists; its SHA-256 and chunk digests were
// computed at upload, so nothing is hashed here), routes each target to a
// transfer plugin, records the transfer in the store before anything moves,
// runs it, turns the plugins' progress and results into events, and keeps
// the record up to date until it ends.
//
// # Routing
//
// Each loaded transfer plugin says which node kinds it serves, in which
// modes and how many targets at most (Capabilities, cached per plugin
// process by host/pluginmgr). A target goes to the plugin that serves its
// kind: the one named in preferred ("local" for local nodes, "ray" for
// ray-node and ray-actor) when it does, else the first by name. A target no
// plugin serves is a RequestError naming the node and kind, and nothing is
// recorded. Request.Backend forces one plugin for every target (a kind it
// does not list is a RequestError; a plugin that lists no kinds takes any).
// Broadcast means every active node of a kind some plugin serves.
//
// One transfer is one Record with one TargetRecord per target, each naming
// its backend; Record.Backend is the single backend, or BackendMixed. A run
// is one leg per backend: one Send with that backend's targets (and the
// mode nearest the request's that it lists), all legs in parallel under one
// transfer id. A leg whose Send fails, or that reports nothing for
// IdleTimeout, fails its own open targets only; the transfer's state is
// derived from all targets. Cancel and the per-node cancel reach every
// backend involved; Retry sends each backend its own unfinished targets
// again (resume). Records written before routing (no per-target backend)
// get the record's backend when loaded. Ray targets carry cluster_id,
// dashboard_url (without any userinfo), gcs_address, ray_node_id (an
// actor's: its hosting node) and actor_id; never a credential.
//
// A recorded transfer is never lost: records are persisted at each state
// change, and a transfer that was running when the daemon stopped is marked
// "interrupted" at the next start (Recover), except the targets on local
// nodes whose copy is already in place under its final name with the
// transfer's size and SHA-256 (the daemon died between the backend's rename
// and the record): those are completed, and so is the transfer when all
// its targets are. Retry runs the targets that did
// not complete again, asking the backend to resume from the partial state it
// kept (sdk/partial), and ResumeInterrupted does so at start-up. Cancel asks
// the backends to discard partial state; a stop of the daemon does not.
//
// The package also keeps the history bounded (ListOptions, Delete, the
// MaxAge/MaxRecords options), the index of what each node received
// (ReceivedBy), and sweeps the inboxes of partial state no retryable transfer
// owns (Recover).
//
// The package must not talk to plugins other than through the sdk
// interfaces, serve HTTP, or change the registry.
package transfer
