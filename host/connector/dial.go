package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk/ray"
	"github.com/castray/castray/sdk/raytoken"
)

// rayDialer reaches clusters with sdk/ray: a dashboard URL directly, a
// bare host:port after identifying what answers there, and, when a
// dashboard cannot be used, the GCS on the seed's ports (10001, 6379,
// dashboard port − 1). Every attempt is recorded.
type rayDialer struct {
	timeout time.Duration
	token   string // configured; "" = Ray's own lookup
	log     hclog.Logger
}

// NewRayDialer returns the production Dialer. token is the configured Ray
// auth token; when empty, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH and
// ~/.ray/auth_token are used, as by Ray's own clients.
func NewRayDialer(timeout time.Duration, token string, log hclog.Logger) Dialer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &rayDialer{timeout: timeout, token: token, log: log.Named("dialer")}
}

// dialRun is one Dial call's attempts.
type dialRun struct {
	d        *rayDialer
	token    string
	attempts []Attempt
}

func (r *dialRun) record(method, addr string, start time.Time, err error) {
	a := Attempt{Method: method, Address: addr, OK: err == nil, DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		a.Error = err.Error()
	}
	r.attempts = append(r.attempts, a)
}

// Dial implements Dialer.
func (d *rayDialer) Dial(ctx context.Context, address string) (Dialed, error) {
	a, err := ray.ParseAddress(address)
	if err != nil {
		return Dialed{}, &AddressError{Err: err}
	}
	if a.Kind == ray.KindLocal {
		return Dialed{}, &AddressError{Err: fmt.Errorf("%q means the cluster on this machine: give its address instead (\"127.0.0.1:8265\", \"http://host:8265\" or the GCS \"host:6379\"), or run discovery", address)}
	}
	tok, err := raytoken.Find(d.token)
	r := &dialRun{d: d, token: tok.Value}
	if err != nil {
		r.record("token", "", time.Now(), err)
	}

	var src Source
	var via string
	switch a.Kind {
	case ray.KindDashboard:
		src, via = r.dashboard(ctx, a.String())
		if src == nil {
			src, via = r.gcsFallback(ctx, a.Host, a.Port)
		}
	case ray.KindClientServer:
		// The client server serves no tables: reach the same host's GCS
		// and dashboard on their usual ports.
		src, via = r.gcsFallback(ctx, a.Host, 0)
		if src == nil {
			src, via = r.dashboard(ctx, "http://"+net.JoinHostPort(a.Host, "8265"))
		}
	default: // a bare host:port: find out what answers
		src, via = r.identified(ctx, a.Host, a.Port)
	}
	if src == nil {
		return Dialed{Attempts: r.attempts}, &DialError{Address: address, Attempts: r.attempts,
			Err: errors.New("no Ray dashboard or GCS answered"), Timeout: ctx.Err() != nil}
	}
	return Dialed{Source: src, Via: via, Attempts: r.attempts}, nil
}

// identified asks what answers on host:port and connects accordingly.
func (r *dialRun) identified(ctx context.Context, host string, port int) (Source, string) {
	start := time.Now()
	kind, evidence, err := ray.Identify(ctx, host, port, r.token, r.d.timeout/4)
	if err == nil && len(evidence) > 0 {
		r.d.log.Debug("identified", "address", net.JoinHostPort(host, strconv.Itoa(port)), "kind", kind, "evidence", evidence)
	}
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	if err == nil && kind == ray.KindDashboardAgent {
		err = errors.New("this is a node's dashboard agent, not the cluster's dashboard or GCS")
	}
	r.record("identify", hp, start, err)
	if err != nil {
		return nil, ""
	}
	switch kind {
	case ray.KindDashboard:
		if src, via := r.dashboard(ctx, "http://"+hp); src != nil {
			return src, via
		}
		return r.gcsFallback(ctx, host, port)
	case ray.KindGCS:
		return r.gcs(ctx, hp)
	case ray.KindClientServer:
		if src, via := r.gcsFallback(ctx, host, 0); src != nil {
			return src, via
		}
		return r.dashboard(ctx, "http://"+net.JoinHostPort(host, "8265"))
	}
	return nil, ""
}

