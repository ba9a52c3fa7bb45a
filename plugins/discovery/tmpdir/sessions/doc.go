// Package sessions is the logic of the "tmpdir" discovery plugin: it finds Ray clusters,
// live and dead, from what Ray leaves in its temp directories, and says which are running.
//
// # What it reads
//
// A Ray temp dir ("root") is the folder `ray start --temp-dir=X` names, or <tmp>/ray by
// default. Seen live with Ray 2.60.0, X holds, directly (no extra "ray" level):
//
//   - ray_current_cluster: the bare GCS address "ip:port" of the last `ray start` there (no
//     newline). It survives the cluster (`ray stop` clears it only in the default temp dir),
//     so it is a hint, used only for the session whose own GCS port it agrees with.
//   - session_latest: a symlink to the newest session dir.
//   - session_<YYYY-MM-DD_HH-MM-SS_micros>_<pid>/: one per cluster start. Ray 2.60 caches
//     ports in one file per port, <port name>_<node id hex> (gcs_server_port_…,
//     dashboard_agent_listen_port_…, …), holding the bare number; older Ray (2.48, the
//     Windows fixture) wrote ports_by_node.json ({"<ip>:<plasma socket>": {name: port}})
//     and node_ip_address.json instead. Both forms are read.
//   - session_*/logs/: the bounded heads of gcs_server.out ("GcsServer server started,
//     listening on port N.", the Ray version, the cluster id, the head node's address),
//     dashboard.log ("Dashboard head http address: host:port", or "http server disabled."
//     in a minimal install), ray_client_server.err ("Starting Ray Client server on
//     host:port, args Namespace(…address='gcs')") and raylet.out (the node's address).
//
// Roots are the configured `dirs` plus, unless include_defaults is false, $RAY_TMPDIR/ray,
// $TMPDIR/ray, /tmp/ray and the original CastRay's ~/ray_tmp, ./ray_temp and ./ray_tmp.
// Only the newest max_sessions sessions of a root are read. Every file read is bounded
// (logs grow without limit) and only regular files are opened, so a FIFO or a device named
// like a Ray file cannot block or flood the plugin; symlink loops are reported and skipped.
//
// # Live or stale
//
// A session is active when a live Ray process (gcs_server, raylet, dashboard, monitor,
// log_monitor, agents, workers) names it on its command line (/proc/<pid>/cmdline:
// --session-name, --session-dir, --log_dir, socket paths), and inactive when none does — even if its GCS
// port answers, when another live session owns that port. With no process naming it but
// the port answering and unclaimed, the status is unknown (a cluster of another user may be
// hidden by /proc's hidepid, or a foreign program may hold the port). Without process
// checks (check_processes = false, or no /proc), the GCS port decides: answering is active,
// refused is inactive. A stale session is reported as inactive, never dropped.
//
// # What it must not touch
//
// It only reads: the files named above, and /proc/<pid>/cmdline and stat, through the kit's
// process reader (sdk/ray/rayproc), which also recognises the Ray processes and parses
// their flags. It never writes
// into a temp dir, never follows a symlink out of a session for anything but reading, never
// signals a process, and its only network traffic is one TCP connect (closed at once) per
// session to the GCS port, to loopback or this machine's own addresses unless the request's
// hosts allow more. It knows nothing of the daemon: it sees only the sdk types.
package sessions
