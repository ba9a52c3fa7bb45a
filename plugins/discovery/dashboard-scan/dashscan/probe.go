package dashscan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// UserAgent is sent with every request. Never a browser's: Ray refuses
// POST/PUT from "Mozilla" user agents, and a scanner should say what it is.
const UserAgent = "castray-discovery/" + Version

// Body limits of 200 answers (ray.Get keeps 64 KiB of any other): small
// endpoints are a few hundred bytes; node lists grow with the cluster (the
// State API row is ~400 bytes, a node summary entry ~30 KiB).
const (
	smallBody = 64 << 10
	largeBody = 64 << 20
)

// newClient returns the one HTTP client of a Discover call: no proxy (a
// scanner of local addresses must not go through HTTP_PROXY, and the token
// must not reach a proxy), connect and TLS handshake bounded by the probe
// timeout, redirects only within the same origin, and a small idle pool so
// that the few requests to one dashboard reuse a connection.
func newClient(cfg Config, probeTimeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: probeTimeout, KeepAlive: -1}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: cfg.TLSSkipVerify, MinVersion: tls.VersionTLS12}, //nolint:gosec // opt-in per config
		TLSHandshakeTimeout:    probeTimeout,
		MaxIdleConns:           2 * cfg.Concurrency,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if o := via[0].URL; req.URL.Scheme != o.Scheme || req.URL.Host != o.Host {
				return fmt.Errorf("redirect to another origin (%s://%s) refused", req.URL.Scheme, req.URL.Host)
			}
			return nil
		},
	}
}

// answer is the outcome of one GET: ray.Get's answer and error.
type answer struct {
	ray.Answer
	err error
}

// failure classifies a transport error.
type failure int

const (
	failNone failure = iota
	failClosed
	failTimeout
	failOther
)

func classify(err error) failure {
	switch {
	case err == nil:
		return failNone
	case ray.IsRefused(err):
		return failClosed
	case ray.IsTimeout(err):
		return failTimeout
	}
	return failOther
}

// get sends one GET through the Discover call's client with its own
// timeout. tok is sent only when not empty; the caller decides (only to
// dashboards that announce token auth).
func (p *prober) get(ctx context.Context, rawURL, tok string, timeout time.Duration, limit int64) answer {
	a, err := ray.Get(ctx, p.client, rawURL, ray.GetOptions{Token: tok, Timeout: timeout, Limit: limit, UserAgent: UserAgent})
	return answer{Answer: a, err: err}
}

// target is one dashboard base URL to probe.
type target struct {
	base  string // "http://127.0.0.1:8265"
	label string // "127.0.0.1:8265"
}

func makeTarget(scheme, host string, port int) target {
	h := host
	if strings.Contains(h, "%") { // IPv6 zone: percent-encoded in URLs
		h = strings.ReplaceAll(h, "%", "%25")
	}
	hp := net.JoinHostPort(h, strconv.Itoa(port))
	return target{base: scheme + "://" + hp, label: net.JoinHostPort(host, strconv.Itoa(port))}
}

// outcome is what probing one target found.
type outcome struct {
	kind      failure // failNone: an HTTP server answered
	notRay    string  // why an HTTP server is not a Ray dashboard
	candidate *sdk.ClusterCandidate
	notes     []*sdk.DiscoverNote
	err       error
}

// prober probes targets for one Discover call.
type prober struct {
	client        *http.Client
	tok           token
	probeTimeout  time.Duration
	detailTimeout time.Duration
	nodeLimit     int
}

