// Package daemon assembles the CastRay daemon from its parts — store,
// registry, event bus, plugin manager, transfer service and HTTP API — in
// the right order, runs it, and takes it down again: HTTP first, then
// transfers, then plugins (no plugin process survives), then the store.
//
// It owns start-up policy (data dir layout, demo nodes, the generated API
// token when listening beyond loopback) and nothing else: the work itself
// belongs to the packages it wires together.
package daemon
