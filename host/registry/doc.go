// Package registry is CastRay's registry of virtual nodes: the local nodes
// this daemon owns (each with an inbox folder files are delivered to) and
// the nodes and actors of external Ray clusters, as last reported by the
// plugins that watch those clusters.
//
// It owns the Node record and its validation, the in-memory node set, the
// diff of an external cluster's node list into node_* events (with
// SyncClusterKeep, a caller that knows a kind of nodes did not change
// skips it at no cost per node), and the
// persistence of local nodes (bucket "nodes", through a Persister).
// External nodes are live data and are never persisted.
//
// It must not touch: the network, Ray, plugins, the HTTP API, or the files
// inside inbox folders. It creates an inbox folder when a local node is
// added and never deletes one (removing a node never loses files). It
// reports changes only through the Emitter it is given (the host wires that
// to events.Bus.Publish) and does not import the event bus or the store.
package registry
