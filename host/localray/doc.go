// Package localray starts and stops the local Ray head that CastRay falls back to when
// ray_cluster.fallback_to_local is set, no cluster was found at start-up and the ray CLI is
// available.
//
// # What it owns
//
// Exactly the processes of the one head that Start started, and nothing else:
//
//   - The temp dir (Ray's --temp-dir): a fresh /tmp/castray-ray-XXXX by default, or the
//     caller's Options.TempDir. It must be short, because Ray puts unix sockets under
//     <temp dir>/session_<date>_<pid>/sockets/ and those paths must stay under 107 bytes.
//     Stop removes it only when Start created it.
//   - Its own ports: the GCS, the dashboard (bound to 127.0.0.1), the Ray client server, the
//     dashboard agent and the two Prometheus ports that Ray 2.60 otherwise fixes at 44227
//     and 44217 for every head on the machine (moved with DASHBOARD_METRIC_PORT and
//     AUTOSCALER_METRIC_PORT). All are free ports picked at Start.
//   - The processes of that head. `ray start` runs in its own process group (Setpgid), with
//     the temp dir as working directory and the environment marker
//     CASTRAY_LOCALRAY=<temp dir>. A process belongs to the head if its working directory is
//     inside the temp dir, its command line names the temp dir, or it carries the marker, or
//     if it is in the process group of `ray start` while that group still holds a process
//     recognised by one of the other markers (so that a reused pid can never pull in a
//     stranger). Command lines alone are not enough: the client server, the dashboard's
//     module subprocesses and the setproctitle'd agents do not name the temp dir (see
//     docs/ray-behaviour.md).
//
// The process table (pid, process group, cwd, command line, the marker) is read through
// sdk/ray/rayproc, which also tells the raylet and the GCS apart for the stop order.
//
// Stop signals those processes only, in the order `ray stop` uses (raylet, then everything
// but gcs_server, then gcs_server), sends SIGKILL to what is left after a grace period, and
// checks that none remains. It never runs `ray stop`: that kills every Ray process on the
// machine, whoever started it.
//
// Start refuses a temp dir that processes of an earlier head still use. A head whose daemon
// died without Stop keeps running; nothing here reaps it.
package localray
