package discovery

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

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
	// AuthRequired: the cluster needs a Ray auth token that a plugin lacked
	// (or had refused); false once the plugins have the right one.
	AuthRequired bool `json:"auth_required"`
	// AuthMode is how the cluster authenticates, when a plugin could tell:
	// "token" (Ray token auth on) or what the dashboard names otherwise
	// ("disabled"); "" when unknown.
	AuthMode   string            `json:"auth_mode,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
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

// merger accumulates the candidates of one round and merges them into
// clusters by the rule in the package doc. The result is a function of the
// set of candidates: every add recomputes the merge from all candidates so
// far, from scratch and in a fixed order, so the order in which plugins
// answer changes nothing. That costs O(n) per candidate (O(n²) a round),
// which is nothing next to the probes behind a candidate at the sizes of a
// round (tens to a few hundred candidates).
type merger struct {
	norm      normalizer
	entries   []*entry
	out       []*Cluster
	announced map[string]bool // cluster ids add has reported as new
}

// entry is one candidate with the identifiers it names, normalised.
type entry struct {
	c       *sdk.ClusterCandidate
	order   string // canonical sort key: status rank, source, content
	session string
	cid     string
	addrs   []string // weak identifiers: "gcs:", "dash:", "client:" keys
	status  sdk.ClusterStatus
}

func (m *merger) entry(c *sdk.ClusterCandidate) *entry {
	e := &entry{c: c, session: c.GetSessionName(), cid: c.GetClusterId(), status: c.GetStatus()}
	if v := m.norm.hostPort(c.GetGcsAddress()); v != "" {
		e.addrs = append(e.addrs, "gcs:"+v)
	}
	if v := m.norm.dashboard(c.GetDashboardUrl()); v != "" {
		e.addrs = append(e.addrs, "dash:"+v)
	}
	if v := m.norm.hostPort(c.GetClientAddress()); v != "" {
		e.addrs = append(e.addrs, "client:"+v)
	}
	// Deterministic marshalling (map keys sorted) makes equal candidates
	// equal keys and different ones different keys, so sorting by order is
	// a total order up to candidates that are interchangeable anyway.
	content, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	rank := map[sdk.ClusterStatus]string{sdk.StatusActive: "0", sdk.StatusInactive: "2"}[e.status]
	if rank == "" {
		rank = "1"
	}
	e.order = rank + "\x00" + c.GetSource() + "\x00" + string(content)
	return e
}

// add merges one more candidate; it returns the cluster the candidate is
// now part of and whether that cluster's id is new in this round. Earlier
// results may change: a cluster reported under its GCS address may be
// folded into a session's cluster once the candidate naming both arrives.
func (m *merger) add(c *sdk.ClusterCandidate) (*Cluster, bool) {
	e := m.entry(c)
	m.entries = append(m.entries, e)
	var where map[*entry]*Cluster
	m.out, where = m.merge(m.entries)
	cl := where[e]
	if m.announced == nil {
		m.announced = map[string]bool{}
	}
	isNew := !m.announced[cl.ID]
	m.announced[cl.ID] = true
	return cl, isNew
}

// clusters returns the merged clusters.
func (m *merger) clusters() []*Cluster {
	return append([]*Cluster(nil), m.out...)
}

// unit is a set of candidates known to be one cluster, and what they name.
type unit struct {
	members  []*entry
	cids     map[string]bool
	addrs    map[string]bool
	active   bool // some member says the cluster runs
	inactive bool // some member says it does not
}

func newUnit() *unit {
	return &unit{cids: map[string]bool{}, addrs: map[string]bool{}}
}

func (u *unit) add(e *entry) {
	u.members = append(u.members, e)
	if e.cid != "" {
		u.cids[e.cid] = true
	}
	for _, a := range e.addrs {
		u.addrs[a] = true
	}
	switch e.status {
	case sdk.StatusActive:
		u.active = true
	case sdk.StatusInactive:
		u.inactive = true
	}
}

func (u *unit) absorb(o *unit) {
	for _, e := range o.members {
		u.add(e)
	}
}

// compatible is false between a unit only seen running and one only seen
// stopped: a stale session and the live cluster after it may well have used
// the same ports, so an address alone must not join them.
func compatible(a, b *unit) bool {
	live := func(x *unit) bool { return x.active && !x.inactive }
	stale := func(x *unit) bool { return x.inactive && !x.active }
	return !(live(a) && stale(b)) && !(stale(a) && live(b))
}

// choose picks the one target a unit may join: the only one, else the only
// active one; nil when that is ambiguous. It depends on the set of targets,
// not on their order.
func choose(targets map[*unit]bool) *unit {
	var only, live *unit
	lives := 0
	for t := range targets {
		only = t
		if t.active {
			live = t
			lives++
		}
	}
	switch {
	case len(targets) == 1:
		return only
	case lives == 1:
		return live
	}
	return nil
}

// byAddr indexes units by the addresses they name.
func byAddr(units []*unit) map[string][]*unit {
	idx := map[string][]*unit{}
	for _, u := range units {
		for a := range u.addrs {
			idx[a] = append(idx[a], u)
		}
	}
	return idx
}

// merge groups entries into clusters (the rule is in the package doc) and
// says which cluster each entry landed in. Every decision of a step is
// taken on the state before the step and applied afterwards, so the
// iteration order of maps and of the entries never shows in the result.
func (m *merger) merge(entries []*entry) ([]*Cluster, map[*entry]*Cluster) {
	// 1. A session name is one cluster; so is a cluster id named without a
	// session. The rest is floating.
	sessions, cids := map[string]*unit{}, map[string]*unit{}
	var floating []*entry
	for _, e := range entries {
		switch {
		case e.session != "":
			if sessions[e.session] == nil {
				sessions[e.session] = newUnit()
			}
			sessions[e.session].add(e)
		case e.cid != "":
			if cids[e.cid] == nil {
				cids[e.cid] = newUnit()
			}
			cids[e.cid].add(e)
		default:
			floating = append(floating, e)
		}
	}

	// 2. A cluster id without a session joins the session that names the
	// same id, else the session (naming no id) it shares an address with,
	// if no other cluster id claims that session the same way.
	sessionsByCID := map[string]map[*unit]bool{}
	var sessionUnits []*unit
	for _, s := range sessions {
		sessionUnits = append(sessionUnits, s)
		for id := range s.cids {
			if sessionsByCID[id] == nil {
				sessionsByCID[id] = map[*unit]bool{}
			}
			sessionsByCID[id][s] = true
		}
	}
	sessionsByAddr := byAddr(sessionUnits)
	joins := map[*unit]*unit{}    // cid unit -> session unit
	claims := map[*unit][]*unit{} // session unit -> cid units joining by address
	joined := map[*unit]bool{}    // cid units that joined a session
	for id, c := range cids {
		if targets := sessionsByCID[id]; len(targets) > 0 {
			if t := choose(targets); t != nil {
				joins[c] = t
			}
			continue
		}
		targets := map[*unit]bool{}
		for a := range c.addrs {
			for _, s := range sessionsByAddr[a] {
				if len(s.cids) == 0 && compatible(c, s) {
					targets[s] = true
				}
			}
		}
		if t := choose(targets); t != nil {
			claims[t] = append(claims[t], c)
		}
	}
	for t, cs := range claims {
		if len(cs) == 1 {
			joins[cs[0]] = t
		}
	}
	for c, t := range joins {
		t.absorb(c)
		joined[c] = true
	}
	anchored := sessionUnits
	for _, c := range cids {
		if !joined[c] {
			anchored = append(anchored, c)
		}
	}

	// 3. Floating candidates group by shared addresses, transitively, but
	// not a running one with a stopped one directly; each group joins the
	// one anchored cluster it shares an address with.
	parent := map[*entry]*entry{}
	var find func(*entry) *entry
	find = func(e *entry) *entry {
		if p, ok := parent[e]; ok && p != e {
			r := find(p)
			parent[e] = r
			return r
		}
		return e
	}
	union := func(a, b *entry) { parent[find(a)] = find(b) }
	classes := map[string]*[3][]*entry{} // per address: active, unknown, inactive
	for _, e := range floating {
		parent[e] = e
		k := 1
		switch e.status {
		case sdk.StatusActive:
			k = 0
		case sdk.StatusInactive:
			k = 2
		}
		for _, a := range e.addrs {
			if classes[a] == nil {
				classes[a] = &[3][]*entry{}
			}
			classes[a][k] = append(classes[a][k], e)
		}
	}
	for _, cl := range classes {
		for _, class := range cl {
			for i := 1; i < len(class); i++ {
				union(class[0], class[i])
			}
		}
		if unknown := cl[1]; len(unknown) > 0 {
			for _, k := range []int{0, 2} {
				if len(cl[k]) > 0 {
					union(unknown[0], cl[k][0])
				}
			}
		}
	}
	groups := map[*entry]*unit{}
	var floats []*unit
	for _, e := range floating {
		r := find(e)
		if groups[r] == nil {
			groups[r] = newUnit()
			floats = append(floats, groups[r])
		}
		groups[r].add(e)
	}
	anchoredByAddr := byAddr(anchored)
	attach := map[*unit]*unit{}
	for _, f := range floats {
		targets := map[*unit]bool{}
		for a := range f.addrs {
			for _, u := range anchoredByAddr[a] {
				if compatible(f, u) {
					targets[u] = true
				}
			}
		}
		if t := choose(targets); t != nil {
			attach[f] = t
		}
	}
	final := anchored
	for f, t := range attach {
		t.absorb(f)
	}
	for _, f := range floats {
		if attach[f] == nil {
			final = append(final, f)
		}
	}

	// Fold each unit into a cluster and make the ids unique.
	out := make([]*Cluster, 0, len(final))
	keys := map[*Cluster]string{}
	where := map[*entry]*Cluster{}
	for _, u := range final {
		sort.Slice(u.members, func(i, j int) bool { return u.members[i].order < u.members[j].order })
		cl := m.fold(u.members)
		var key strings.Builder
		for _, e := range u.members {
			key.WriteString(e.order)
			key.WriteByte(0xff)
			where[e] = cl
		}
		keys[cl] = key.String()
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return keys[out[i]] < keys[out[j]]
	})
	uniqueIDs(out)
	return out, where
}

// uniqueIDs gives the second and later of clusters sharing an id (sorted by
// id, then content) a "-2", "-3"... suffix. Two clusters can share one only
// when they were kept apart on purpose, e.g. a running and a stopped
// cluster seen only through the same GCS address.
func uniqueIDs(sorted []*Cluster) {
	used := map[string]bool{}
	for _, cl := range sorted {
		used[cl.ID] = true
	}
	first := map[string]bool{}
	for _, cl := range sorted {
		if !first[cl.ID] {
			first[cl.ID] = true
			continue
		}
		for n := 2; ; n++ {
			if id := fmt.Sprintf("%s-%d", cl.ID, n); !used[id] {
				cl.ID, used[id] = id, true
				break
			}
		}
	}
}

// fold builds the cluster of members, sorted in canonical order (active
// first): identifiers, resources and attributes come from the first member
// that knows them; the node count is the largest an active member saw, else
// the largest any saw; the status is active if any member says so, else
// inactive if any says so, else unknown.
func (m *merger) fold(members []*entry) *Cluster {
	cl := &Cluster{Resources: map[string]float64{}, Nodes: -1, Status: "unknown"}
	liveNodes, anyNodes := -1, -1
	totalApprox, usedApprox := false, false
	for _, e := range members {
		c := e.c
		status := statusName(c.GetStatus())
		cl.Evidence = append(cl.Evidence, SourceEvidence{Source: c.GetSource(), Evidence: c.GetEvidence(), ElapsedMS: c.GetElapsedMs(), Status: status})
		if !containsString(cl.Sources, c.GetSource()) {
			cl.Sources = append(cl.Sources, c.GetSource())
		}
		setIfEmpty(&cl.GCSAddress, m.norm.hostPort(c.GetGcsAddress()))
		setIfEmpty(&cl.DashboardURL, m.norm.dashboard(c.GetDashboardUrl()))
		setIfEmpty(&cl.ClientAddress, c.GetClientAddress())
		setIfEmpty(&cl.SessionDir, c.GetSessionDir())
		setIfEmpty(&cl.SessionName, c.GetSessionName())
		setIfEmpty(&cl.ClusterID, c.GetClusterId())
		setIfEmpty(&cl.RayVersion, c.GetRayVersion())
		cl.AuthRequired = cl.AuthRequired || c.GetAuthRequired()
		if mode := c.GetAttributes()["auth_mode"]; mode == "token" || cl.AuthMode == "" {
			cl.AuthMode = mode
		}
		switch {
		case status == "active":
			cl.Status = "active"
		case status == "inactive" && cl.Status == "unknown":
			cl.Status = "inactive"
		}
		if n := int(c.GetNodeCount()); n >= 0 {
			anyNodes = max(anyNodes, n)
			if status == "active" {
				liveNodes = max(liveNodes, n)
			}
		}
		// Exact figures win over rounded ones (`ray status`), whichever
		// plugin reported first.
		approx := c.GetAttributes()[sdk.AttrResourcesApprox] == "true"
		if len(c.GetResourcesTotal()) > 0 && (len(cl.Resources) == 0 || totalApprox && !approx) {
			cl.Resources, totalApprox = copyMap(c.GetResourcesTotal()), approx
		}
		if len(c.GetResourcesUsed()) > 0 && (len(cl.ResourcesUsed) == 0 || usedApprox && !approx) {
			cl.ResourcesUsed, usedApprox = copyMap(c.GetResourcesUsed()), approx
		}
		for k, v := range c.GetAttributes() {
			if cl.Attributes == nil {
				cl.Attributes = map[string]string{}
			}
			if _, ok := cl.Attributes[k]; !ok {
				cl.Attributes[k] = v
			}
		}
	}
	if totalApprox {
		cl.Attributes[sdk.AttrResourcesApprox] = "true"
	} else {
		delete(cl.Attributes, sdk.AttrResourcesApprox)
	}
	sort.Strings(cl.Sources)
	cl.Nodes = anyNodes
	if liveNodes >= 0 {
		cl.Nodes = liveNodes
	}
	cl.ID = clusterID(cl)
	return cl
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
