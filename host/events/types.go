package events

// Event type names. These are the "type" values seen by WebSocket clients.
const (
	// Registry of virtual nodes.
	TypeNodeAdded   = "node_added"
	TypeNodeUpdated = "node_updated"
	TypeNodeRemoved = "node_removed"
	TypeNodeDead    = "node_dead"

	// Periodic status (the original pushed one every 5 s) and full snapshots.
	TypeStatusUpdate = "status_update"
	TypeSnapshot     = "snapshot"

	// Plugin lifecycle.
	TypePluginState = "plugin_state"

	// File transfers.
	// TypeTransferStarted is sent when a transfer starts and each time a
	// retry or resume runs it again; then one transfer_progress per target
	// and step (the last one of a completed target at bytes_total); then
	// exactly one of the five events below, named after the final state.
	TypeTransferStarted     = "transfer_started"
	TypeTransferProgress    = "transfer_progress"
	TypeTransferCompleted   = "transfer_completed"   // every target completed
	TypeTransferPartial     = "transfer_partial"     // some targets completed, some did not
	TypeTransferFailed      = "transfer_failed"      // no target completed
	TypeTransferCancelled   = "transfer_cancelled"   // cancelled by a user
	TypeTransferInterrupted = "transfer_interrupted" // the daemon stopped; resumable
	// TypeTransferActivity is the original CastRay's name for transfer events.
	TypeTransferActivity = "transfer_activity"

	// TypeDistributionUpdated: a standing distribution changed
	// (host/distribution).
	TypeDistributionUpdated = "distribution_updated"

	// Messages delivered to a node (the original's name).
	TypeMessageReceived = "message_received"

	// Cluster discovery.
	TypeDiscoveryStarted            = "discovery_started"
	TypeClusterDiscovered           = "cluster_discovered"
	TypeDiscoveryFinished           = "discovery_finished"
	TypeExternalClusterDiscovered   = "external_cluster_discovered"
	TypeExternalClusterConnected    = "external_cluster_connected"
	TypeExternalClusterDisconnected = "external_cluster_disconnected"
)
