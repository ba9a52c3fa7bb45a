// Package client is a typed Go client of the CastRay daemon's REST and
// WebSocket API (host/api/openapi.yaml is the reference): files (streaming
// upload and download with progress callbacks, list, delete), transfers
// (start, list, get, cancel or delete, retry, wait), groups, nodes (list, get,
// create, delete, files and their download, messages, select, the external
// nodes), external clusters (discover, last round, connect, disconnect, list,
// external-info), plugins, status, config, token rotation, distributions, the original's
// routes (send, manual file transfer and its status, the file generator) and
// the /ws event stream. The enum values the API accepts are exported
// (NodeKinds, TransferStates, CastTypes, GenContentTypes...) so a caller can
// refuse a bad value before it sends anything.
//
// Replies that are not objects (GET /api/nodes/{id}/messages is a bare
// array, /api/file-transfers/status and /api/config have no envelope) still
// come as reply types with Raw, holding the decoded value in a field.
//
// It lives under host/api, next to the server and the OpenAPI document it
// speaks, because two consumers share it: the castray command-line client
// (cmd/castray) and the end-to-end tests (e2e). Its types are its own copies of
// the OpenAPI schemas, not the server's internal types, so importing it pulls in
// neither the daemon nor its web framework.
//
// Every reply type keeps the body it was decoded from (Raw), so a caller that
// must show the API's exact JSON (castray -o json) can. A non-2xx answer is an
// *Error carrying the HTTP status and the message of the API's error body
// {"success": false, "error": "..."}.
package client
