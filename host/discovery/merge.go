package discovery

import (
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/castray/castray/sdk"
)

// Cluster is one merged cluster record.
type Cluster struct {
	// ID is stable for the same cluster across rounds: derived from the
	// strongest identifier known.
	ID            string             `json:"id"`
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
	Status        string             `json:"status"` // active | inactive | unknown
	AuthRequired  bool               `json:"auth_required"`
	Attributes    map[string]string  `json:"attributes,omitempty"`
}

// SourceEvidence is what one strategy saw of a cluster.
type SourceEvidence struct {
	Source    string   `json:"source"`
	Evidence  []string `json:"evidence"`
	ElapsedMS uint32   `json:"elapsed_ms"`
	Status    string   `json:"status"`
}

// normalizer maps host names that mean "this machine" to 127.0.0.1.
type normalizer struct{ local map[string]bool }

func newNormalizer(extra ...string) normalizer {
	n := normalizer{local: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, "0.0.0.0": true, "": true}}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				n.local[ipn.IP.String()] = true
			}
		}
	}
	for _, e := range extra {
		n.local[e] = true
	}
	return n
}

func (n normalizer) host(h string) string {
	h = strings.ToLower(strings.Trim(h, "[]"))
	if n.local[h] || strings.HasPrefix(h, "127.") {
		return "127.0.0.1"
	}
	return h
}

// hostPort normalises "host:port" (a scheme such as ray:// or http:// is
// dropped).
func (n normalizer) hostPort(addr string) string {
	if addr == "" {
		return ""
	}
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	addr = strings.TrimRight(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.ToLower(addr)
	}
	return net.JoinHostPort(n.host(host), port)
}