// probe recognises a Ray dashboard at t and, if it is one, reads what it
// tells about its cluster.
//
// Recognition: GET /api/authentication_mode (open; 404 before Ray 2.52),
// then GET /api/version — with the token only when the dashboard announced
// token (or k8s) auth, so a token never reaches a server that did not ask
// for it. A dashboard is Ray when /api/version answers 200 with a
// ray_version, or when it announced token auth and /api/version answers
// 401/403 (then it is reported with auth_required).
func (p *prober) probe(ctx context.Context, t target) outcome {
	start := time.Now()
	var ev []string
	var notes []*sdk.DiscoverNote
	note := func(level, format string, args ...any) {
		notes = append(notes, &sdk.DiscoverNote{Level: level, Message: fmt.Sprintf(format, args...), Target: t.base})
	}
	evidence := func(path string, a answer, what string) {
		s := fmt.Sprintf("GET %s%s → %d", t.base, path, a.Status)
		if what != "" {
			s += " " + what
		}
		ev = append(ev, s+fmt.Sprintf(" (%d ms)", a.Took.Milliseconds()))
	}

	// 1. The authentication mode (open in every mode).
	am := p.get(ctx, t.base+"/api/authentication_mode", "", p.probeTimeout, smallBody)
	if am.err != nil {
		k := classify(am.err)
		if k == failNone {
			k = failOther
		}
		o := outcome{kind: k}
		if k == failOther && ctx.Err() == nil {
			o.notRay = fmt.Sprintf("GET /api/authentication_mode failed: %v", am.err)
		}
		return o
	}
	mode := ""
	if am.Status == http.StatusOK {
		if m, err := ray.DecodeAuthMode(am.Body); err == nil {
			mode = m
			evidence("/api/authentication_mode", am, mode)
		}
	}
	wantsToken := mode == "token" || mode == "k8s"

	// 2. The version, with the token if the dashboard wants one.
	sendTok := ""
	if wantsToken {
		sendTok = p.tok.value
	}
	ver := p.get(ctx, t.base+"/api/version", sendTok, p.probeTimeout, smallBody)
	if ver.err != nil {
		if mode == "" {
			return outcome{kind: failNone, notRay: fmt.Sprintf("GET /api/version failed: %v", ver.err)}
		}
	}
	var vi ray.VersionInfo
	authorized, authRequired := false, false
	switch {
	case ver.err != nil:
		// A dashboard that announced its auth mode but did not answer
		// /api/version: still Ray; report what is known.
		note("warn", "GET /api/version failed: %v", ver.err)
		ev = append(ev, fmt.Sprintf("GET %s/api/version failed: %v", t.base, ver.err))
	case ver.Status == http.StatusOK:
		v, err := ray.DecodeVersion(ver.Body)
		if err != nil {
			if mode == "" {
				return outcome{kind: failNone, notRay: fmt.Sprintf("GET /api/version → 200 but %v", err)}
			}
			note("warn", "GET /api/version → 200 but %v", err)
			break
		}
		vi, authorized = v, true
		what := "ray " + v.RayVersion
		if v.SessionName != "" {
			what += " " + v.SessionName
		}
		if sendTok != "" {
			what += " (token from " + p.tok.origin + ")"
		}
		evidence("/api/version", ver, what)
	case (ver.Status == http.StatusUnauthorized || ver.Status == http.StatusForbidden) && wantsToken:
		authRequired = true
		switch {
		case sendTok == "":
			evidence("/api/version", ver, "token required, none configured")
			note("info", "dashboard wants a Ray auth token and none is configured (auth_token, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)")
		default:
			evidence("/api/version", ver, "token from "+p.tok.origin+" rejected")
			note("warn", "dashboard rejected the Ray auth token from %s (HTTP %d)", p.tok.origin, ver.Status)
		}
	default:
		if mode == "" {
			return outcome{kind: failNone, notRay: fmt.Sprintf("GET /api/authentication_mode → %d, GET /api/version → %d", am.Status, ver.Status)}
		}
		// Announced an auth mode but answers /api/version oddly.
		evidence("/api/version", ver, "")
		note("warn", "GET /api/version → %d %s", ver.Status, clip(string(ver.Body)))
	}
	if !authorized && !authRequired {
		// Only the auth mode JSON looked like Ray: weak evidence. Report
		// the dashboard only if the GCS health check answers like Ray's
		// ("success", or 503 when the GCS is down).
		hz := p.get(ctx, t.base+"/api/gcs_healthz", "", p.probeTimeout, smallBody)
		if hz.err != nil || !(ray.IsHealthy(hz.Status, hz.Body) || hz.Status == http.StatusServiceUnavailable) {
			return outcome{kind: failNone, notRay: fmt.Sprintf("answers /api/authentication_mode (%q) but neither /api/version nor /api/gcs_healthz like Ray", clip(mode))}
		}
	}

	c := &sdk.ClusterCandidate{
		Source:       Name,
		DashboardUrl: t.base,
		NodeCount:    -1,
		Status:       sdk.StatusUnknown,
		AuthRequired: authRequired,
		Attributes:   map[string]string{},
	}
	if mode != "" {
		c.Attributes["auth_mode"] = mode
	} else {
		c.Attributes["auth_mode"] = "none (no /api/authentication_mode: Ray before 2.52)"
	}
	if authorized {
		c.RayVersion = vi.RayVersion
		c.SessionName = vi.SessionName
		if vi.RayCommit != "" {
			c.Attributes["ray_commit"] = vi.RayCommit
		}
		if vi.APIVersion != "" {
			c.Attributes["dashboard_api_version"] = vi.APIVersion
		}
		if sendTok != "" {
			c.Attributes["token_source"] = p.tok.origin
		}
	}

	d := p.details(ctx, t, authorized, sendTok)
	d.apply(c)
	ev = append(ev, d.evidence...)
	notes = append(notes, d.notes...)
	c.Evidence = ev
	c.ElapsedMs = uint32(time.Since(start).Milliseconds())
	return outcome{kind: failNone, candidate: c, notes: notes}
}

