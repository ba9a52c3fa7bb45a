package transfer

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// BackendMixed is Record.Backend of a transfer whose targets were routed to
// more than one backend; each target names its own (TargetRecord.Backend).
const BackendMixed = "mixed"

// preferred names the backend that serves a kind when several loaded
// backends report it; otherwise the first by name does.
var preferred = map[registry.Kind]string{
	registry.KindLocal:    "local",
	registry.KindRayNode:  "ray",
	registry.KindRayActor: "ray",
}

// backendInfo is one loaded backend and what it said it can do.
type backendInfo struct {
	name string
	caps *sdk.TransferCapabilities
	err  error // Capabilities failed: the backend serves nothing now
}

// serves reports whether the backend reaches nodes of that kind.
func (b backendInfo) serves(kind registry.Kind) bool {
	return b.err == nil && slices.Contains(b.caps.GetNodeKinds(), string(kind))
}

// catalog is what the loaded backends can do, asked once per request (the
// plugin manager caches the answers per plugin process).
type catalog []backendInfo

func (s *Service) catalog() catalog {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := s.o.Backends.TransferNames()
	slices.Sort(names)
	c := make(catalog, 0, len(names))
	for _, name := range names {
		caps, err := s.o.Backends.TransferCapabilities(ctx, name)
		c = append(c, backendInfo{name: name, caps: caps, err: err})
	}
	return c
}

func (c catalog) get(name string) (backendInfo, bool) {
	for _, b := range c {
		if b.name == name {
			return b, true
		}
	}
	return backendInfo{}, false
}

// route names the backend for a kind: the preferred one when it serves the
// kind, else the first by name that does; "" when none does.
func (c catalog) route(kind registry.Kind) string {
	first := ""
	for _, b := range c {
		if !b.serves(kind) {
			continue
		}
		if b.name == preferred[kind] {
			return b.name
		}
		if first == "" {
			first = b.name
		}
	}
	return first
}

// String lists the loaded backends for error messages: "local, ray
// (unavailable: ...)", or "none".
func (c catalog) String() string {
	if len(c) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(c))
	for _, b := range c {
		if b.err != nil {
			parts = append(parts, fmt.Sprintf("%s (unavailable: %v)", b.name, b.err))
			continue
		}
		parts = append(parts, b.name)
	}
	return strings.Join(parts, ", ")
}

// router assigns targets to backends for one request: every target to
// forced when set, else each by its kind.
type router struct {
	cat    catalog
	forced string
}

// newRouter checks a forced backend: it must be loaded and answering.
func (s *Service) newRouter(forced string) (router, error) {
	r := router{cat: s.catalog(), forced: forced}
	if forced == "" {
		return r, nil
	}
	b, ok := r.cat.get(forced)
	switch {
	case !ok:
		return r, badRequest("backend %q: no such transfer backend (loaded: %s)", forced, r.cat)
	case b.err != nil:
		return r, badRequest("backend %q is unavailable: %v", forced, b.err)
	}
	return r, nil
}

// backendFor names the backend for a node, or says why there is none.
func (r router) backendFor(n registry.Node) (string, error) {
	if r.forced != "" {
		b, _ := r.cat.get(r.forced)
		// A backend that lists no kinds makes no claim: forcing it is the
		// caller's call.
		if kinds := b.caps.GetNodeKinds(); len(kinds) > 0 && !slices.Contains(kinds, string(n.Kind)) {
			return "", badRequest("node %s: backend %q does not serve kind %s (it serves %s)", n.ID, r.forced, n.Kind, strings.Join(kinds, ", "))
		}
		return r.forced, nil
	}
	if name := r.cat.route(n.Kind); name != "" {
		return name, nil
	}
	return "", badRequest("node %s: no transfer backend serves kind %s (loaded: %s)", n.ID, n.Kind, r.cat)
}

// plan is a request's targets grouped by backend, in request order.
type plan struct {
	cat    catalog
	order  []string // backend names, in order of first target
	nodes  map[string][]registry.Node
	byNode map[string]string // node id → backend
}

