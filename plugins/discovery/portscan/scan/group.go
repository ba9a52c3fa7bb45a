package scan

import (
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// group turns one host's port results into candidates and notes.
//
// A GCS is one candidate (GCS address, cluster id, version, alive nodes,
// resources, session). A dashboard joins the GCS candidate whose session
// name it reports (/api/version session_name equals the basename of the
// head node's session_dir in GetAllNodeInfo); a dashboard agent joins the
// GCS candidate that lists a node with that agent port on this host.
// Anything not provably part of a GCS candidate is reported on its own: a
// dashboard or a client server as a candidate of its own (the daemon merges
// by the identifiers it carries), a lone agent as a note (it carries no
// identifier of its cluster).
func group(host string, results []portResult, local map[string]bool) ([]*sdk.ClusterCandidate, []*sdk.DiscoverNote) {
	var cands []*sdk.ClusterCandidate
	var notes []*sdk.DiscoverNote
	note := func(level, target, format string, a ...any) {
		notes = append(notes, &sdk.DiscoverNote{Level: level, Target: target, Message: fmt.Sprintf(format, a...)})
	}

	type gcsCand struct {
		c *sdk.ClusterCandidate
		f *ray.GCSFinding
	}
	var gcss []gcsCand
	var unreachable []string
	var firstDialErr error
	for _, r := range results {
		addr := joinHostPort(host, r.port)
		switch {
		case r.dialErr != nil:
			unreachable = append(unreachable, fmt.Sprint(r.port))
			if firstDialErr == nil {
				firstDialErr = r.dialErr
			}
		case r.found == nil:
		case r.found.Kind == "":
			note("info", addr, "open port, not Ray: %s", r.found.NotRay)
		case r.found.GCS != nil:
			c := gcsCandidate(r.found)
			gcss = append(gcss, gcsCand{c, r.found.GCS})
			for _, p := range r.found.GCS.Problems {
				note("warn", addr, "Ray GCS answered, but %s", p)
			}
		}
	}
	if len(unreachable) > 0 {
		probed := 0
		for _, r := range results {
			if !r.skipped {
				probed++
			}
		}
		if len(unreachable) == probed {
			// Nothing there (or a firewall dropping everything): common in
			// a block scan, so only info.
			note("info", host, "host not reachable on any of %d port(s): %v", probed, firstDialErr)
		} else {
			note("warn", host, "%d port(s) not reachable (%s): %v", len(unreachable), strings.Join(unreachable, ","), firstDialErr)
		}
	}

	for _, r := range results {
		if r.found == nil {
			continue
		}
		switch f := r.found; {
		case f.Dashboard != nil:
			d := f.Dashboard
			var joined *sdk.ClusterCandidate
			if d.Version != nil && d.Version.SessionName != "" {
				for _, g := range gcss {
					if g.c.SessionName == d.Version.SessionName {
						joined = g.c
						break
					}
				}
			}
			if joined != nil {
				joined.DashboardUrl = d.URL
				joined.Evidence = append(joined.Evidence, f.Evidence...)
				joined.Evidence = append(joined.Evidence, "dashboard and GCS report the same session "+d.Version.SessionName)
				joined.AuthRequired = joined.AuthRequired || d.AuthRequired
				addDashAttrs(joined, d)
				continue
			}
			c := newCandidate()
			c.DashboardUrl = d.URL
			c.AuthRequired = d.AuthRequired
			c.Evidence = f.Evidence
			if d.Version != nil {
				c.RayVersion = d.Version.RayVersion
				c.SessionName = d.Version.SessionName
			}
			addDashAttrs(c, d)
			cands = append(cands, c)
		case f.ClientServer != nil:
			c := newCandidate()
			c.ClientAddress = "ray://" + f.Addr
			c.AuthRequired = f.ClientServer.AuthRequired
			c.Evidence = f.Evidence
			cands = append(cands, c)
		case f.Kind == ray.KindDashboardAgent:
			addr := joinHostPort(host, r.port)
			var owner *gcsCand
			for i := range gcss {
				if hasAgent(gcss[i].f, host, r.port, local) {
					owner = &gcss[i]
					break
				}
			}
			if owner == nil {
				note("info", addr, "Ray dashboard agent (a Ray node runs here); no GCS found in this scan lists it, so its cluster is unknown")
				continue
			}
			owner.c.Evidence = append(owner.c.Evidence, f.Evidence...)
			owner.c.Evidence = append(owner.c.Evidence, fmt.Sprintf("GCS lists a node on %s with dashboard agent port %d", host, r.port))
			if prev := owner.c.Attributes["dashboard_agent"]; prev != "" {
				addr = prev + "," + addr
			}
			owner.c.Attributes["dashboard_agent"] = addr
		}
	}
	out := make([]*sdk.ClusterCandidate, 0, len(gcss)+len(cands))
	for _, g := range gcss {
		out = append(out, g.c)
	}
	return append(out, cands...), notes
}

func newCandidate() *sdk.ClusterCandidate {
	return &sdk.ClusterCandidate{Source: Name, NodeCount: -1, Status: sdk.StatusActive, Attributes: map[string]string{}}
}

func addDashAttrs(c *sdk.ClusterCandidate, d *ray.DashboardFinding) {
	if d.AuthMode != "" {
		c.Attributes["auth_mode"] = d.AuthMode
	}
	if d.Version != nil && d.Version.RayCommit != "" {
		c.Attributes["ray_commit"] = d.Version.RayCommit
	}
	if c.RayVersion == "" && d.Version != nil {
		c.RayVersion = d.Version.RayVersion
	}
	if c.SessionName == "" && d.Version != nil {
		c.SessionName = d.Version.SessionName
	}
}

// gcsCandidate is the candidate of a port found to be a GCS.
func gcsCandidate(found *ray.Finding) *sdk.ClusterCandidate {
	f := found.GCS
	c := newCandidate()
	c.GcsAddress = found.Addr
	c.ClusterId = f.ClusterID
	c.RayVersion = f.RayVersion
	c.AuthRequired = f.AuthRequired
	c.Evidence = append([]string(nil), found.Evidence...)
	if f.NodesKnown {
		c.NodeCount = int32(len(f.AliveNodes))
		total := map[string]float64{}
		for _, n := range f.AliveNodes {
			for k, v := range n.GetResourcesTotal() {
				// node:<ip> and node:__internal_head__ mark nodes; they are
				// not capacity.
				if !strings.HasPrefix(k, "node:") {
					total[k] += v
				}
			}
			if n.GetIsHeadNode() {
				if dir := n.GetSessionDir(); strings.HasPrefix(path.Base(dir), "session_") && path.IsAbs(dir) {
					c.SessionDir = dir
					c.SessionName = path.Base(dir)
				}
				if len(n.GetNodeId()) > 0 {
					c.Attributes["head_node_id"] = hex.EncodeToString(n.GetNodeId())
				}
				if a := n.GetNodeManagerAddress(); a != "" {
					c.Attributes["head_node_ip"] = a
				}
			}
		}
		if len(total) > 0 {
			c.ResourcesTotal = total
		}
		var ips []string
		for _, n := range f.AliveNodes {
			if a := n.GetNodeManagerAddress(); a != "" && !slices.Contains(ips, a) {
				ips = append(ips, a)
			}
		}
		slices.Sort(ips)
		if len(ips) > 0 {
			c.Attributes["node_ips"] = strings.Join(ips, ",")
		}
	}
	if f.TokenMode {
		c.Attributes["auth_mode"] = "token"
	}
	switch {
	case f.TokenRejected:
		c.Attributes["auth"] = "token rejected"
	case f.AuthRequired:
		c.Attributes["auth"] = "no token"
	}
	return c
}

// hasAgent reports whether the GCS lists an alive node on host whose
// dashboard agent listens on port. A loopback host matches a node whose
// address belongs to this machine.
func hasAgent(f *ray.GCSFinding, host string, port int, local map[string]bool) bool {
	for _, n := range f.AliveNodes {
		if int(n.GetDashboardAgentListenPort()) != port {
			continue
		}
		a := n.GetNodeManagerAddress()
		if a == host || (isLoopback(host) && (local[a] || isLoopback(a))) {
			return true
		}
	}
	return false
}
