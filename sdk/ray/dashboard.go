package ray

import (
	"context"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is CastRay's version as sent in the User-Agent ("castray/<version>").
// Never a browser's: Ray answers POST/PUT from a "Mozilla" User-Agent with 405.
var Version = "0.1.0-dev"

// MaxStateLimit is the State API's own cap on limit (Ray 2.60: more → 400
// "Given limit … exceeds the supported limit 10000").
const MaxStateLimit = 10000

// Body size bounds.
const (
	smallBody = 1 << 20   // version, auth mode, cluster id, healthz
	listBody  = 256 << 20 // State API lists and the node summary (~0.6-10 KiB per row)
)

// Dashboard is a client of one Ray dashboard's HTTP APIs. It is safe for
// concurrent use.
type Dashboard struct {
	base    string // "http://host:port[/path]", no trailing slash
	token   string
	timeout time.Duration
	client  *http.Client
	// agentWait bounds SubmitJob's wait for the head's job agent.
	agentWait time.Duration
	// Limit is the State API limit used by Nodes and Actors (default and
	// maximum MaxStateLimit). Tests lower it.
	Limit int
}

// NewDashboard returns a client of the dashboard at baseURL
// ("http(s)://host:port[/path]"; a bare host:port is taken as http). token
// ("" for none) is sent as "Authorization: Bearer <token>" on every request.
// timeout bounds each request (0: 30 s). The client uses no proxy and
// follows no redirect.
func NewDashboard(baseURL, token string, timeout time.Duration) (*Dashboard, error) {
	a, err := ParseAddress(baseURL)
	if err != nil {
		return nil, err
	}
	switch a.Kind {
	case KindDashboard:
	case KindUnknown:
		a.Scheme = "http"
	default:
		return nil, &AddressError{Input: baseURL, Problem: "not a dashboard URL (want http(s)://host:port)"}
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Dashboard{
		base:      a.Scheme + "://" + a.HostPort() + a.Path,
		token:     token,
		timeout:   timeout,
		agentWait: defaultAgentWait,
		Limit:     MaxStateLimit,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// URL is the dashboard's base URL.
func (d *Dashboard) URL() string { return d.base }

// Close releases idle connections.
func (d *Dashboard) Close() { d.client.CloseIdleConnections() }

// get fetches base+path and returns the body of a 200 answer. 401/403 →
// ErrAuth; 404 → ErrNotFound; other statuses → *StatusError with Ray's
// msg (Answer.Err).
func (d *Dashboard) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	what := "GET " + d.base + pathOnly(path)
	a, err := Get(ctx, d.client, d.base+path, GetOptions{Token: d.token, Timeout: d.timeout, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := a.Err(what, d.token != ""); err != nil {
		return nil, err
	}
	return a.Body, nil
}

// listBufs are the buffers State API listings are read into: a listing of
// 10,000 rows is megabytes, read every sync and dropped once decoded (or
// found unchanged); reusing them spares allocating and clearing them.
var listBufs sync.Pool

// getList is get for a listing, read into a pooled buffer; release gives
// the buffer back once nothing refers to the body any more (the decoders
// copy what they keep).
func (d *Dashboard) getList(ctx context.Context, path string) (body []byte, release func(), err error) {
	var buf []byte
	if p, ok := listBufs.Get().(*[]byte); ok {
		buf = *p
	}
	what := "GET " + d.base + pathOnly(path)
	a, err := Get(ctx, d.client, d.base+path, GetOptions{Token: d.token, Timeout: d.timeout, Limit: listBody, Buf: buf})
	release = func() {
		if b := a.Body; cap(b) >= cap(buf) && cap(b) > 0 {
			b = b[:0]
			listBufs.Put(&b)
		}
	}
	if err != nil {
		release()
		return nil, func() {}, fmt.Errorf("%s: %w", what, err)
	}
	if err := a.Err(what, d.token != ""); err != nil {
		release()
		return nil, func() {}, err
	}
	return a.Body, release, nil
}

func pathOnly(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return p
}

// AuthMode is GET /api/authentication_mode (open without a token):
// "disabled", "token" or "k8s".
func (d *Dashboard) AuthMode(ctx context.Context) (string, error) {
	body, err := d.get(ctx, "/api/authentication_mode", smallBody)
	if err != nil {
		return "", err
	}
	return DecodeAuthMode(body)
}

// Version is GET /api/version (needs the token in token mode): RayVersion,
// SessionName (and DashboardURL) of ClusterInfo.
func (d *Dashboard) Version(ctx context.Context) (ClusterInfo, error) {
	body, err := d.get(ctx, "/api/version", smallBody)
	if err != nil {
		return ClusterInfo{}, err
	}
	v, err := DecodeVersion(body)
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("%w: %v", ErrNotRay, err)
	}
	return ClusterInfo{RayVersion: v.RayVersion, SessionName: v.SessionName, DashboardURL: d.base}, nil
}

// ClusterID is GET /cluster_id → data.clusterId (56 hex digits, the
// GCS's GetClusterId in hex).
func (d *Dashboard) ClusterID(ctx context.Context) (string, error) {
	body, err := d.get(ctx, "/cluster_id", smallBody)
	if err != nil {
		return "", err
	}
	return DecodeClusterID(body)
}

func (d *Dashboard) limit() int {
	if d.Limit <= 0 || d.Limit > MaxStateLimit {
		return MaxStateLimit
	}
	return d.Limit
}

// Nodes lists every node, alive and dead, through the State API
// (GET /api/v0/nodes?detail=true&limit=N). The State API reports no
// available resources (see NodesSummary).
//
// When the cluster has more nodes than the limit (10000), Nodes falls back
// to /nodes?view=summary, which has no limit; if that fails too, it returns
// the truncated list together with a *TruncatedError (errors.Is(err,
// ErrTruncated)): the caller decides whether a partial list will do.
func (d *Dashboard) Nodes(ctx context.Context) ([]Node, error) {
	nodes, _, _, err := d.NodesIfChanged(ctx, 0)
	return nodes, err
}

// Digest identifies the body of one State API answer: a 64-bit hash of its
// bytes (hash/maphash, seeded once per process, so digests are only
// compared within one process). Two answers with the same Digest are the
// same bytes but for a 2^-64 chance. The zero Digest stands for "none".
type Digest uint64

var digestSeed = maphash.MakeSeed()

// digestOf hashes a body: about 10 GB/s, a fraction of a millisecond for a
// 10,000-row listing, against tens of milliseconds to decode it.
func digestOf(body []byte) Digest {
	if d := Digest(maphash.Bytes(digestSeed, body)); d != 0 {
		return d
	}
	return 1
}

// NodesIfChanged is Nodes for a caller that keeps what it made of the
// previous answer: when the State API answers exactly the bytes whose
// Digest is prev, it returns (nil, prev, false, nil) without decoding them;
// otherwise what Nodes returns, with the answer's Digest and changed true.
// A sync in which nothing changed then costs the request and a hash. A
// truncated listing, which Nodes completes from the summary view, has the
// zero Digest: it is decoded every time. prev 0 always decodes.
func (d *Dashboard) NodesIfChanged(ctx context.Context, prev Digest) (nodes []Node, digest Digest, changed bool, err error) {
	body, release, err := d.getList(ctx, "/api/v0/nodes?detail=true&limit="+strconv.Itoa(d.limit()))
	if err != nil {
		return nil, 0, true, err
	}
	defer release()
	digest = digestOf(body)
	if prev != 0 && digest == prev {
		return nil, prev, false, nil
	}
	nodes, l, err := parseStateNodes(body)
	if err != nil {
		return nil, 0, true, err
	}
	truncated, want := l.Truncated()
	if !truncated {
		return nodes, digest, true, nil
	}
	known := map[string]bool{}
	var names []string
	for _, n := range nodes {
		for k := range n.ResourcesTotal {
			if !known[k] {
				known[k] = true
				names = append(names, k)
			}
		}
	}
	if s, serr := d.summary(ctx, names); serr == nil && len(s.Nodes) >= want {
		return s.Nodes, 0, true, nil
	}
	return nodes, 0, true, &TruncatedError{What: "nodes", Returned: len(nodes), Total: want}
}

// NodesSummary lists the nodes through GET /nodes?view=summary (no limit;
// one entry per node the GCS lists, with the agent's physical stats, so
// about 5-10 KiB per node). Unlike the State API it tells the available
// resources: ResourcesAvailable is resources_total minus the usage the
// dashboard reports per node (nodeLogicalResources). Resource names are
// Ray's (the dashboard's camelCase is undone for Ray's well-known names and
// those on the raylet's --static_resource_list); byte amounts (memory,
// object_store_memory) in that usage text are rounded by Ray, so their
// available values are approximate.
func (d *Dashboard) NodesSummary(ctx context.Context) ([]Node, error) {
	s, err := d.summary(ctx, nil)
	return s.Nodes, err
}

func (d *Dashboard) summary(ctx context.Context, known []string) (NodesSummary, error) {
	body, err := d.get(ctx, "/nodes?view=summary", listBody)
	if err != nil {
		return NodesSummary{}, err
	}
	return DecodeNodesSummary(body, known)
}

// Actors lists the alive actors through the State API:
// GET /api/v0/actors?detail=true&limit=N&filter_keys=state&filter_predicates==&filter_values=ALIVE
// (the filter is applied by the GCS, so total counts the alive actors).
// Truncation is reported as in Nodes, without a fallback.
func (d *Dashboard) Actors(ctx context.Context) ([]Actor, error) {
	actors, _, _, err := d.actors(ctx, "ALIVE", 0)
	return actors, err
}

// ActorsIfChanged is Actors as NodesIfChanged is Nodes: (nil, prev, false,
// nil) when the answer is the one whose Digest is prev, without decoding
// it. A truncated listing has a Digest too (its rows are all there is to
// read); decoded, it comes with a *TruncatedError as from Actors.
func (d *Dashboard) ActorsIfChanged(ctx context.Context, prev Digest) (actors []Actor, digest Digest, changed bool, err error) {
	return d.actors(ctx, "ALIVE", prev)
}

// AllActors lists the actors in every state (dead ones included, as long as
// the GCS keeps them).
func (d *Dashboard) AllActors(ctx context.Context) ([]Actor, error) {
	actors, _, _, err := d.actors(ctx, "", 0)
	return actors, err
}

func (d *Dashboard) actors(ctx context.Context, state string, prev Digest) ([]Actor, Digest, bool, error) {
	q := url.Values{}
	q.Set("detail", "true")
	q.Set("limit", strconv.Itoa(d.limit()))
	if state != "" {
		q.Add("filter_keys", "state")
		q.Add("filter_predicates", "=")
		q.Add("filter_values", state)
	}
	body, release, err := d.getList(ctx, "/api/v0/actors?"+q.Encode())
	if err != nil {
		return nil, 0, true, err
	}
	defer release()
	digest := digestOf(body)
	if prev != 0 && digest == prev {
		return nil, prev, false, nil
	}
	actors, l, err := parseStateActors(body)
	if err != nil {
		return nil, 0, true, err
	}
	if state != "" {
		// Never trust a filter blindly.
		kept := actors[:0]
		for _, a := range actors {
			if a.State == state {
				kept = append(kept, a)
			}
		}
		actors = kept
	}
	if truncated, want := l.Truncated(); truncated {
		return actors, digest, true, &TruncatedError{What: "actors", Returned: len(actors), Total: want}
	}
	return actors, digest, true, nil
}

// GCSAddress is the GCS address ("ip:port") from the alive head raylet's
// command line (--gcs-address); see HeadFacts.
func (d *Dashboard) GCSAddress(ctx context.Context) (string, error) {
	f, err := d.HeadFacts(ctx)
	return f.GCSAddress, err
}

// HeadFacts is what the alive head raylet's command line says (GCS
// address, cluster id, session name), from /nodes?view=summary, else from
// /nodes/<head id>. Older Rays tell their cluster id and session nowhere
// else on the dashboard (no /api/v0/cluster_id, no session_name in
// /api/version). The command line comes with the agent's physical stats,
// which Ray reports a few seconds after the node starts: until then this
// is an ErrNotFound error.
func (d *Dashboard) HeadFacts(ctx context.Context) (RayletFacts, error) {
	s, err := d.summary(ctx, nil)
	if err != nil {
		return RayletFacts{}, err
	}
	return d.HeadFactsFrom(ctx, s)
}

// Summary is GET /nodes?view=summary: its nodes (as NodesSummary) and the
// head's facts (as HeadFacts finds them there), from one request.
func (d *Dashboard) Summary(ctx context.Context) (NodesSummary, error) {
	return d.summary(ctx, nil)
}

// HeadFactsFrom is HeadFacts for a summary already read (Summary): its
// head's facts, else those of the alive head's /nodes/<id>.
func (d *Dashboard) HeadFactsFrom(ctx context.Context, s NodesSummary) (RayletFacts, error) {
	if s.Head.GCSAddress != "" {
		return s.Head, nil
	}
	for _, n := range s.Nodes {
		if !n.IsHead || n.State != "ALIVE" {
			continue
		}
		body, err := d.get(ctx, "/nodes/"+n.NodeID, listBody)
		if err != nil {
			return RayletFacts{}, err
		}
		if _, facts, err := DecodeNodeDetail(body); err == nil && facts.GCSAddress != "" {
			return facts, nil
		}
	}
	return RayletFacts{}, fmt.Errorf("%w: no alive head node with a raylet command line (--gcs-address) in %s/nodes?view=summary yet", ErrNotFound, d.base)
}
