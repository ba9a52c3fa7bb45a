package sdk

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"

	castrayv1 "github.com/castray/castray/sdk/proto/castray/v1"
)

// APIVersion is the newest plugin API version this SDK speaks.
//
// Versions are negotiated the way hashicorp/go-plugin intends: the daemon
// offers every version in APIVersions (PLUGIN_PROTOCOL_VERSIONS), a plugin
// serves one go-plugin plugin set per version it implements (see
// WithAPIVersions; the default is every version of its SDK), and go-plugin
// picks the highest version both sides have. The daemon passes the
// negotiated version to Configure (ConfigureRequest.api_version) and shows
// it in /api/plugins. Version 1 is a promise: a plugin written against it
// keeps building against later SDKs and keeps loading in later daemons.
const APIVersion = 1

// APIVersions returns every plugin API version this SDK speaks, oldest
// first. The daemon offers all of them; a plugin serves them all unless it
// says otherwise with WithAPIVersions.
func APIVersions() []int { return []int{1} }

// Handshake is shared by the daemon and every plugin. The magic cookie only
// stops a plugin binary from being run by hand by mistake; it is not a
// security measure (mTLS and the optional SHA-256 pin are).
//
// The cookie is independent of the API version: its value ends in "v1" for
// history only and never changes, so plugins of every API version pass the
// same handshake and the version is settled by negotiation alone.
// ProtocolVersion is go-plugin's legacy single version, used only by a peer
// that sends no list of versions; both sides here always use
// VersionedPlugins.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1, // the oldest version: what a legacy peer speaks
	MagicCookieKey:   "CASTRAY_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "6f1c0f3e-castray-plugin-v1",
}

// Names of the entries of the go-plugin plugin set. Every plugin serves
// PluginSetBase and exactly one of the kind entries.
const (
	PluginSetBase      = "plugin"
	PluginSetDiscovery = "discovery"
	PluginSetTransfer  = "transfer"
)

// The wire types, re-exported so that plugin authors import only this
// package. They are documented in sdk/proto/castray/v1.
type (
	PluginInfo           = castrayv1.PluginInfo
	PluginKind           = castrayv1.PluginKind
	ConfigSchema         = castrayv1.ConfigSchema
	ConfigField          = castrayv1.ConfigField
	ConfigureRequest     = castrayv1.ConfigureRequest
	ConfigError          = castrayv1.ConfigError
	DiscoverRequest      = castrayv1.DiscoverRequest
	ClusterCandidate     = castrayv1.ClusterCandidate
	ClusterStatus        = castrayv1.ClusterStatus
	DiscoverNote         = castrayv1.DiscoverNote
	DiscoverSummary      = castrayv1.DiscoverSummary
	TransferCapabilities = castrayv1.TransferCapabilities
	CastMode             = castrayv1.CastMode
	FileSpec             = castrayv1.FileSpec
	Target               = castrayv1.Target
	SendRequest          = castrayv1.SendRequest
	TargetState          = castrayv1.TargetState
	TargetProgress       = castrayv1.TargetProgress
	TargetResult         = castrayv1.TargetResult
	SendSummary          = castrayv1.SendSummary
)

// Enum values, re-exported.
const (
	KindDiscovery = castrayv1.PluginKind_PLUGIN_KIND_DISCOVERY
	KindTransfer  = castrayv1.PluginKind_PLUGIN_KIND_TRANSFER

	StatusActive   = castrayv1.ClusterStatus_CLUSTER_STATUS_ACTIVE
	StatusInactive = castrayv1.ClusterStatus_CLUSTER_STATUS_INACTIVE
	StatusUnknown  = castrayv1.ClusterStatus_CLUSTER_STATUS_UNKNOWN

	Unicast   = castrayv1.CastMode_CAST_MODE_UNICAST
	Multicast = castrayv1.CastMode_CAST_MODE_MULTICAST
	Broadcast = castrayv1.CastMode_CAST_MODE_BROADCAST

	TargetPending   = castrayv1.TargetState_TARGET_STATE_PENDING
	TargetRunning   = castrayv1.TargetState_TARGET_STATE_RUNNING
	TargetDone      = castrayv1.TargetState_TARGET_STATE_DONE
	TargetFailed    = castrayv1.TargetState_TARGET_STATE_FAILED
	TargetCancelled = castrayv1.TargetState_TARGET_STATE_CANCELLED
)

// Plugin is the base contract every plugin implements.
type Plugin interface {
	// Info identifies the plugin; cheap, and valid before Configure.
	Info(ctx context.Context) (*PluginInfo, error)
	// ConfigSchema describes the keys Configure accepts.
	ConfigSchema(ctx context.Context) (*ConfigSchema, error)
	// Configure validates and applies the configuration. Problems with the
	// configuration are returned as ConfigErrors naming the key; the error
	// result is for failures of the call itself.
	Configure(ctx context.Context, req *ConfigureRequest) ([]*ConfigError, error)
}

// Discoverer is a discovery strategy.
type Discoverer interface {
	Plugin
	// Discover looks for Ray clusters within the request's scope, reporting
	// each one to sink as soon as it is found, and returns a summary. It
	// must return promptly once ctx is done.
	Discover(ctx context.Context, req *DiscoverRequest, sink DiscoverSink) (*DiscoverSummary, error)
}

// DiscoverSink receives what a Discover call finds.
//
// A DiscoverSink is safe for concurrent use: a Discoverer may call Candidate
// and Note from as many goroutines as it likes, without a lock of its own.
// The sink a plugin is given by ServeDiscovery serialises the sends onto the
// gRPC stream (a call may block while the daemon catches up), and every
// implementation must be as safe: the daemon's, plugintest.Sink, and any a
// test hands to Discover directly.
//
// An error from the sink means the caller has gone away: stop and return
// it. The plugin-side sink then fails every later call too, and so it does
// once Discover has returned: report nothing after that.
type DiscoverSink interface {
	Candidate(*ClusterCandidate) error
	Note(*DiscoverNote) error
}

// Transferer is a transfer backend.
type Transferer interface {
	Plugin
	// Capabilities says what the backend can do.
	Capabilities(ctx context.Context) (*TransferCapabilities, error)
	// Send delivers req.File to req.Targets, reporting progress and one
	// result per target to sink, and returns a summary. Cancelling ctx
	// cancels the transfer.
	Send(ctx context.Context, req *SendRequest, sink TransferSink) (*SendSummary, error)
	// Cancel stops the running Send with that transfer id and discards its
	// partial state; false when none was running.
	Cancel(ctx context.Context, transferID string) (bool, error)
}

// TargetCanceller is implemented by a Transferer that can cancel some
// targets of a running Send while the others go on (for example when a
// target node is deleted mid-transfer). The cancelled targets report
// TargetCancelled and keep no partial state. Optional: the daemon falls back
// to letting such a target finish when a backend lacks it.
type TargetCanceller interface {
	CancelTargets(ctx context.Context, transferID string, nodeIDs []string) (bool, error)
}

// TransferSink receives what a Send call reports. An error from the sink
// means the caller has gone away: stop and return it.
type TransferSink interface {
	Progress(*TargetProgress) error
	Result(*TargetResult) error
}