// details is what the data endpoints of a recognised dashboard said.
type details struct {
	healthz *answer
	// nodes is the node list (alive and dead) when one was read, from
	// nodesSource; listing says whether the State API cut it short.
	nodes       []ray.Node
	nodesSource string
	listing     ray.StateListing
	head        ray.RayletFacts
	headNode    *ray.Node
	status      *ray.ClusterStatus
	clusterID   string
	evidence    []string
	notes       []*sdk.DiscoverNote
}

// nodeList is a State API node listing and what it says about itself.
type nodeList struct {
	nodes   []ray.Node
	listing ray.StateListing
}

// details reads the health check and, when authorized, the nodes, the
// cluster status, the cluster id and the head node's raylet facts. The
// independent requests run in parallel.
func (p *prober) details(ctx context.Context, t target, authorized bool, tok string) *details {
	d := &details{}
	var mu sync.Mutex
	addEv := func(path string, a answer, what string) {
		mu.Lock()
		defer mu.Unlock()
		if a.err != nil {
			d.evidence = append(d.evidence, fmt.Sprintf("GET %s%s failed: %v (%d ms)", t.base, path, a.err, a.Took.Milliseconds()))
			return
		}
		s := fmt.Sprintf("GET %s%s → %d", t.base, path, a.Status)
		if what != "" {
			s += " " + what
		}
		d.evidence = append(d.evidence, s+fmt.Sprintf(" (%d ms)", a.Took.Milliseconds()))
	}
	addNote := func(level, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		d.notes = append(d.notes, &sdk.DiscoverNote{Level: level, Message: fmt.Sprintf(format, args...), Target: t.base})
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		a := p.get(ctx, t.base+"/api/gcs_healthz", "", p.probeTimeout, smallBody)
		what := ""
		if a.err == nil {
			what = clip(strings.TrimSpace(string(a.Body)))
		}
		addEv("/api/gcs_healthz", a, what)
		mu.Lock()
		d.healthz = &a
		mu.Unlock()
	})
	if !authorized {
		wg.Wait()
		return d
	}

	var v0 *nodeList
	wg.Go(func() {
		path := "/api/v0/nodes?detail=false&limit=" + strconv.Itoa(p.nodeLimit)
		a := p.get(ctx, t.base+path, tok, p.detailTimeout, largeBody)
		if a.err != nil || a.Status != http.StatusOK {
			addEv(path, a, "")
			return
		}
		nodes, listing, err := ray.DecodeStateNodes(a.Body)
		if err != nil {
			addEv(path, a, "")
			addNote("warn", "State API node list unreadable: %v", err)
			return
		}
		alive, _ := ray.AliveTotals(nodes)
		addEv(path, a, fmt.Sprintf("%d alive of %d listed", alive, len(nodes)))
		mu.Lock()
		v0 = &nodeList{nodes: nodes, listing: listing}
		mu.Unlock()
	})
	wg.Go(func() {
		a := p.get(ctx, t.base+"/api/cluster_status", tok, p.detailTimeout, largeBody)
		if a.err != nil || a.Status != http.StatusOK {
			addEv("/api/cluster_status", a, "")
			return
		}
		cs, ok, err := ray.DecodeClusterStatus(a.Body)
		switch {
		case err != nil:
			addEv("/api/cluster_status", a, "")
			addNote("warn", "cluster status unreadable: %v", err)
			return
		case !ok:
			addEv("/api/cluster_status", a, "no autoscaler status yet")
		default:
			addEv("/api/cluster_status", a, fmt.Sprintf("autoscaler: %d active nodes, usage of %d resources", cs.ActiveNodes, len(cs.Usage)))
		}
		mu.Lock()
		if ok || cs.AutoscalingError != "" {
			d.status = &cs
		}
		mu.Unlock()
	})
	wg.Go(func() {
		a := p.get(ctx, t.base+"/cluster_id", tok, p.detailTimeout, smallBody)
		if a.err != nil || a.Status != http.StatusOK {
			addEv("/cluster_id", a, "")
			return
		}
		id, err := ray.DecodeClusterID(a.Body)
		if err != nil {
			addEv("/cluster_id", a, "")
			return
		}
		addEv("/cluster_id", a, id)
		mu.Lock()
		d.clusterID = id
		mu.Unlock()
	})
	wg.Wait()
	if ctx.Err() != nil {
		return d
	}

	// Node list: the State API, else the node summary (heavier, but it also
	// carries the raylets' command lines).
	if v0 != nil {
		d.nodes, d.listing, d.nodesSource = v0.nodes, v0.listing, "state_api"
		if head, ok := ray.AliveHead(v0.nodes); ok {
			path := "/nodes/" + head.NodeID
			a := p.get(ctx, t.base+path, tok, p.detailTimeout, largeBody)
			if a.err == nil && a.Status == http.StatusOK {
				n, facts, err := ray.DecodeNodeDetail(a.Body)
				if err == nil {
					addEv(path, a, factsEvidence(facts))
					d.head, d.headNode = facts, &n
				} else {
					addEv(path, a, "")
				}
			} else {
				addEv(path, a, "")
			}
		}
	} else {
		a := p.get(ctx, t.base+"/nodes?view=summary", tok, p.detailTimeout, largeBody)
		if a.err == nil && a.Status == http.StatusOK {
			if s, err := ray.DecodeNodesSummary(a.Body, nil); err == nil {
				alive, _ := ray.AliveTotals(s.Nodes)
				addEv("/nodes?view=summary", a, fmt.Sprintf("%d alive of %d listed", alive, len(s.Nodes)))
				// The summary has no limit: d.listing stays "complete".
				d.nodes, d.nodesSource, d.head = s.Nodes, "nodes_summary", s.Head
				if h, ok := ray.AliveHead(s.Nodes); ok {
					d.headNode = &h
				}
			} else {
				addEv("/nodes?view=summary", a, "")
				addNote("warn", "node summary unreadable: %v", err)
			}
		} else {
			addEv("/nodes?view=summary", a, "")
		}
	}
	return d
}

