package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Node is a virtual node (schema Node).
type Node struct {
	ID        string             `json:"id"`
	Kind      string             `json:"kind"`
	Name      string             `json:"name,omitempty"`
	State     string             `json:"state"`
	Address   string             `json:"address,omitempty"`
	Port      int                `json:"port,omitempty"`
	InboxDir  string             `json:"inbox_dir,omitempty"`
	ClusterID string             `json:"cluster_id,omitempty"`
	Hostname  string             `json:"hostname,omitempty"`
	IsHead    bool               `json:"is_head,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	Available map[string]float64 `json:"available,omitempty"`
	Labels    map[string]string  `json:"labels,omitempty"`
	Source    string             `json:"source,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
	LastSeen  time.Time          `json:"last_seen"`
}

// NodeList is GET /api/nodes.
type NodeList struct {
	Envelope
	Nodes []Node `json:"nodes"`
	Count int    `json:"count"`
}

// NodeResponse is GET /api/nodes/{id}.
type NodeResponse struct {
	Envelope
	Node Node `json:"node"`
}

// NodeFilter narrows GET /api/nodes; empty fields do not filter.
type NodeFilter struct{ Kind, Cluster, State string }

// Nodes lists the virtual nodes.
func (c *Client) Nodes(ctx context.Context, f NodeFilter) (*NodeList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"kind": f.Kind, "cluster": f.Cluster, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/api/nodes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return call[NodeList](ctx, c, http.MethodGet, path, nil)
}

// Node gets one node.
func (c *Client) Node(ctx context.Context, id string) (*NodeResponse, error) {
	return call[NodeResponse](ctx, c, http.MethodGet, "/api/nodes/"+esc(id), nil)
}

// Selector chooses nodes by what they are (schema Selector); the zero
// Selector matches every node.
type Selector struct {
	Cluster   string             `json:"cluster,omitempty"`
	Kind      string             `json:"kind,omitempty"`
	State     string             `json:"state,omitempty"`
	Labels    map[string]string  `json:"labels,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	Available map[string]float64 `json:"available,omitempty"`
}

// PickRules are the rules of a Pick.
var PickRules = []string{"least-loaded", "most-available"}

// Pick chooses Count of the matching active nodes by Rule (least-loaded
// when empty, or most-available).
type Pick struct {
	Count int    `json:"count"`
	Rule  string `json:"rule,omitempty"`
}

// Choice is one node a pick chose, with why.
type Choice struct {
	NodeID          string   `json:"node_id"`
	Rank            int      `json:"rank"`
	ActiveTransfers int      `json:"active_transfers"`
	Available       float64  `json:"available"`
	ScoreResources  []string `json:"score_resources"`
	Reason          string   `json:"reason"`
}

// SelectRequest is POST /api/nodes/select.
type SelectRequest struct {
	Selector Selector `json:"selector"`
	Pick     *Pick    `json:"pick,omitempty"`
}

// SelectResponse is the answer of POST /api/nodes/select.
type SelectResponse struct {
	Envelope
	Selector        Selector       `json:"selector"`
	Matches         []Node         `json:"matches"`
	Count           int            `json:"count"`
	ActiveTransfers map[string]int `json:"active_transfers"`
	Pick            *Pick          `json:"pick,omitempty"`
	Chosen          []Choice       `json:"chosen,omitempty"`
}

// SelectNodes is a dry run: the nodes a selector matches and, with a pick,
// the ones it would choose.
func (c *Client) SelectNodes(ctx context.Context, req SelectRequest) (*SelectResponse, error) {
	return call[SelectResponse](ctx, c, http.MethodPost, "/api/nodes/select", req)
}

// StatusReport is GET /api/status.
type StatusReport struct {
	Envelope
	TotalNodes    int            `json:"total_nodes"`
	ActiveNodes   int            `json:"active_nodes"`
	NodeStatuses  []NodeStatus   `json:"node_statuses"`
	RayCluster    RayCluster     `json:"ray_cluster"`
	NodePorts     map[string]int `json:"node_ports"`
	Plugins       PluginCounts   `json:"plugins"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
}

