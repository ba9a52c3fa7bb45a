// Package jobcast is the logic of the "ray" transfer backend: it delivers a
// file stored by the daemon onto chosen nodes of a Ray cluster using only
// Ray's public APIs, with no CastRay software on the cluster.
//
// # How a Send works
//
// Targets are grouped by cluster (attribute dashboard_url); each cluster
// gets one Ray job, submitted through the dashboard's Jobs API with the
// submission id "castray-<transfer id>" (a later attempt of the same
// transfer: "-2", "-3", ...; Ray must never see an id reused) so that a
// later Send (resume) finds them again. The job's entrypoint is a small shell line that finds the
// cluster's Python (the one that runs Ray's job supervisor) and executes
// driver.py, which ships inside the plugin (go:embed) and reaches the job
// through its metadata (castray_driver, castray_config; never runtime_env,
// which would cost every writer a fresh worker process, nor argv).
//
// The driver pulls the file from this plugin's own HTTP server (server.go):
// one session per job, a random bearer token per session that stops working
// when the session closes, only that one file, Range requests, chunks
// checked against FileSpec.chunk_crc32c as they are served. With fetch
// "object-store" (default) it ray.put()s each chunk once, up to 256 MiB
// ahead of the slowest writer, as a pickle.PickleBuffer (stored out of band,
// so a writer's ray.get maps its node's object-store copy instead of copying
// it), before it writes the head's copy; one writer actor per target, pinned
// to the target's node with NodeAffinitySchedulingStrategy(soft=False) and
// num_cpus=0, receives the chunk through Ray's object manager and pwrites it
// into ".castray-<transfer id>.part" in the target's folder, a bounded window
// of chunks ahead. With fetch "direct" every writer pulls its own chunks from
// the server. A target on the driver's own node is written by the driver
// itself. Each writer hashes its copy (SHA-256) in file order while it
// arrives - the part file read back (verify "reread", default) or the bytes
// written (verify "written") - then checks the digest, fsyncs and renames.
// The Send ends once every target has its outcome. The driver POSTs progress (every 0.5 s)
// and each target's result to the session, and prints each result as a
// "CASTRAY_RESULT {json}" line that the Jobs logs API keeps.
//
// # What it owns and must not touch
//
// It owns the jobs it submits (castray-<transfer id>[-n]), the sessions of its
// HTTP server, and, on the nodes, only the part and final files in the
// folders dest_template / actor_dest_template name. It must not import the
// daemon (host/), config/ or other plugins (only sdk/), must never serve
// anything but the one file of a session, and never logs or reports a
// token (the Ray token or a session's).
package jobcast
