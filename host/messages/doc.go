// Package messages keeps the text and JSON messages sent to nodes with the
// original CastRay's POST /api/send, and serves each node's recent ones
// (GET /api/nodes/{node_id}/messages).
//
// For messages, recording in the daemon is the delivery: a message sent to
// a local node, a Ray node or a Ray actor is written to the store and
// announced with one message_received event per recipient; nothing is
// pushed into the node itself. (Files are different: they go through the
// transfer service and land in the node's inbox or on the Ray node.)
//
// One send is one record in the store (bucket "messages", key its sequence
// number), whatever the number of recipients, so a broadcast costs one
// fsync. Memory holds only an index: per node, the sequence numbers of its
// last MaxPerNode entries ("received", and "sent" for a sender that is a
// node). A record no node still lists is deleted. Message bodies are read
// from the store when a node's messages are asked for.
//
// The package must not serve HTTP or change the registry.
package messages
