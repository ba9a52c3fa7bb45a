// Package ui holds the browser tests of CastRay's web UI (host/ui): Go tests
// that start the built daemon (e2e/daemontest) beside a live two-node Ray
// cluster (e2e/raycluster: a head plus one worker joined with
// `ray start --address`) and run flows.mjs, a playwright-core script driving
// Debian's chromium, once per flow: the main one (discover, connect, the
// topology shows both Ray nodes, the worker's raylet is killed and its node
// turns dead in the topology without a reload, a file is uploaded by the
// file input and by drag-and-drop, broadcast, and every target's progress
// reaches done), then one per page (nodes, plugins, events, generator,
// transfers with cancel, throughput, distributions, and clusters: disconnect
// and connect by address, the nodes vanishing and coming back live), and a
// daemon with an API token (the login prompt, then pages and /ws work).
//
// Every flow fails on any browser console error or uncaught page error, and
// saves a screenshot of each page it visits in e2e/ui/artifacts/ (or
// $CASTRAY_UI_ARTIFACTS). The browser talks to the daemon through
// daemontest's ProxyURL, which checks every API answer against
// host/api/openapi.yaml: a field the UI relies on that drifts fails here.
//
// It needs node, e2e/ui/node_modules (make ui-deps: npm ci of
// package-lock.json) and chromium ($CASTRAY_CHROMIUM, else chromium on
// PATH). Without them the tests are skipped, except under CI=true, where
// they fail. One Ray cluster serves every flow; raycluster's lock keeps
// other live-Ray test processes out meanwhile. Deadlines only bound a broken
// run; nothing asserts how long anything took.
package ui
