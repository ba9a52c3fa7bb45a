// Package progkit is the code the e2e developer programs (e2e/bench,
// e2e/soak, e2e/load) share: it owns their process plumbing — a context
// that ends on SIGINT or SIGTERM and a SIGTERM when the parent dies
// (SignalContext), a started `castray serve` process with the tail of its
// log and its exit (StartProcess, Process.Terminate), a free loopback port,
// the environment without the caller's CastRay or Ray settings, and TB, a
// testing.TB for using e2e/raycluster outside `go test` (RunTB).
//
// It must not know what a program measures or checks: no flag definitions
// (SkipSet only parses a -skip value), no reports, no requests to the
// daemon's API, no serve arguments or config files — those stay in each
// program. It is not a test harness (that is
// e2e/daemontest); the e2e tests and e2e/daemontest take only CleanEnv from
// here.
package progkit