func factsEvidence(f ray.RayletFacts) string {
	var parts []string
	if f.GCSAddress != "" {
		parts = append(parts, "gcs "+f.GCSAddress)
	}
	if f.SessionName != "" {
		parts = append(parts, f.SessionName)
	}
	if len(parts) == 0 {
		return "no raylet command line yet"
	}
	return "raylet " + strings.Join(parts, ", ")
}

// apply fills the candidate from the details.
func (d *details) apply(c *sdk.ClusterCandidate) {
	if h := d.healthz; h != nil {
		switch {
		case h.err != nil:
			c.Attributes["gcs_healthz"] = "failed: " + clip(h.err.Error())
		case ray.IsHealthy(h.Status, h.Body):
			c.Status = sdk.StatusActive
			c.Attributes["gcs_healthz"] = "success"
		default:
			c.Attributes["gcs_healthz"] = fmt.Sprintf("%d %s", h.Status, clip(strings.TrimSpace(string(h.Body))))
		}
	}

	// The head raylet's command line names the GCS, the cluster id and the
	// session; use it only if it agrees with /api/version's session.
	f := d.head
	if f.SessionName != "" && c.SessionName != "" && f.SessionName != c.SessionName {
		d.notes = append(d.notes, &sdk.DiscoverNote{Level: "warn", Target: c.DashboardUrl,
			Message: fmt.Sprintf("head raylet runs session %s but /api/version says %s; ignoring the raylet's command line", f.SessionName, c.SessionName)})
		f = ray.RayletFacts{}
	}
	c.GcsAddress = f.GCSAddress
	if c.SessionName == "" {
		c.SessionName = f.SessionName
	}
	c.SessionDir = f.SessionDir
	switch {
	case d.clusterID != "":
		c.ClusterId = d.clusterID
		if f.ClusterID != "" && f.ClusterID != d.clusterID {
			c.Attributes["raylet_cluster_id"] = f.ClusterID
		}
	case f.ClusterID != "":
		c.ClusterId = f.ClusterID
	}
	if h := d.headNode; h != nil {
		c.Attributes["head_node_id"] = h.NodeID
		if h.Address != "" {
			c.Attributes["head_node_ip"] = h.Address
		}
	}

	// Nodes and resources.
	var known []string
	if d.nodesSource != "" {
		alive, total := ray.AliveTotals(d.nodes)
		c.NodeCount = int32(min(alive, 1<<30))
		c.ResourcesTotal = total
		for k := range c.ResourcesTotal {
			known = append(known, k)
		}
		c.Attributes["node_count_source"] = d.nodesSource
		if truncated, want := d.listing.Truncated(); truncated {
			c.Attributes["nodes_truncated"] = fmt.Sprintf("listed %d of %d nodes", len(d.nodes), want)
			// The alive count is a lower bound; do not report it as the count.
			c.NodeCount = -1
		}
		if d.listing.Warning != "" {
			c.Attributes["state_api_warning"] = d.listing.Warning
		}
	}
	if s := d.status; s != nil {
		used, total := s.Resources(known)
		if used != nil {
			c.ResourcesUsed = used
		}
		if c.ResourcesTotal == nil && total != nil {
			c.ResourcesTotal = total
		}
		if c.NodeCount < 0 && d.nodesSource == "" && s.Usage != nil {
			c.NodeCount = int32(min(s.ActiveNodes+s.IdleNodes, 1<<30))
			c.Attributes["node_count_source"] = "autoscaler"
		}
		c.Attributes["pending_demands"] = strconv.Itoa(s.PendingDemands)
		c.Attributes["pending_nodes"] = strconv.Itoa(s.PendingNodes)
		c.Attributes["failed_nodes"] = strconv.Itoa(s.FailedNodes)
		if s.AutoscalingError != "" {
			c.Attributes["autoscaling_error"] = s.AutoscalingError
		}
	}
}

// clip shortens a string from a remote answer for evidence and notes:
// control characters become spaces, and at most 120 bytes are kept.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		cut := 120
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}