// dashboard normalises a dashboard URL to http(s)://host:port.
func (n normalizer) dashboard(raw string) string {
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return strings.ToLower(raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(n.host(u.Hostname()), port)
}

// merger accumulates candidates into groups, one per cluster. Matching is
// transitive: a candidate that shares an identifier with two groups joins
// them into one (a GCS-only candidate and a dashboard-only candidate become
// one cluster once a third candidate names both), unless their strong
// identifiers conflict.
type merger struct {
	norm   normalizer
	groups []*group
}

// group is the candidates of one cluster and the identifiers they name.
type group struct {
	cands    []*sdk.ClusterCandidate
	ids      map[string]bool // "cid:", "session:", "gcs:", "dash:", "client:" keys
	clusters map[string]bool // cluster ids (strong)
	sessions map[string]bool // session names (strong)
	active   bool            // some candidate says the cluster runs
	inactive bool            // some candidate says it does not
	merged   *Cluster
}

func statusName(s sdk.ClusterStatus) string {
	switch s {
	case sdk.StatusActive:
		return "active"
	case sdk.StatusInactive:
		return "inactive"
	}
	return "unknown"
}

func (m *merger) keys(c *sdk.ClusterCandidate) []string {
	var keys []string
	if v := c.GetClusterId(); v != "" {
		keys = append(keys, "cid:"+v)
	}
	if v := c.GetSessionName(); v != "" {
		keys = append(keys, "session:"+v)
	}
	if v := m.norm.hostPort(c.GetGcsAddress()); v != "" {
		keys = append(keys, "gcs:"+v)
	}
	if v := m.norm.dashboard(c.GetDashboardUrl()); v != "" {
		keys = append(keys, "dash:"+v)
	}
	if v := m.norm.hostPort(c.GetClientAddress()); v != "" {
		keys = append(keys, "client:"+v)
	}
	return keys
}

func (m *merger) newGroup(cands ...*sdk.ClusterCandidate) *group {
	g := &group{ids: map[string]bool{}, clusters: map[string]bool{}, sessions: map[string]bool{}}
	for _, c := range cands {
		g.cands = append(g.cands, c)
		for _, k := range m.keys(c) {
			g.ids[k] = true
		}
		if v := c.GetClusterId(); v != "" {
			g.clusters[v] = true
		}
		if v := c.GetSessionName(); v != "" {
			g.sessions[v] = true
		}
		switch c.GetStatus() {
		case sdk.StatusActive:
			g.active = true
		case sdk.StatusInactive:
			g.inactive = true
		}
	}
	return g
}

// joins says whether o belongs with g: they share an identifier and their
// strong identifiers agree. Sharing only a weak one (GCS address, dashboard
// URL) is not enough between a running cluster and a stopped one: a stale
// session and the live cluster after it may well have used the same port.
func (g *group) joins(o *group) bool {
	if !g.shares(o) || g.conflicts(o) {
		return false
	}
	strong := false
	for k := range o.ids {
		if g.ids[k] && (strings.HasPrefix(k, "cid:") || strings.HasPrefix(k, "session:")) {
			strong = true
		}
	}
	onlyLive := func(x *group) bool { return x.active && !x.inactive }
	onlyStale := func(x *group) bool { return x.inactive && !x.active }
	return strong || !((onlyLive(g) && onlyStale(o)) || (onlyStale(g) && onlyLive(o)))
}

// conflicts is true when the groups name different clusters or sessions.
func (g *group) conflicts(o *group) bool {
	differ := func(a, b map[string]bool) bool {
		if len(a) == 0 || len(b) == 0 {
			return false
		}
		for k := range a {
			if !b[k] {
				return true
			}
		}
		return len(a) != len(b)
	}
	return differ(g.clusters, o.clusters) || differ(g.sessions, o.sessions)
}

func (g *group) shares(o *group) bool {
	for k := range o.ids {
		if g.ids[k] {
			return true
		}
	}
	return false
}

// add merges one candidate into every group it shares an identifier with
// (as long as they do not conflict); it returns the cluster it landed in
// and whether that cluster is new.
func (m *merger) add(c *sdk.ClusterCandidate) (*Cluster, bool) {
	joined := m.newGroup(c)
	var members []*sdk.ClusterCandidate // earlier candidates first
	var rest []*group
	for _, g := range m.groups {
		if g.joins(joined) {
			members = append(members, g.cands...)
			joined = m.newGroup(append(append([]*sdk.ClusterCandidate{}, members...), c)...)
			continue
		}
		rest = append(rest, g)
	}
	isNew := len(members) == 0
	cl := &Cluster{Resources: map[string]float64{}, Nodes: -1}
	for _, x := range joined.cands {
		m.fold(cl, x)
	}
	joined.merged = cl
	m.groups = append(rest, joined)
	return cl, isNew
}

// clusters returns the merged clusters.
func (m *merger) clusters() []*Cluster {
	out := make([]*Cluster, 0, len(m.groups))
	for _, g := range m.groups {
		out = append(out, g.merged)
	}
	return out
}

// fold copies what the candidate knows into the cluster: first known value
// wins for identifiers, live data prefers active sources.
func (m *merger) fold(cl *Cluster, c *sdk.ClusterCandidate) {
	status := statusName(c.GetStatus())
	cl.Evidence = append(cl.Evidence, SourceEvidence{Source: c.GetSource(), Evidence: c.GetEvidence(), ElapsedMS: c.GetElapsedMs(), Status: status})
	if !containsString(cl.Sources, c.GetSource()) {
		cl.Sources = append(cl.Sources, c.GetSource())
		sort.Strings(cl.Sources)
	}
	setIfEmpty(&cl.GCSAddress, m.norm.hostPort(c.GetGcsAddress()))
	setIfEmpty(&cl.DashboardURL, m.norm.dashboard(c.GetDashboardUrl()))
	setIfEmpty(&cl.ClientAddress, c.GetClientAddress())
	setIfEmpty(&cl.SessionDir, c.GetSessionDir())
	setIfEmpty(&cl.SessionName, c.GetSessionName())
	setIfEmpty(&cl.ClusterID, c.GetClusterId())
	setIfEmpty(&cl.RayVersion, c.GetRayVersion())
	cl.AuthRequired = cl.AuthRequired || c.GetAuthRequired()
	live := c.GetStatus() == sdk.StatusActive
	switch {
	case cl.Status == "" || cl.Status == "unknown":
		cl.Status = status
	case status == "active":
		cl.Status = "active"
	}
	if c.GetNodeCount() >= 0 && (cl.Nodes < 0 || (live && int(c.GetNodeCount()) > cl.Nodes)) {
		cl.Nodes = int(c.GetNodeCount())
	}
	if len(c.GetResourcesTotal()) > 0 && (len(cl.Resources) == 0 || live) {
		cl.Resources = copyMap(c.GetResourcesTotal())
	}
	if len(c.GetResourcesUsed()) > 0 && (len(cl.ResourcesUsed) == 0 || live) {
		cl.ResourcesUsed = copyMap(c.GetResourcesUsed())
	}
	for k, v := range c.GetAttributes() {
		if cl.Attributes == nil {
			cl.Attributes = map[string]string{}
		}
		if _, ok := cl.Attributes[k]; !ok {
			cl.Attributes[k] = v
		}
	}
	cl.ID = clusterID(cl)
}

// clusterID names a cluster by its strongest identifier.
func clusterID(cl *Cluster) string {
	switch {
	case cl.ClusterID != "":
		return "cid-" + shortID(cl.ClusterID)
	case cl.SessionName != "":
		return strings.TrimPrefix(cl.SessionName, "session_")
	case cl.GCSAddress != "":
		return "gcs-" + sanitize(cl.GCSAddress)
	case cl.DashboardURL != "":
		return "dash-" + sanitize(strings.SplitN(cl.DashboardURL, "://", 2)[1])
	}
	return "unknown"
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ':' || r == '/' || r == '[' || r == ']' {
			return '-'
		}
		return r
	}, s)
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func copyMap(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
