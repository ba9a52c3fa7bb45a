// Package events is CastRay's in-process event bus.
//
// It owns the Event type, the Bus that fans events out to subscribers, and the
// names of every event type the host publishes (the Type* constants). The
// names are the wire names: the WebSocket endpoint forwards events as
// {"type": ..., "data": ...}, so the constants keep the original CastRay's
// spellings where one existed (status_update, transfer_activity,
// external_cluster_*, message_received).
//
// Each subscriber has its own buffered channel. Publish waits a grace
// period (DefaultGrace) for a subscriber whose buffer is full to take an
// event, so that a consumer that keeps reading survives a burst larger than
// its buffer; one that takes nothing in that time is dropped (its channel is closed and Dropped
// reports true) rather than slowing the publisher or other subscribers any
// longer. A dropped consumer is expected to resubscribe and rebuild its
// state from a fresh snapshot.
//
// This package must not touch: the registry, the store, the network, or any
// other host package. It has no goroutines of its own and does not log; it
// knows nothing about what the Data of an event contains.
package events