// gcsFallback tries the GCS on the seed's ports: 10001 (identified first:
// in current Ray it is the client server), 6379 and dashboardPort − 1.
func (r *dialRun) gcsFallback(ctx context.Context, host string, dashboardPort int) (Source, string) {
	ports := []int{6379}
	if dashboardPort > 1 {
		ports = append(ports, dashboardPort-1)
	}
	start := time.Now()
	kind, _, err := ray.Identify(ctx, host, 10001, r.token, r.d.timeout/4)
	if err == nil && kind != ray.KindGCS {
		err = fmt.Errorf("answers as %s, not the GCS", kind)
	}
	r.record("gcs", net.JoinHostPort(host, "10001"), start, err)
	if err == nil {
		return r.gcs(ctx, net.JoinHostPort(host, "10001"))
	}
	for _, p := range ports {
		if ctx.Err() != nil {
			break
		}
		if src, via := r.gcs(ctx, net.JoinHostPort(host, strconv.Itoa(p))); src != nil {
			return src, via
		}
	}
	return nil, ""
}

func (r *dialRun) dashboard(ctx context.Context, url string) (Source, string) {
	start := time.Now()
	d, err := ray.NewDashboard(url, r.token, r.d.timeout)
	if err != nil {
		r.record("dashboard", url, start, err)
		return nil, ""
	}
	// What the first Info and sync read is asked for now, beside
	// /api/version, and dropped if this is no dashboard.
	src := &dashSource{d: d}
	pctx, cancel := context.WithCancel(ctx)
	src.reads, src.cancel = src.startReads(pctx, true), cancel
	version, err := d.Version(ctx)
	r.record("dashboard", url, start, err)
	if err != nil {
		src.Close()
		return nil, ""
	}
	src.version = &version
	return src, "dashboard"
}

func (r *dialRun) gcs(ctx context.Context, addr string) (Source, string) {
	start := time.Now()
	g, err := ray.DialGCS(ctx, addr, r.token)
	r.record("gcs", addr, start, err)
	if err != nil {
		return nil, ""
	}
	return &gcsSource{g: g}, "gcs"
}

// partial accepts a truncated listing (the rows are still the cluster's);
// any other error fails the sync.
func partial[T any](rows []T, err error) ([]T, error) {
	if err != nil && !errors.Is(err, ray.ErrTruncated) {
		return nil, err
	}
	return rows, nil
}

// dashSource reads a cluster through its dashboard.
//
// Connecting is one round trip to the dashboard: beside the request that
// tells a dashboard (the dial's /api/version), the dial asks for what the
// first Info needs — the cluster id, the authentication mode and the
// summary view (head facts) — and for the node and actor tables of the sync
// that follows it (Connect's and a reconnect's first sync), which takes
// them from there instead of asking again; the summary read for the head
// facts also gives a small cluster's available resources. If the address
// is no dashboard, those reads are cancelled. (Eight requests one after
// the other before.)
type dashSource struct {
	d *ray.Dashboard
	// cancel ends the reads the dial started (Close).
	cancel context.CancelFunc

	mu sync.Mutex
	// version is what the dial's /api/version said, and reads what the
	// dial started reading, for the first Info.
	version *ray.ClusterInfo
	reads   *infoReads
	// first holds the tables the dial started reading, taken by the first
	// NodesIfChanged and ActorsIfChanged.
	first *firstRead
}

// infoReads are the reads of an Info besides /api/version, under way.
type infoReads struct {
	summary             *future[summaryRead]
	clusterID, authMode *future[idRead]
}

// idRead is one read of a string.
type idRead struct {
	v   string
	err error
}

