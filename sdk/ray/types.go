package ray

// Node is one Ray node as CastRay needs it, whichever API it came from
// (the dashboard's State API or the GCS's GetAllNodeInfo).
type Node struct {
	// NodeID is the node id in hex (56 characters).
	NodeID string `json:"node_id"`
	// Address is the node manager's IP address.
	Address     string `json:"address"`
	Hostname    string `json:"hostname,omitempty"`
	NodeName    string `json:"node_name,omitempty"`
	IsHead      bool   `json:"is_head"`
	State       string `json:"state"` // "ALIVE" or "DEAD"
	StateReason string `json:"state_reason,omitempty"`
	// ResourcesTotal uses Ray's resource names ("CPU", "memory", ...).
	ResourcesTotal map[string]float64 `json:"resources_total,omitempty"`
	// ResourcesAvailable is set when the API reports it.
	ResourcesAvailable map[string]float64 `json:"resources_available,omitempty"`
	Labels             map[string]string  `json:"labels,omitempty"`
	NodeManagerPort    int                `json:"node_manager_port,omitempty"`
	StartTimeMs        uint64             `json:"start_time_ms,omitempty"`
	EndTimeMs          uint64             `json:"end_time_ms,omitempty"`
	// SessionDir and SessionName are the node's session (GCS only, Ray
	// 2.60's GcsNodeInfo.session_dir; the name is its basename).
	SessionDir  string `json:"session_dir,omitempty"`
	SessionName string `json:"session_name,omitempty"`
}

// Actor is one Ray actor.
type Actor struct {
	ActorID   string `json:"actor_id"`
	ClassName string `json:"class_name"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// State is DEPENDENCIES_UNREADY, PENDING_CREATION, ALIVE, RESTARTING or DEAD.
	State  string `json:"state"`
	NodeID string `json:"node_id,omitempty"`
	JobID  string `json:"job_id,omitempty"`
	PID    uint32 `json:"pid,omitempty"`
	// Address is the actor worker's "ip:port" when known.
	Address           string             `json:"address,omitempty"`
	RequiredResources map[string]float64 `json:"required_resources,omitempty"`
}

// ClusterInfo identifies a cluster.
type ClusterInfo struct {
	ClusterID    string `json:"cluster_id,omitempty"` // hex
	SessionName  string `json:"session_name,omitempty"`
	RayVersion   string `json:"ray_version,omitempty"`
	GCSAddress   string `json:"gcs_address,omitempty"`
	DashboardURL string `json:"dashboard_url,omitempty"`
	AuthMode     string `json:"auth_mode,omitempty"` // "disabled", "token", "k8s" or "" when unknown
}

// AliveTotals counts the alive nodes and sums their ResourcesTotal (an
// empty map when none is alive): what a cluster has now, by Ray's names.
func AliveTotals(nodes []Node) (alive int, resources map[string]float64) {
	resources = map[string]float64{}
	for _, n := range nodes {
		if n.State != "ALIVE" {
			continue
		}
		alive++
		for k, v := range n.ResourcesTotal {
			resources[k] += v
		}
	}
	return alive, resources
}

// AliveHead returns the first alive head node, if any.
func AliveHead(nodes []Node) (Node, bool) {
	for _, n := range nodes {
		if n.IsHead && n.State == "ALIVE" {
			return n, true
		}
	}
	return Node{}, false
}
