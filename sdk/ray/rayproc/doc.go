// Package rayproc is the Ray protocol kit's reader of the local process table: it lists the
// processes of this machine from /proc (through github.com/prometheus/procfs), recognises
// Ray's among them and reads what their command lines say about the cluster.
//
// # What it reads
//
// Lister lists the live processes under a /proc root (the real /proc by default; tests pass a
// fake tree, see package rayproctest): pid, parent, process group, state and comm from
// /proc/<pid>/stat, the command line from /proc/<pid>/cmdline and, when asked, the working
// directory (/proc/<pid>/cwd) and chosen environment variables (/proc/<pid>/environ, which
// the kernel shows only for the caller's own processes, or to root). Zombies, processes that
// vanish while they are read and the calling process itself are left out; kernel threads
// are listed with an empty command line. A root that is missing, unreadable or holds no
// process at all is ErrNoProcessTable (not Linux, /proc not mounted).
//
// Recognise tells a Ray component from its command line, as Ray 2.60.0 starts them (seen
// live, see testdata/README.md): the gcs_server and raylet executables, the Python scripts
// and modules of the dashboard, dashboard agent, runtime env agent, autoscaler monitor, log
// monitor, Ray client server and workers, and the setproctitle'd forms that no longer carry
// their flags (ray::IDLE, ray::<task>, ray::DashboardAgent, ray-dashboard-<Module>-0). A
// recognised process's "--key=value" flags (read by the kit's one flag parser,
// ray.CmdlineFlags) give the GCS address, session name and dirs, node IP, temp dir and
// ports. Index matches them to sessions; RayletGCSAddresses is Ray's own lookup of the local
// cluster (services.find_gcs_addresses, word for word: it also finds --gcs-address inside
// nested worker commands, as Ray's does).
//
// # What it owns and must not touch
//
// It owns nothing and only reads: it never signals, writes to or otherwise changes a
// process, and never opens anything outside the /proc root it is given. Callers that stop
// processes (host/localray) do so themselves. Like the rest of the SDK it must not import
// the daemon (host/, config/) or plugins/.
package rayproc