// startReads starts an Info's reads; with first, also the first sync's
// tables (s.first).
func (s *dashSource) startReads(ctx context.Context, first bool) *infoReads {
	summary := goFuture(func() summaryRead { return readSummary(ctx, s.d) })
	if first {
		f := &firstRead{
			nodes: goFuture(func() tableRead {
				nodes, digest, _, err := s.d.NodesIfChanged(ctx, 0)
				if nodes, err = partial(nodes, err); err != nil {
					return tableRead{err: err}
				}
				if len(nodes) > summaryMaxNodes {
					return tableRead{nodes: nodes, digest: digest}
				}
				if sr, err := summary.wait(ctx); err == nil && sr.err == nil {
					return tableRead{nodes: withAvailable(nodes, sr.s.Nodes)}
				}
				return tableRead{nodes: s.withAvailable(ctx, nodes)}
			}),
			actors: goFuture(func() tableRead {
				actors, digest, _, err := s.d.ActorsIfChanged(ctx, 0)
				if actors, err = partial(actors, err); err != nil {
					return tableRead{err: err}
				}
				return tableRead{actors: actors, digest: digest}
			}),
		}
		s.mu.Lock()
		s.first = f
		s.mu.Unlock()
	}
	return &infoReads{
		summary:   summary,
		clusterID: goFuture(func() idRead { id, err := s.d.ClusterID(ctx); return idRead{id, err} }),
		authMode:  goFuture(func() idRead { m, err := s.d.AuthMode(ctx); return idRead{m, err} }),
	}
}

// firstRead is the first sync's tables, read while Info reads the rest.
type firstRead struct {
	nodes, actors *future[tableRead]
}

// tableRead is one table as a changeSource returns it.
type tableRead struct {
	nodes  []ray.Node
	actors []ray.Actor
	digest ray.Digest
	err    error
}

// future is a value computed by a goroutine.
type future[T any] struct {
	done chan struct{}
	v    T
}

func goFuture[T any](f func() T) *future[T] {
	fu := &future[T]{done: make(chan struct{})}
	go func() {
		defer close(fu.done)
		fu.v = f()
	}()
	return fu
}

// wait returns the value, or ctx's error's zero value when ctx ends first.
func (f *future[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.v, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (s *dashSource) Info(ctx context.Context) (ray.ClusterInfo, error) {
	s.mu.Lock()
	version, reads := s.version, s.reads
	s.version, s.reads = nil, nil
	s.mu.Unlock()
	if reads == nil {
		reads = s.startReads(ctx, false)
	}
	summary, clusterID, authMode := reads.summary, reads.clusterID, reads.authMode

	var info ray.ClusterInfo
	if version != nil {
		info = *version
	} else {
		var err error
		if info, err = s.d.Version(ctx); err != nil {
			return info, err
		}
	}
	info.DashboardURL = s.d.URL()
	if r, err := clusterID.wait(ctx); err == nil && r.err == nil {
		info.ClusterID = r.v
	}
	if r, err := authMode.wait(ctx); err == nil && r.err == nil {
		info.AuthMode = r.v
	}
	// The head raylet's command line tells the GCS address, and on older
	// Rays the only cluster id and session name the dashboard has.
	sr, err := summary.wait(ctx)
	if err == nil {
		err = sr.err
	}
	var facts ray.RayletFacts
	if err == nil {
		facts, err = s.d.HeadFactsFrom(ctx, sr.s)
	}
	if err == nil {
		info.GCSAddress = facts.GCSAddress
		if info.ClusterID == "" {
			info.ClusterID = facts.ClusterID
		}
		if info.SessionName == "" {
			info.SessionName = facts.SessionName
		}
	}
	return info, nil
}

// summaryRead is one read of the summary view.
type summaryRead struct {
	s   ray.NodesSummary
	err error
}

func readSummary(ctx context.Context, d *ray.Dashboard) summaryRead {
	s, err := d.Summary(ctx)
	return summaryRead{s: s, err: err}
}

// takeFirst returns the first sync's table read by the first Info, once.
func (s *dashSource) takeFirst(actors bool) *future[tableRead] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		return nil
	}
	f := s.first.nodes
	if actors {
		f, s.first.actors = s.first.actors, nil
	} else {
		s.first.nodes = nil
	}
	if s.first.nodes == nil && s.first.actors == nil {
		s.first = nil
	}
	return f
}

// summaryMaxNodes bounds the clusters whose available resources are read:
// the summary view is ~2.5 KB of JSON per node and decoding it dominated a
// sync (about 0.6 s of CPU for 10,000 nodes); above this size nodes carry
// their totals only.
const summaryMaxNodes = 500

