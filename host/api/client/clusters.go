package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// DiscoverRequest narrows a discovery round. Connect nil lets the daemon
// decide (it connects); the CLI sends false unless asked to connect.
type DiscoverRequest struct {
	Hosts     []string `json:"hosts,omitempty"`
	Ports     []uint32 `json:"ports,omitempty"`
	Plugins   []string `json:"plugins,omitempty"`
	TimeoutMS int64    `json:"timeout_ms,omitempty"`
	Connect   *bool    `json:"connect,omitempty"`
	// IncludeStale lists the inactive clusters (stale sessions) too.
	IncludeStale bool `json:"include_stale,omitempty"`
}

// SourceEvidence is what one discovery plugin saw of a cluster.
type SourceEvidence struct {
	Source    string   `json:"source"`
	Evidence  []string `json:"evidence"`
	ElapsedMS int64    `json:"elapsed_ms"`
	Status    string   `json:"status"`
}

// DiscoveredCluster is one cluster a discovery round found.
type DiscoveredCluster struct {
	ID            string             `json:"id"`
	Source        string             `json:"source,omitempty"`
	Sources       []string           `json:"sources"`
	Evidence      []SourceEvidence   `json:"evidence"`
	GCSAddress    string             `json:"gcs_address,omitempty"`
	DashboardURL  string             `json:"dashboard_url,omitempty"`
	ClientAddress string             `json:"client_address,omitempty"`
	SessionDir    string             `json:"session_dir,omitempty"`
	SessionName   string             `json:"session_name,omitempty"`
	ClusterID     string             `json:"cluster_id,omitempty"`
	RayVersion    string             `json:"ray_version,omitempty"`
	Nodes         int                `json:"nodes"`
	Resources     map[string]float64 `json:"resources"`
	ResourcesUsed map[string]float64 `json:"resources_used,omitempty"`
	Status        string             `json:"status"`
	AuthRequired  bool               `json:"auth_required"`       // a plugin needed a token it lacked
	AuthMode      string             `json:"auth_mode,omitempty"` // "token" when the cluster uses tokens
	Attributes    map[string]string  `json:"attributes,omitempty"`
}

// DiscoveryNote is a plugin's note.
type DiscoveryNote struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

// DiscoveryPluginRun is one plugin's part of a round.
type DiscoveryPluginRun struct {
	Name       string          `json:"name"`
	DurationMS int64           `json:"duration_ms"`
	Candidates int             `json:"candidates"`
	Probes     int             `json:"probes"`
	Error      string          `json:"error,omitempty"`
	Errors     []string        `json:"errors,omitempty"`
	Notes      []DiscoveryNote `json:"notes,omitempty"`
}

// DiscoveryResult is one discovery round.
type DiscoveryResult struct {
	ID         string                        `json:"id"`
	StartedAt  time.Time                     `json:"started_at"`
	FinishedAt time.Time                     `json:"finished_at"`
	DurationMS int64                         `json:"duration_ms"`
	Clusters   []DiscoveredCluster           `json:"clusters"`
	Plugins    map[string]DiscoveryPluginRun `json:"plugins"`
}

