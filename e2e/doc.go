// Package e2e drives the built castray binary and its plugin binaries as a
// user would: over HTTP, WebSocket, signals and files, with real plugins
// and (in e2e/raycluster and the tests built on it) real Ray clusters.
//
// The binaries come from $CASTRAY_BIN_DIR (make e2e sets it to bin/); when
// unset, TestMain builds them into a temporary folder. Nothing here may
// import the daemon's packages: the point is to test what ships. The one
// exception is host/api/openapitest, which runs no daemon code: it holds
// the API document (the one the binary embeds and serves) that every
// response the harness gets is checked against.
package e2e