// NodeStatus is one entry of StatusReport.NodeStatuses.
type NodeStatus struct {
	NodeID    string             `json:"node_id"`
	IsRunning bool               `json:"is_running"`
	NodeType  string             `json:"node_type"`
	Kind      string             `json:"kind"`
	State     string             `json:"state"`
	Address   string             `json:"address,omitempty"`
	Port      int                `json:"port,omitempty"`
	ClusterID string             `json:"cluster_id,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	LastSeen  time.Time          `json:"last_seen"`
}

// RayCluster sums the active Ray nodes' resources.
type RayCluster struct {
	Connected          bool               `json:"connected"`
	ClusterResources   map[string]float64 `json:"cluster_resources"`
	AvailableResources map[string]float64 `json:"available_resources"`
	Nodes              int                `json:"nodes"`
}

// PluginCounts counts plugins.
type PluginCounts struct {
	Total   int `json:"total"`
	Healthy int `json:"healthy"`
}

// Status gets the daemon's status report.
func (c *Client) Status(ctx context.Context) (*StatusReport, error) {
	return call[StatusReport](ctx, c, http.MethodGet, "/api/status", nil)
}

// PluginConfigField is one setting a plugin declares.
type PluginConfigField struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Default     string `json:"default,omitempty"`
}

// PluginStatus is one plugin (schema PluginStatus).
type PluginStatus struct {
	Name          string              `json:"name"`
	Kind          string              `json:"kind"`
	Path          string              `json:"path"`
	SHA256        string              `json:"sha256"`
	Version       string              `json:"version"`
	APIVersion    int                 `json:"api_version"`
	APIVersions   []int               `json:"api_versions,omitempty"`
	Description   string              `json:"description,omitempty"`
	State         string              `json:"state"`
	LastError     string              `json:"last_error,omitempty"`
	Restarts      int                 `json:"restarts"`
	PID           int                 `json:"pid,omitempty"`
	StartedAt     *time.Time          `json:"started_at,omitempty"`
	ConfigSchema  []PluginConfigField `json:"config_schema,omitempty"`
	LastHealthyAt *time.Time          `json:"last_healthy_at,omitempty"`
}

// PluginList is GET /api/plugins.
type PluginList struct {
	Envelope
	Plugins []PluginStatus `json:"plugins"`
	Count   int            `json:"count"`
}

// Plugins lists the daemon's plugins.
func (c *Client) Plugins(ctx context.Context) (*PluginList, error) {
	return call[PluginList](ctx, c, http.MethodGet, "/api/plugins", nil)
}

// Node kinds and states (schemas NodeKind, NodeState).
var (
	NodeKinds  = []string{"local", "ray-node", "ray-actor"}
	NodeStates = []string{"active", "inactive", "dead"}
)

// CreateNodeRequest is POST /api/nodes.
type CreateNodeRequest struct {
	NodeID string `json:"node_id"`
	Port   int    `json:"port,omitempty"`
}

// CreateNodeResponse answers POST /api/nodes (201).
type CreateNodeResponse struct {
	Envelope
	Message string `json:"message"`
	Node    Node   `json:"node"`
}

// DeleteNodeResponse answers DELETE /api/nodes/{id}.
type DeleteNodeResponse struct {
	Envelope
	Message            string   `json:"message"`
	InboxPurged        bool     `json:"inbox_purged"`
	CancelledTransfers []string `json:"cancelled_transfers"`
}

// CreateNode adds an active local node with an inbox folder.
func (c *Client) CreateNode(ctx context.Context, req CreateNodeRequest) (*CreateNodeResponse, error) {
	return call[CreateNodeResponse](ctx, c, http.MethodPost, "/api/nodes", req)
}

// DeleteNode removes a local node; purge also deletes its inbox folder.
func (c *Client) DeleteNode(ctx context.Context, id string, purge bool) (*DeleteNodeResponse, error) {
	path := "/api/nodes/" + esc(id)
	if purge {
		path += "?purge=true"
	}
	return call[DeleteNodeResponse](ctx, c, http.MethodDelete, path, nil)
}

// NodeFile is a file a node received (schema NodeFile).
type NodeFile struct {
	Name       string     `json:"name"`
	Size       int64      `json:"size"`
	Modified   *time.Time `json:"modified,omitempty"`
	SHA256     string     `json:"sha256,omitempty"`
	TransferID string     `json:"transfer_id,omitempty"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
	Location   string     `json:"location,omitempty"`
}

// NodeFileList is GET /api/nodes/{id}/files.
type NodeFileList struct {
	Envelope
	NodeID string     `json:"node_id"`
	Files  []NodeFile `json:"files"`
	Count  int        `json:"count"`
}

// NodeFiles lists the files a node received.
func (c *Client) NodeFiles(ctx context.Context, id string) (*NodeFileList, error) {
	return call[NodeFileList](ctx, c, http.MethodGet, "/api/nodes/"+esc(id)+"/files", nil)
}

// ExternalNode is a node of a connected cluster in the original's shape
// (schema ExternalNode).
type ExternalNode struct {
	ID            string             `json:"id"`
	Address       string             `json:"address"`
	Status        string             `json:"status"`
	Type          string             `json:"type"`
	ClusterSource string             `json:"cluster_source"`
	LastSeen      time.Time          `json:"last_seen"`
	Kind          string             `json:"kind"`
	Name          string             `json:"name,omitempty"`
	ClusterID     string             `json:"cluster_id"`
	Hostname      string             `json:"hostname,omitempty"`
	IsHead        bool               `json:"is_head,omitempty"`
	Resources     map[string]float64 `json:"resources,omitempty"`
	Available     map[string]float64 `json:"available,omitempty"`
	Labels        map[string]string  `json:"labels,omitempty"`
}

// ExternalNodeList is GET /api/nodes/external.
type ExternalNodeList struct {
	Envelope
	ExternalNodes []ExternalNode `json:"external_nodes"`
	Count         int            `json:"count"`
}

// ExternalNodes lists the nodes of the connected clusters (of one
// connection when cluster is set) in the original's shape.
func (c *Client) ExternalNodes(ctx context.Context, cluster string) (*ExternalNodeList, error) {
	path := "/api/nodes/external"
	if cluster != "" {
		path += "?cluster=" + url.QueryEscape(cluster)
	}
	return call[ExternalNodeList](ctx, c, http.MethodGet, path, nil)
}

// Config is GET /api/config: the daemon's effective configuration, secrets
// redacted. Values holds it decoded; Raw as it came.
type Config struct {
	Envelope
	Values map[string]any
}

// UnmarshalJSON reads the configuration object (it has no envelope).
func (c *Config) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.Values) }

// Config gets the daemon's effective configuration.
func (c *Client) Config(ctx context.Context) (*Config, error) {
	return call[Config](ctx, c, http.MethodGet, "/api/config", nil)
}
