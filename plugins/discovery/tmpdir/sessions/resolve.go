package sessions

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray/rayproc"
)

// facts are the identifiers of one session, each with the source it came from.
type facts struct {
	GCSHost, GCSHostFrom string
	GCSPort              int
	GCSPortFrom          string
	Dashboard            string // host:port
	DashboardFrom        string
	DashboardBind        string // the host the dashboard bound, when it was a wildcard
	DashboardOff         bool
	Client               string // host:port
	ClientFrom           string
	ClusterID            string
	ClusterIDFrom        string
	RayVersion           string
	HeadNodeID           string
	NodeIP               string
	Ports                map[string]int // cached ports of the head (or only) node
	LocalNodes           int            // nodes with cached ports in this session dir
	Windows              bool
	Disagreements        []string
}

// GCSAddress is "host:port" when both are known.
func (f *facts) GCSAddress() string {
	if f.GCSHost == "" || f.GCSPort == 0 {
		return ""
	}
	return joinHostPort(f.GCSHost, f.GCSPort)
}

// collectFacts combines, in order of trust, what the live processes of the session, its
// files and its root's ray_current_cluster say. The first source of a value wins; later
// sources that disagree are kept as evidence, never merged.
func collectFacts(ref *sessionRef, sf *sessionFiles, procs []rayproc.RayProcess) *facts {
	f := &facts{Ports: map[string]int{}, Windows: sf.GCS.Windows}
	setPort := func(p int, from string) {
		switch {
		case p <= 0:
		case f.GCSPort == 0:
			f.GCSPort, f.GCSPortFrom = p, from
		case f.GCSPort != p:
			f.Disagreements = append(f.Disagreements, fmt.Sprintf("%s says GCS port %d", from, p))
		}
	}
	setHost := func(h, from string) {
		if h != "" && f.GCSHost == "" {
			f.GCSHost, f.GCSHostFrom = h, from
		}
	}
	// 1. Live processes: the GCS's own flags first, then what the others were given.
	byRole := slices.Clone(procs)
	sort.SliceStable(byRole, func(i, j int) bool { return roleRank(byRole[i].Role) < roleRank(byRole[j].Role) })
	for _, p := range byRole {
		if h, port, ok := splitHostPort(p.GCSAddress()); ok {
			from := fmt.Sprintf("live %s pid %d", p.Role, p.PID)
			setPort(port, from)
			if port == f.GCSPort {
				setHost(h, from)
			}
		}
		if f.ClusterID == "" {
			if id := p.Flag("cluster_id_hex", "cluster_id"); isNodeID(id) {
				f.ClusterID, f.ClusterIDFrom = id, fmt.Sprintf("live %s pid %d", p.Role, p.PID)
			}
		}
		if f.NodeIP == "" && validHost(p.NodeIP()) {
			f.NodeIP = p.NodeIP()
		}
		if f.HeadNodeID == "" && p.Role == rayproc.RoleGCS && isNodeID(p.Flag("node_id")) {
			f.HeadNodeID = p.Flag("node_id")
		}
		if f.Dashboard == "" && p.Role == rayproc.RoleDashboard {
			if a := p.ListenAddress(); a != "" {
				f.setDashboard(a, fmt.Sprintf("live dashboard pid %d", p.PID))
			}
		}
	}

	// 2. The session's files.
	if f.HeadNodeID == "" {
		f.HeadNodeID = sf.GCS.HeadNodeID
	}
	nodes := make([]string, 0, len(sf.PortFiles))
	for n := range sf.PortFiles {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	head := ""
	switch {
	case f.HeadNodeID != "" && sf.PortFiles[f.HeadNodeID] != nil:
		head = f.HeadNodeID
	case len(nodes) == 1:
		head = nodes[0]
	default:
		// Several nodes share the dir and none is known as the head: the GCS port file is
		// written by the head only.
		for _, n := range nodes {
			if _, ok := sf.PortFiles[n]["gcs_server_port"]; ok {
				head = n
				break
			}
		}
	}
	f.LocalNodes = len(nodes)
	if head != "" {
		if f.HeadNodeID == "" {
			f.HeadNodeID = head
		}
		for k, v := range sf.PortFiles[head] {
			f.Ports[k] = v
		}
		setPort(sf.PortFiles[head]["gcs_server_port"], "gcs_server_port_"+short(head)+" file")
	}
	if len(sf.ByNode) > 0 {
		if len(sf.ByNode) > f.LocalNodes {
			f.LocalNodes = len(sf.ByNode)
		}
		var pick *nodePorts
		for i := range sf.ByNode {
			if _, ok := sf.ByNode[i].Ports["gcs_server_port"]; ok {
				pick = &sf.ByNode[i]
				break
			}
		}
		if pick == nil && len(sf.ByNode) == 1 {
			pick = &sf.ByNode[0]
		}
		if pick != nil {
			for k, v := range pick.Ports {
				if _, ok := f.Ports[k]; !ok {
					f.Ports[k] = v
				}
			}
			setPort(pick.Ports["gcs_server_port"], "ports_by_node.json")
			if f.NodeIP == "" {
				f.NodeIP = pick.NodeIP
			}
		}
	}
	setPort(sf.GCS.Port, "logs/gcs_server.out")
	if h, p, ok := splitHostPort(sf.Client.GCSAddress); ok {
		setPort(p, sf.ClientLog)
		if p == f.GCSPort {
			setHost(h, sf.ClientLog)
		}
	}
	if rc := ref.Root.CurrentCluster; rc != "" {
		if h, p, ok := splitHostPort(rc); ok && p == f.GCSPort {
			setHost(h, "ray_current_cluster")
		}
	}
	localGCS := sf.HasGCSLog || f.Ports["gcs_server_port"] > 0
	if localGCS {
		setHost(sf.GCS.HeadAddress, "logs/gcs_server.out (head node address)")
		if sf.NodeIP != "" {
			setHost(sf.NodeIP, "node_ip_address.json")
		}
		if f.GCSHost == "" {
			for _, np := range sf.ByNode {
				if np.Ports["gcs_server_port"] > 0 && np.NodeIP != "" {
					setHost(np.NodeIP, "ports_by_node.json key")
				}
			}
		}
	}
	if f.NodeIP == "" {
		f.NodeIP = sf.NodeIP
	}
	if f.NodeIP == "" {
		f.NodeIP = sf.Raylet.NodeIP
	}
	if f.ClusterID == "" {
		switch {
		case sf.GCS.ClusterID != "":
			f.ClusterID, f.ClusterIDFrom = sf.GCS.ClusterID, "logs/gcs_server.out"
		case sf.Raylet.ClusterID != "":
			f.ClusterID, f.ClusterIDFrom = sf.Raylet.ClusterID, "logs/raylet.out"
		}
	}
	f.RayVersion = sf.GCS.RayVersion
	if f.Dashboard == "" && sf.Dashboard.Address != "" {
		f.setDashboard(sf.Dashboard.Address, "logs/dashboard.log")
	}
	f.DashboardOff = f.Dashboard == "" && sf.Dashboard.Disabled
	if sf.Client.Address != "" {
		f.Client, f.ClientFrom = localize(sf.Client.Address), sf.ClientLog
	}
	return f
}

// setDashboard records the dashboard's host:port, turning a wildcard bind into loopback
// (what a local client reaches it on).
func (f *facts) setDashboard(hostport, from string) {
	h, _, _ := net.SplitHostPort(hostport)
	if isWildcard(h) {
		f.DashboardBind = h
	}
	f.Dashboard, f.DashboardFrom = localize(hostport), from
}

func isWildcard(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// localize replaces a wildcard host (0.0.0.0, ::) by 127.0.0.1: a server bound to every
// address is reached on loopback from this machine.
func localize(hostport string) string {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil || !isWildcard(h) {
		return hostport
	}
	return net.JoinHostPort("127.0.0.1", p)
}

func roleRank(r rayproc.Role) int {
	switch r {
	case rayproc.RoleGCS:
		return 0
	case rayproc.RoleRaylet:
		return 1
	case rayproc.RoleDashboard:
		return 2
	}
	return 3
}

// short abbreviates a 56-hex id for evidence.
func short(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// fill copies the facts into a candidate.
func (f *facts) fill(c *sdk.ClusterCandidate) {
	c.GcsAddress = f.GCSAddress()
	if f.Dashboard != "" {
		c.DashboardUrl = "http://" + f.Dashboard
	}
	if f.Client != "" {
		c.ClientAddress = "ray://" + f.Client
	}
	c.ClusterId = f.ClusterID
	c.RayVersion = f.RayVersion
	a := c.Attributes
	if f.GCSPort > 0 {
		a["gcs_port"] = strconv.Itoa(f.GCSPort)
		a["gcs_port_source"] = f.GCSPortFrom
	}
	if f.GCSHostFrom != "" {
		a["gcs_host_source"] = f.GCSHostFrom
	}
	if f.NodeIP != "" {
		a["node_ip"] = f.NodeIP
	}
	if f.HeadNodeID != "" {
		a["head_node_id"] = f.HeadNodeID
	}
	for k, v := range f.Ports {
		if k != "gcs_server_port" {
			a[k] = strconv.Itoa(v)
		}
	}
	if f.LocalNodes > 1 {
		a["local_nodes"] = strconv.Itoa(f.LocalNodes)
	}
	if f.DashboardFrom != "" {
		a["dashboard_source"] = f.DashboardFrom
	}
	if f.DashboardBind != "" {
		a["dashboard_bind_host"] = f.DashboardBind
	}
	if f.DashboardOff {
		a["dashboard"] = "disabled (http server disabled: minimal install)"
	}
	if f.ClientFrom != "" {
		a["client_source"] = f.ClientFrom
	}
	if f.ClusterIDFrom != "" {
		a["cluster_id_source"] = f.ClusterIDFrom
	}
	if f.Windows {
		a["platform"] = "windows"
	}
}

// describeSources is the evidence line for where the identifiers came from.
func (f *facts) describeSources() string {
	var parts []string
	if addr := f.GCSAddress(); addr != "" {
		s := fmt.Sprintf("GCS %s (port from %s", addr, f.GCSPortFrom)
		if f.GCSHostFrom != f.GCSPortFrom {
			s += ", host from " + f.GCSHostFrom
		}
		parts = append(parts, s+")")
	} else if f.GCSPort > 0 {
		parts = append(parts, fmt.Sprintf("GCS port %d from %s (host unknown)", f.GCSPort, f.GCSPortFrom))
	}
	if f.Dashboard != "" {
		parts = append(parts, fmt.Sprintf("dashboard %s from %s", f.Dashboard, f.DashboardFrom))
	}
	if f.Client != "" {
		parts = append(parts, fmt.Sprintf("client server %s from %s", f.Client, f.ClientFrom))
	}
	return strings.Join(parts, "; ")
}