func (p *plan) add(backend string, n registry.Node) {
	if p.nodes == nil {
		p.nodes, p.byNode = map[string][]registry.Node{}, map[string]string{}
	}
	if _, ok := p.nodes[backend]; !ok {
		p.order = append(p.order, backend)
	}
	p.nodes[backend] = append(p.nodes[backend], n)
	p.byNode[n.ID] = backend
}

// recordBackend is Record.Backend for the plan: the one backend, or
// BackendMixed.
func (p *plan) recordBackend() string {
	if len(p.order) == 1 {
		return p.order[0]
	}
	return BackendMixed
}

// castMode is the mode a backend gets for its share of a transfer: the
// request's, or the nearest one the backend lists (broadcast becomes
// multicast, a multicast of one target unicast). A backend that lists no
// modes gets the request's.
func castMode(mode string, caps *sdk.TransferCapabilities, targets int) (sdk.CastMode, error) {
	want := map[string]sdk.CastMode{"unicast": sdk.Unicast, "multicast": sdk.Multicast, "broadcast": sdk.Broadcast}[mode]
	modes := caps.GetModes()
	if len(modes) == 0 || slices.Contains(modes, want) {
		return want, nil
	}
	if want == sdk.Broadcast && slices.Contains(modes, sdk.Multicast) {
		return sdk.Multicast, nil
	}
	if targets == 1 && (want == sdk.Multicast || want == sdk.Broadcast) && slices.Contains(modes, sdk.Unicast) {
		return sdk.Unicast, nil
	}
	if want == sdk.Unicast && slices.Contains(modes, sdk.Multicast) {
		return sdk.Multicast, nil
	}
	return want, fmt.Errorf("does not support %s to %d target(s)", mode, targets)
}

// check verifies each backend's share against its modes and max_targets.
func (p *plan) check(cat catalog, mode string) error {
	for _, name := range p.order {
		b, _ := cat.get(name)
		n := len(p.nodes[name])
		if _, err := castMode(mode, b.caps, n); err != nil {
			return badRequest("backend %q %v", name, err)
		}
		if limit := b.caps.GetMaxTargets(); limit > 0 && n > int(limit) {
			return badRequest("backend %q serves at most %d targets in one transfer; this one routes %d to it", name, limit, n)
		}
	}
	return nil
}

// target is what a backend gets to reach a node. Ray nodes and actors carry
// their cluster's endpoints and their Ray ids; never a credential.
func (s *Service) target(n registry.Node) *sdk.Target {
	attrs := map[string]string{}
	switch n.Kind {
	case registry.KindLocal:
		if n.InboxDir != "" {
			attrs["inbox_dir"] = n.InboxDir
		}
	case registry.KindRayNode, registry.KindRayActor:
		attrs["cluster_id"] = n.ClusterID
		if s.o.Clusters != nil {
			if c, ok := s.o.Clusters.Get(n.ClusterID); ok {
				if u := withoutUserinfo(c.DashboardURL); u != "" {
					attrs["dashboard_url"] = u
				}
				if c.GCSAddress != "" {
					attrs["gcs_address"] = c.GCSAddress
				}
			}
		}
		// Ids as host/connector builds them: ray:<cluster>:<node hex> and
		// ray:<cluster>:actor:<actor hex>; an actor's hosting node is in
		// its labels.
		rest, ok := strings.CutPrefix(n.ID, "ray:"+n.ClusterID+":")
		if n.Kind == registry.KindRayNode {
			if ok {
				attrs["ray_node_id"] = rest
			}
			break
		}
		if actor, ok := strings.CutPrefix(rest, "actor:"); ok {
			attrs["actor_id"] = actor
		}
		if host := n.Labels["ray_node_id"]; host != "" {
			attrs["ray_node_id"] = host
		}
	}
	return &sdk.Target{NodeId: n.ID, Kind: string(n.Kind), Address: n.Address, Attributes: attrs}
}

// withoutUserinfo drops any user:password@ from a URL.
func withoutUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
