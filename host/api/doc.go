// Package api owns CastRay's HTTP surface: the REST endpoints (the
// original's paths and field names, plus CastRay's own), the WebSocket at
// /ws, authentication, body limits and the JSON error format. The OpenAPI
// document embedded here (openapi.yaml, served at /api/openapi.yaml) is the
// reference for every path.
//
// Handlers translate between HTTP and the host's services; they hold no
// state of their own and must not reach into plugins, the store or Ray
// directly.
package api
