// Package openapitest checks HTTP traffic against CastRay's OpenAPI document
// (host/api/openapi.yaml, the one embedded in the daemon and served at
// /api/openapi.yaml), so that a response that drifts from the document fails
// a test instead of going unnoticed.
//
// It owns loading that document (once per process, validated with
// kin-openapi), routing a request to its documented operation, and checking
// a response against it: the route is documented, the status code is
// documented for it, the Content-Type is one the document lists for that
// status, documented response headers are well formed, and a
// JSON body matches its schema (JSON Schema 2020-12, as OpenAPI 3.1 has it).
// An object schema that lists its properties refuses others here (the
// document itself leaves most of them open): a field the server adds or
// renames without documenting it is drift too.
// Binary and streaming answers (file downloads, ranges, /metrics, the
// document itself) are checked for status and headers only; their bodies are
// never read here. HEAD is checked as the GET it mirrors, for status and
// headers. An undocumented path answered 404 (or 401 before routing) with
// the JSON error body is what the document's introduction promises, and
// passes.
//
// Checking must be cheap, as suites poll: the document is loaded once per
// process, and each body schema is compiled once (JSON Schema 2020-12 with
// santhosh-tekuri/jsonschema, the validator kin-openapi itself uses for 3.1,
// over the whole document so its $refs resolve) and reused; kin-openapi
// routes and checks the headers.
//
// Requests are not validated: tests send malformed requests on purpose to
// check the errors they get back, and those errors are what is checked.
//
// Transport is an http.RoundTripper that checks every response passing
// through it and records the mismatches; Watch makes one whose mismatches
// fail the test when it ends. The e2e harnesses (e2e/daemontest and the root
// e2e package) route every request to a daemon through one.
//
// It must not change what a test sees: a JSON body it reads is handed back
// unchanged, and a body it does not need is left unread.
package openapitest
