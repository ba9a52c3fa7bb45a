// Package raycluster starts a real Ray head node for CastRay's end-to-end tests and always
// stops it again. It never fakes Ray: every cluster is `ray start --head` from the pinned
// virtualenv (make ray-venv), and the helper waits until the dashboard really answers.
//
// # What it owns
//
//   - One short temp dir per cluster (/tmp/crt-XXXXXX, Ray's --temp-dir; unix socket paths
//     must stay under 107 bytes, which t.TempDir() paths break), with a private HOME for the
//     Ray processes in <temp dir>/home. Stop removes the temp dir when the helper created it
//     (a caller-given Options.TempDir is left in place, minus home/).
//   - The Ray processes of that cluster. Stop finds them by four markers, any of which is
//     enough: the process group of `ray start` (started with Setpgid), a working directory
//     inside the temp dir (`ray start` runs there and every Ray process inherits it), a
//     command line that names the temp dir, and the environment marker
//     CASTRAY_RAY_CLUSTER=<temp dir>. Command lines alone are not enough: the Ray client
//     server, the dashboard's module subprocesses and the setproctitle'd agents
//     (ray::DashboardAgent, ray::RuntimeEnvAgent) do not name the temp dir; see
//     docs/ray-behaviour.md.
//   - The machine-wide lock file /tmp/castray-ray-e2e.lock. `go test ./...` runs the test
//     binaries of different packages in parallel processes; each process holds an exclusive
//     flock on this file from its first Start until its last Stop, so at most one test process
//     runs Ray at a time. Several clusters in the same test process are allowed (the lock is
//     reference counted inside the process). Holding the lock is also what makes it safe to
//     reap orphans: processes carrying CASTRAY_RAY_OWNER=<pid> of a test process that no
//     longer exists (a test binary killed by -timeout never runs its cleanups) are killed
//     when the next Start takes the lock.
//
// # What it must not touch
//
//   - Other Ray clusters on the machine, including another test's cluster in the same
//     process and a developer's own `ray start`: Stop never runs a bare `ray stop` (that
//     kills every Ray process on the machine by process name) and never signals a process
//     without one of the markers above.
//   - The user's ~/.ray/auth_token and /tmp/ray: every Ray process gets a private HOME, an
//     explicit --temp-dir, and, in token mode, the token through RAY_AUTH_TOKEN (a fresh
//     64-hex token, the format Ray 2.60 generates) so nothing is read from or written to the user's home. RAY_AUTH_MODE,
//     RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, RAY_ADDRESS and RAY_API_SERVER_ADDRESS inherited
//     from the developer's shell are dropped; Options.Env can set them on purpose.
//
// # Finding ray
//
// RayBin reads CASTRAY_RAY_BIN (set by `make e2e`), else <repo root>/.venv-ray/bin/ray. When
// neither exists the test fails under CI=true and is skipped (pointing at `make ray-venv`)
// otherwise.
//
// Linux only: the helper reads /proc.
package raycluster
