package scan

import (
	"fmt"
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
			c := candidate(r.found)
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
			c := candidate(f)
			if joined == nil {
				cands = append(cands, c)
				continue
			}
			joined.DashboardUrl = c.DashboardUrl
			joined.Evidence = append(joined.Evidence, c.Evidence...)
			joined.Evidence = append(joined.Evidence, "dashboard and GCS report the same session "+d.Version.SessionName)
			joined.AuthRequired = joined.AuthRequired || c.AuthRequired
			if joined.RayVersion == "" {
				joined.RayVersion = c.RayVersion
			}
			for k, v := range c.Attributes {
				if _, ok := joined.Attributes[k]; !ok {
					joined.Attributes[k] = v
				}
			}
		case f.ClientServer != nil:
			cands = append(cands, candidate(f))
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

// candidate is the SDK's candidate of one finding, reported as this
// plugin's.
func candidate(f *ray.Finding) *sdk.ClusterCandidate {
	c := sdk.CandidateFrom(f)
	c.Source = Name
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