// Nodes reads the State API, with resources available from the summary
// view for clusters of up to summaryMaxNodes nodes.
func (s *dashSource) Nodes(ctx context.Context) ([]ray.Node, error) {
	nodes, _, _, err := s.NodesIfChanged(ctx, 0)
	return nodes, err
}

// NodesIfChanged implements changeSource. Clusters of up to
// summaryMaxNodes nodes are decoded every time (their available resources
// come from the summary view, which changes on its own): their Digest is 0.
func (s *dashSource) NodesIfChanged(ctx context.Context, prev ray.Digest) ([]ray.Node, ray.Digest, bool, error) {
	if f := s.takeFirst(false); f != nil {
		r, err := f.wait(ctx)
		if err == nil {
			err = r.err
		}
		if err != nil {
			return nil, 0, true, err
		}
		return r.nodes, r.digest, true, nil
	}
	nodes, digest, changed, err := s.d.NodesIfChanged(ctx, prev)
	if !changed {
		return nil, prev, false, nil
	}
	if nodes, err = partial(nodes, err); err != nil {
		return nil, 0, true, err
	}
	if len(nodes) > summaryMaxNodes {
		return nodes, digest, true, nil
	}
	return s.withAvailable(ctx, nodes), 0, true, nil
}

// withAvailable sets the nodes' available resources from the summary view
// (left unset when it cannot be read).
func (s *dashSource) withAvailable(ctx context.Context, nodes []ray.Node) []ray.Node {
	if summary, err := s.d.NodesSummary(ctx); err == nil {
		return withAvailable(nodes, summary)
	}
	return nodes
}

// withAvailable sets the nodes' available resources from those of the
// summary's nodes.
func withAvailable(nodes, summary []ray.Node) []ray.Node {
	avail := make(map[string]map[string]float64, len(summary))
	for _, n := range summary {
		avail[n.NodeID] = n.ResourcesAvailable
	}
	for i := range nodes {
		nodes[i].ResourcesAvailable = avail[nodes[i].NodeID]
	}
	return nodes
}

func (s *dashSource) Actors(ctx context.Context) ([]ray.Actor, error) {
	return partial(s.d.Actors(ctx))
}

// ActorsIfChanged implements changeSource.
func (s *dashSource) ActorsIfChanged(ctx context.Context, prev ray.Digest) ([]ray.Actor, ray.Digest, bool, error) {
	if f := s.takeFirst(true); f != nil {
		r, err := f.wait(ctx)
		if err == nil {
			err = r.err
		}
		if err != nil {
			return nil, 0, true, err
		}
		return r.actors, r.digest, true, nil
	}
	actors, digest, changed, err := s.d.ActorsIfChanged(ctx, prev)
	if !changed {
		return nil, prev, false, nil
	}
	if actors, err = partial(actors, err); err != nil {
		return nil, 0, true, err
	}
	return actors, digest, true, nil
}

func (s *dashSource) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.d.Close()
	return nil
}

// gcsSource reads a cluster through its GCS.
type gcsSource struct{ g *ray.GCS }

func (s *gcsSource) Info(ctx context.Context) (ray.ClusterInfo, error) {
	version, err := s.g.CheckAlive(ctx)
	if err != nil {
		return ray.ClusterInfo{}, err
	}
	info := ray.ClusterInfo{RayVersion: version, GCSAddress: s.g.Addr()}
	if id, err := s.g.ClusterID(ctx); err == nil {
		info.ClusterID = id
	}
	if name, err := s.g.SessionName(ctx); err == nil {
		info.SessionName = name
	}
	if dash, err := s.g.DashboardAddress(ctx); err == nil && dash != "" {
		info.DashboardURL = "http://" + dash
	}
	return info, nil
}

func (s *gcsSource) Nodes(ctx context.Context) ([]ray.Node, error) {
	return partial(s.g.Nodes(ctx))
}

func (s *gcsSource) Actors(ctx context.Context) ([]ray.Actor, error) {
	return partial(s.g.Actors(ctx))
}

func (s *gcsSource) Close() error { return s.g.Close() }
