package sdk

import (
	"encoding/hex"
	"path"
	"slices"
	"strings"

	"github.com/castray/castray/sdk/ray"
)

// AttrResourcesApprox is the candidate attribute ("true") of a plugin
// whose resource figures are rounded (the text of `ray status` shows
// 1.5GiB, not the bytes): the host prefers another plugin's exact figures
// for the same cluster.
const AttrResourcesApprox = "resources_approx"

// CandidateFrom turns what the Ray kit's Probe found on one host:port into
// the candidate a discovery plugin reports: active, with the address of the
// component that answered, what it told (Ray version, session, cluster id,
// alive nodes and their resources for a GCS probed with Details), whether it
// wants a token, and the probe's evidence. Attributes carry the rest
// (auth_mode, ray_commit, head_node_id, head_node_ip, node_ips, auth). It
// returns nil for a port that is not Ray (f.Kind == "") or is a dashboard
// agent, which carries no identifier of its cluster.
func CandidateFrom(f *ray.Finding) *ClusterCandidate {
	if f == nil {
		return nil
	}
	c := &ClusterCandidate{NodeCount: -1, Status: StatusActive, Attributes: map[string]string{},
		Evidence: slices.Clone(f.Evidence)}
	switch {
	case f.GCS != nil:
		c.GcsAddress = f.Addr
		addGCS(c, f.GCS)
		addAuth(c, f.GCS.AuthFinding)
	case f.Dashboard != nil:
		d := f.Dashboard
		c.DashboardUrl = d.URL
		if d.AuthMode != "" {
			c.Attributes["auth_mode"] = d.AuthMode
		}
		if v := d.Version; v != nil {
			c.RayVersion, c.SessionName = v.RayVersion, v.SessionName
			if v.RayCommit != "" {
				c.Attributes["ray_commit"] = v.RayCommit
			}
		}
		addAuth(c, d.AuthFinding)
	case f.ClientServer != nil:
		c.ClientAddress = "ray://" + f.Addr
		addAuth(c, f.ClientServer.AuthFinding)
	default:
		return nil
	}
	return c
}

func addGCS(c *ClusterCandidate, f *ray.GCSFinding) {
	c.ClusterId = f.ClusterID
	c.RayVersion = f.RayVersion
	if !f.NodesKnown {
		return
	}
	c.NodeCount = int32(len(f.AliveNodes))
	total := map[string]float64{}
	var ips []string
	for _, n := range f.AliveNodes {
		for k, v := range n.GetResourcesTotal() {
			// node:<ip> and node:__internal_head__ mark nodes; they are not
			// capacity.
			if !strings.HasPrefix(k, "node:") {
				total[k] += v
			}
		}
		if a := n.GetNodeManagerAddress(); a != "" && !slices.Contains(ips, a) {
			ips = append(ips, a)
		}
		if !n.GetIsHeadNode() {
			continue
		}
		if dir := n.GetSessionDir(); strings.HasPrefix(path.Base(dir), "session_") && path.IsAbs(dir) {
			c.SessionDir, c.SessionName = dir, path.Base(dir)
		}
		if len(n.GetNodeId()) > 0 {
			c.Attributes["head_node_id"] = hex.EncodeToString(n.GetNodeId())
		}
		if a := n.GetNodeManagerAddress(); a != "" {
			c.Attributes["head_node_ip"] = a
		}
	}
	if len(total) > 0 {
		c.ResourcesTotal = total
	}
	if len(ips) > 0 {
		slices.Sort(ips)
		c.Attributes["node_ips"] = strings.Join(ips, ",")
	}
}

func addAuth(c *ClusterCandidate, a ray.AuthFinding) {
	c.AuthRequired = a.AuthRequired
	if a.TokenMode && c.Attributes["auth_mode"] == "" {
		c.Attributes["auth_mode"] = "token"
	}
	switch {
	case a.TokenRejected:
		c.Attributes["auth"] = "token rejected"
	case a.AuthRequired:
		c.Attributes["auth"] = "no token"
	}
}
