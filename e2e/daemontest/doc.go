// Package daemontest is the e2e suites' shared harness for the built castray
// binary: it owns finding or building the binaries (Main, for TestMain),
// starting `castray serve` as a Daemon (its config file, a private plugin
// directory, a data dir, a free loopback port, a cleaned environment, its
// output in a locked buffer), waiting for /healthz, stopping it (SIGTERM,
// then kill, always through t.Cleanup), and small JSON and polling helpers.
//
// Every request the helpers make goes through Daemon.Client, whose transport
// (host/api/openapitest) checks each response against host/api/openapi.yaml:
// a response that does not match the document fails the test when it ends,
// so the document cannot drift from the daemon unnoticed.
//
// It knows nothing about what a test checks: tests keep their own request
// and response types. Deadlines only bound a broken run; nothing here
// asserts how long anything took.
package daemontest
