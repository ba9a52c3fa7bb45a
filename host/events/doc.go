// Package events is CastRay's in-process event bus.
//
// It owns the Event type, the Bus that fans events out to subscribers, and the
// names of every event type the host publishes (the Type* constants). The
// names are the wire names: the WebSocket endpoint forwards events as
// {"type": ..., "data": ...}, so the constants keep the original CastRay's
// spellings where one existed (status_update, transfer_activity,
// external_cluster_*, message_received).
//
// Each subscriber has its own buffered channel. Publish never waits: an
// event that finds a subscriber's channel full joins its backlog (at most
// MaxBacklog events), which a goroutine of that subscription feeds into the
// channel as the consumer reads, so a consumer that keeps reading survives
// a burst larger than its buffer. One whose channel stays full for a grace
// period (DefaultGrace) is dropped (its channel is closed and Dropped
// reports true). A dropped consumer is expected to resubscribe and rebuild
// its state from a fresh snapshot.
//
// This package must not touch: the registry, the store, the network, or any
// other host package. It does not log, its only goroutines are those
// feeding backlogs, and it knows nothing about what the Data of an event
// contains.
package events
