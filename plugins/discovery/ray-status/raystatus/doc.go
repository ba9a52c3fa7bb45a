// Package raystatus is the logic of the "ray-status" discovery plugin: it
// runs the ray CLI's `ray status` and turns what it prints into cluster
// candidates.
//
// # What it does
//
// One Discover call makes these runs, at most max_concurrency (2) at a time,
// each in its own process group and killed with that group when it exceeds
// timeout_ms or the call's budget, or when the call is cancelled:
//
//   - `ray status --address <a>` for every address of the request and of the
//     config (host:port only; a TCP connect first, because the 2.60 CLI spends
//     ~40 s on a dead address);
//   - a plain `ray status`, i.e. the cluster Ray itself picks on this machine.
//     Its GCS address is worked out the way Ray 2.60 does it (RAY_ADDRESS,
//     then <RAY_TMPDIR|TMPDIR|/tmp>/ray/ray_current_cluster, then the raylet
//     processes' --gcs-address when there is exactly one), before and after
//     the run; it is reported only when both agree. When a given address is
//     that same cluster, the plain run is skipped. "Found multiple active Ray
//     instances: {...}" makes it check each listed address.
//
// Parse reads every layout the CLI has printed (see the Layout constants and
// testdata/README.md: Ray 2.9.3, 2.49.2 and 2.60.0 were captured live);
// Classify sorts a run into an Outcome: a status, no cluster (not an error),
// several clusters, a token-auth failure, a version mismatch, an unreachable
// GCS, or an error whose excerpt goes into the summary.
//
// Token auth: the token (config auth_token, else RAY_AUTH_TOKEN, else the
// file named by RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token) is given to the
// CLI as RAY_AUTH_TOKEN together with RAY_AUTH_MODE=token, which the 2.60 CLI
// needs to send it (and which also works against clusters without auth). The
// token is never logged, and is scrubbed from everything the CLI printed
// before it reaches a note or an error.
//
// # What it owns and must not touch
//
// It owns the child processes it starts (and their process groups) and two
// unlinked temporary files per run for their output. It reads the process
// table (/proc/*/stat and cmdline, through sdk/ray/rayproc) and the
// ray_current_cluster file, and nothing else of the machine; it never
// runs a ray command other than `ray status` and `ray --version`, and never
// sends anything to a cluster itself. It knows nothing of the daemon: it sees
// only the sdk types.
package raystatus