// ConnectAttempt is one way of reaching a cluster that was tried.
type ConnectAttempt struct {
	Method     string `json:"method"`
	Address    string `json:"address"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// DiscoveryConnection is one connection a round attempted.
type DiscoveryConnection struct {
	DiscoveredID string           `json:"discovered_id"`
	Address      string           `json:"address"`
	Success      bool             `json:"success"`
	ClusterID    string           `json:"cluster_id,omitempty"`
	Error        string           `json:"error,omitempty"`
	Attempts     []ConnectAttempt `json:"attempts,omitempty"`
}

// DiscoverResponse is POST /api/cluster/discover-external (and GET
// /api/cluster/discovery).
type DiscoverResponse struct {
	Envelope
	DiscoveredClusters []DiscoveredCluster        `json:"discovered_clusters"`
	ConnectedCluster   *string                    `json:"connected_cluster"`
	ExternalNodes      map[string]json.RawMessage `json:"external_nodes"`
	Error              *string                    `json:"error"`
	Discovery          DiscoveryResult            `json:"discovery"`
	Connections        []DiscoveryConnection      `json:"connections"`
	// StaleHidden counts the stale sessions left out (include_stale).
	StaleHidden int `json:"stale_hidden"`
}

// Discover runs a discovery round.
func (c *Client) Discover(ctx context.Context, req DiscoverRequest) (*DiscoverResponse, error) {
	return call[DiscoverResponse](ctx, c, http.MethodPost, "/api/cluster/discover-external", req)
}

// LastDiscovery gets the last round; includeStale lists its stale
// sessions too.
func (c *Client) LastDiscovery(ctx context.Context, includeStale bool) (*DiscoverResponse, error) {
	path := "/api/cluster/discovery"
	if includeStale {
		path += "?include_stale=true"
	}
	return call[DiscoverResponse](ctx, c, http.MethodGet, path, nil)
}

// Cluster is one external cluster connection.
type Cluster struct {
	ID           string           `json:"id"`
	Address      string           `json:"address"`
	Via          string           `json:"via"`
	State        string           `json:"state"`
	ClusterID    string           `json:"cluster_id,omitempty"`
	SessionName  string           `json:"session_name,omitempty"`
	RayVersion   string           `json:"ray_version,omitempty"`
	DashboardURL string           `json:"dashboard_url,omitempty"`
	GCSAddress   string           `json:"gcs_address,omitempty"`
	Nodes        int              `json:"nodes"`
	AliveNodes   int              `json:"alive_nodes"`
	Actors       int              `json:"actors"`
	ConnectedAt  time.Time        `json:"connected_at"`
	LastSync     *time.Time       `json:"last_sync,omitempty"`
	LastError    string           `json:"last_error,omitempty"`
	Reconnects   int              `json:"reconnects"`
	Attempts     []ConnectAttempt `json:"attempts,omitempty"`
	// NextAttemptAt is when a "connecting" cluster is dialed next.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// ClusterList is GET /api/clusters.
type ClusterList struct {
	Envelope
	Clusters []Cluster `json:"clusters"`
	Count    int       `json:"count"`
}

// ConnectResponse is POST /api/cluster/connect-external.
type ConnectResponse struct {
	Envelope
	Message       string                     `json:"message"`
	Cluster       Cluster                    `json:"cluster"`
	ExternalNodes map[string]json.RawMessage `json:"external_nodes"`
}

// DisconnectResponse is DELETE /api/cluster/disconnect-external.
type DisconnectResponse struct {
	Envelope
	Message      string    `json:"message"`
	Disconnected []Cluster `json:"disconnected"`
}

// Clusters lists the external cluster connections.
func (c *Client) Clusters(ctx context.Context) (*ClusterList, error) {
	return call[ClusterList](ctx, c, http.MethodGet, "/api/clusters", nil)
}

// Connect connects to a Ray cluster by dashboard URL, host:port, ray:// or
// GCS address.
func (c *Client) Connect(ctx context.Context, address string) (*ConnectResponse, error) {
	return call[ConnectResponse](ctx, c, http.MethodPost, "/api/cluster/connect-external", map[string]string{"cluster_address": address})
}

// Disconnect ends one connection, or every one when clusterID is empty.
func (c *Client) Disconnect(ctx context.Context, clusterID string) (*DisconnectResponse, error) {
	path := "/api/cluster/disconnect-external"
	if clusterID != "" {
		path += "?cluster_id=" + url.QueryEscape(clusterID)
	}
	return call[DisconnectResponse](ctx, c, http.MethodDelete, path, nil)
}

// ExternalInfo is GET /api/cluster/external-info.
type ExternalInfo struct {
	Envelope
	IsConnected      bool                    `json:"is_connected"`
	ConnectedCluster *string                 `json:"connected_cluster"`
	ExternalNodes    map[string]ExternalNode `json:"external_nodes"`
	Clusters         []Cluster               `json:"clusters"`
}

// ExternalInfo gets the original's summary of the external clusters.
func (c *Client) ExternalInfo(ctx context.Context) (*ExternalInfo, error) {
	return call[ExternalInfo](ctx, c, http.MethodGet, "/api/cluster/external-info", nil)
}
