package scan

import (
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/castray/castray/sdk"
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
		f *gcsFinding
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
		case r.notRay != "":
			note("info", addr, "open port, not Ray: %s", r.notRay)
		case r.gcs != nil:
			c := gcsCandidate(r.gcs)
			gcss = append(gcss, gcsCand{c, r.gcs})
			for _, p := range r.gcs.Problems {
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
		switch {
		case r.dash != nil:
			d := r.dash
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
				joined.Evidence = append(joined.Evidence, d.Evidence...)
				joined.Evidence = append(joined.Evidence, "dashboard and GCS report the same session "+d.Version.SessionName)
				joined.AuthRequired = joined.AuthRequired || d.AuthRequired
				addDashAttrs(joined, d)
				continue
			}
			c := newCandidate()
			c.DashboardUrl = d.URL
			c.AuthRequired = d.AuthRequired
			c.Evidence = d.Evidence
			if d.Version != nil {
				c.RayVersion = d.Version.RayVersion
				c.SessionName = d.Version.SessionName
			}
			addDashAttrs(c, d)
			cands = append(cands, c)
		case r.client != nil:
			c := newCandidate()
			c.ClientAddress = "ray://" + r.client.Addr
			c.AuthRequired = r.client.AuthRequired
			c.Evidence = r.client.Evidence
			cands = append(cands, c)
		case r.agent != nil:
			a := r.agent
			addr := joinHostPort(a.Host, a.Port)
			var owner *gcsCand
			for i := range gcss {
				if gcss[i].f.hasAgent(a.Host, a.Port, local) {
					owner = &gcss[i]
					break
				}
			}
			if owner == nil {
				note("info", addr, "Ray dashboard agent (a Ray node runs here); no GCS found in this scan lists it, so its cluster is unknown")
				continue
			}
			owner.c.Evidence = append(owner.c.Evidence, a.Evidence...)
			owner.c.Evidence = append(owner.c.Evidence, fmt.Sprintf("GCS lists a node on %s with dashboard agent port %d", a.Host, a.Port))
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

func addDashAttrs(c *sdk.ClusterCandidate, d *dashFinding) {
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

// gcsCandidate is the candidate of one GCS finding.
func gcsCandidate(f *gcsFinding) *sdk.ClusterCandidate {
	c := newCandidate()
	c.GcsAddress = f.Addr
	c.ClusterId = f.ClusterID
	c.RayVersion = f.RayVersion
	c.AuthRequired = f.AuthRequired
	c.Evidence = append([]string(nil), f.Evidence...)
	if f.NodesKnown {
		c.NodeCount = int32(len(f.AliveNodes))
		total := map[string]float64{}
		for _, n := range f.AliveNodes {
			for k, v := range n.Resources {
				// node:<ip> and node:__internal_head__ mark nodes; they are
				// not capacity.
				if !strings.HasPrefix(k, "node:") {
					total[k] += v
				}
			}
			if n.IsHead {
				if base := path.Base(n.SessionDir); strings.HasPrefix(base, "session_") && path.IsAbs(n.SessionDir) {
					c.SessionDir = n.SessionDir
					c.SessionName = base
				}
				if len(n.NodeID) > 0 {
					c.Attributes["head_node_id"] = hex.EncodeToString(n.NodeID)
				}
				if n.Address != "" {
					c.Attributes["head_node_ip"] = n.Address
				}
			}
		}
		if len(total) > 0 {
			c.ResourcesTotal = total
		}
		var ips []string
		for _, n := range f.AliveNodes {
			if n.Address != "" && !containsStr(ips, n.Address) {
				ips = append(ips, n.Address)
			}
		}
		sort.Strings(ips)
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
func (f *gcsFinding) hasAgent(host string, port int, local map[string]bool) bool {
	for _, n := range f.AliveNodes {
		if int(n.DashboardAgentPort) != port {
			continue
		}
		if n.Address == host || (isLoopback(host) && (local[n.Address] || isLoopback(n.Address))) {
			return true
		}
	}
	return false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
