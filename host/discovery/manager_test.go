package discovery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/sdk"
)

// fake is a discovery strategy that reports fixed candidates after a delay,
// or fails, or hangs until cancelled.
type fake struct {
	delay      time.Duration
	candidates []*sdk.ClusterCandidate
	err        error
	hang       bool
}

func (f *fake) Info(context.Context) (*sdk.PluginInfo, error) { return &sdk.PluginInfo{}, nil }
func (f *fake) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (f *fake) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}

func (f *fake) Discover(ctx context.Context, _ *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	for _, c := range f.candidates {
		if err := sink.Candidate(c); err != nil {
			return nil, err
		}
	}
	return &sdk.DiscoverSummary{Candidates: uint32(len(f.candidates)), Probes: 1}, nil
}

type plugins map[string]sdk.Discoverer

func (p plugins) Discoverers() map[string]sdk.Discoverer { return p }

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) emit(typ string, _ any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ)
}

func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == typ {
			n++
		}
	}
	return n
}

const session = "session_2026-11-25_20-00-00_000000_1"

func TestFourSourcesMergeIntoOneCluster(t *testing.T) {
	var rec recorder
	m := New(Options{Emit: rec.emit, Plugins: plugins{
		"ray-status": &fake{candidates: []*sdk.ClusterCandidate{{Source: "ray-status", GcsAddress: "10.1.2.3:6379", NodeCount: 1, Status: sdk.StatusActive,
			ResourcesTotal: map[string]float64{"CPU": 2}}}},
		"dashboard-scan": &fake{candidates: []*sdk.ClusterCandidate{{Source: "dashboard-scan", DashboardUrl: "http://localhost:8265",
			SessionName: session, RayVersion: "2.60.0", NodeCount: 1, Status: sdk.StatusActive, AuthRequired: true}}},
		"tmpdir": &fake{candidates: []*sdk.ClusterCandidate{{Source: "tmpdir", GcsAddress: "127.0.0.1:6379", DashboardUrl: "127.0.0.1:8265",
			SessionName: session, SessionDir: "/tmp/ray/" + session, NodeCount: -1, Status: sdk.StatusActive}}},
		"portscan": &fake{candidates: []*sdk.ClusterCandidate{{Source: "portscan", GcsAddress: "localhost:6379", NodeCount: -1, Status: sdk.StatusActive}}},
	}})
	m.norm.local["10.1.2.3"] = true // this host's node IP
	res, err := m.Discover(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) != 1 {
		t.Fatalf("clusters = %+v, want one", res.Clusters)
	}
	cl := res.Clusters[0]
	if strings.Join(cl.Sources, ",") != "dashboard-scan,portscan,ray-status,tmpdir" || len(cl.Evidence) != 4 {
		t.Fatalf("sources %v evidence %d", cl.Sources, len(cl.Evidence))
	}
	if cl.GCSAddress != "127.0.0.1:6379" || cl.DashboardURL != "http://127.0.0.1:8265" || cl.SessionName != session ||
		cl.RayVersion != "2.60.0" || cl.Nodes != 1 || cl.Resources["CPU"] != 2 || !cl.AuthRequired || cl.Status != "active" {
		t.Fatalf("cluster = %+v", cl)
	}
	if cl.ID != strings.TrimPrefix(session, "session_") {
		t.Errorf("id = %q", cl.ID)
	}
	if rec.count(events.TypeClusterDiscovered) < 1 || rec.count(events.TypeDiscoveryStarted) != 1 ||
		rec.count(events.TypeDiscoveryFinished) != 1 || rec.count(events.TypeExternalClusterDiscovered) != 1 {
		t.Errorf("events = %v", rec.events)
	}
	if m.Last() != res {
		t.Error("Last() is not the round's result")
	}
}

func TestStaleAndLiveSessionsOnOnePortStayApart(t *testing.T) {
	m := New(Options{Plugins: plugins{
		"tmpdir": &fake{candidates: []*sdk.ClusterCandidate{
			{Source: "tmpdir", GcsAddress: "127.0.0.1:6379", SessionName: "session_old", Status: sdk.StatusInactive, NodeCount: -1},
			{Source: "tmpdir", GcsAddress: "127.0.0.1:6379", SessionName: "session_new", Status: sdk.StatusActive, NodeCount: -1},
		}},
		"dashboard-scan": &fake{candidates: []*sdk.ClusterCandidate{
			{Source: "dashboard-scan", DashboardUrl: "http://127.0.0.1:8265", SessionName: "session_new", Status: sdk.StatusActive, NodeCount: 2},
		}},
		"other": &fake{candidates: []*sdk.ClusterCandidate{
			{Source: "other", GcsAddress: "127.0.0.1:6380", Status: sdk.StatusActive, NodeCount: 1},
		}},
	}})
	res, err := m.Discover(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) != 3 {
		t.Fatalf("clusters = %+v, want 3", res.Clusters)
	}
	byID := map[string]Cluster{}
	for _, c := range res.Clusters {
		byID[c.ID] = c
	}
	if c := byID["new"]; c.Status != "active" || c.Nodes != 2 || len(c.Sources) != 2 {
		t.Errorf("new = %+v", c)
	}
	if c := byID["old"]; c.Status != "inactive" || len(c.Sources) != 1 {
		t.Errorf("old = %+v", c)
	}
	if res.Clusters[len(res.Clusters)-1].Status != "inactive" {
		t.Errorf("inactive clusters should sort last: %+v", res.Clusters)
	}
}

// barrier is a strategy that finishes only once every strategy of the round
// has started: run one after another, the first would wait out its deadline.
type barrier struct {
	fake
	started *sync.WaitGroup
}

func (b *barrier) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	b.started.Done()
	all := make(chan struct{})
	go func() { b.started.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.fake.Discover(ctx, req, sink)
}

func TestStrategiesRunConcurrently(t *testing.T) {
	var started sync.WaitGroup
	started.Add(4)
	ps := plugins{}
	for _, name := range []string{"a", "b", "c", "d"} {
		ps[name] = &barrier{started: &started}
	}
	m := New(Options{Plugins: ps, Timeout: 10 * time.Second})
	res, err := m.Discover(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range res.Plugins {
		if run.Error != "" {
			t.Errorf("%s: %s: the strategies did not run at the same time", name, run.Error)
		}
	}
}

func TestFailingAndHangingPluginsLoseOnlyTheirOwnResults(t *testing.T) {
	m := New(Options{Timeout: 200 * time.Millisecond, Plugins: plugins{
		"good":   &fake{candidates: []*sdk.ClusterCandidate{{Source: "good", GcsAddress: "127.0.0.1:6379", Status: sdk.StatusActive, NodeCount: 1}}},
		"broken": &fake{err: errors.New("ray CLI crashed")},
		"stuck":  &fake{hang: true},
		"dead":   &fake{err: sdk.ErrPluginUnavailable},
	}})
	res, err := m.Discover(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) != 1 || res.Clusters[0].Sources[0] != "good" {
		t.Fatalf("clusters = %+v", res.Clusters)
	}
	if !strings.Contains(res.Plugins["broken"].Error, "crashed") || !strings.Contains(res.Plugins["stuck"].Error, "timed out") ||
		!strings.Contains(res.Plugins["dead"].Error, "unavailable") || res.Plugins["good"].Error != "" || res.Plugins["good"].Candidates != 1 {
		t.Fatalf("plugin runs = %+v", res.Plugins)
	}
}

func TestSelectAndNoPlugins(t *testing.T) {
	m := New(Options{Plugins: plugins{}})
	if _, err := m.Discover(context.Background(), Request{}); !errors.Is(err, ErrNoPlugins) {
		t.Fatalf("err = %v", err)
	}
	m = New(Options{Plugins: plugins{"a": &fake{}}})
	if _, err := m.Discover(context.Background(), Request{Plugins: []string{"zzz"}}); err == nil || !strings.Contains(err.Error(), "zzz") {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalizer(t *testing.T) {
	n := newNormalizer("192.168.7.7")
	for in, want := range map[string]string{
		"localhost:6379": "127.0.0.1:6379", "ray://127.0.0.1:10001": "127.0.0.1:10001", "[::1]:8265": "127.0.0.1:8265",
		"192.168.7.7:6379": "127.0.0.1:6379", "10.9.9.9:6379": "10.9.9.9:6379", "": "",
	} {
		if got := n.hostPort(in); got != want {
			t.Errorf("hostPort(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"http://localhost:8265/": "http://127.0.0.1:8265", "127.0.0.1:8266": "http://127.0.0.1:8266",
		"https://ray.example.com": "https://ray.example.com:443",
	} {
		if got := n.dashboard(in); got != want {
			t.Errorf("dashboard(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizer(f *testing.F) {
	for _, s := range []string{"localhost:6379", "http://[::1]:8265/x", "ray://a:1", "::::", "%zz"} {
		f.Add(s)
	}
	n := newNormalizer()
	f.Fuzz(func(t *testing.T, s string) {
		_ = n.hostPort(s)
		_ = n.dashboard(s)
	})
}

// Candidates that share nothing pairwise become one cluster once a third
// names both, in whatever order they arrive.
func TestMergeIsTransitiveAndOrderIndependent(t *testing.T) {
	gcsOnly := &sdk.ClusterCandidate{Source: "ray-status", GcsAddress: "127.0.0.1:6379", Status: sdk.StatusActive, NodeCount: 1}
	dashOnly := &sdk.ClusterCandidate{Source: "dashboard-scan", DashboardUrl: "http://127.0.0.1:8265", SessionName: session, Status: sdk.StatusActive, NodeCount: 1}
	both := &sdk.ClusterCandidate{Source: "tmpdir", GcsAddress: "localhost:6379", SessionName: session, Status: sdk.StatusActive, NodeCount: -1}
	stale := &sdk.ClusterCandidate{Source: "tmpdir", GcsAddress: "127.0.0.1:6379", SessionName: "session_old", Status: sdk.StatusInactive, NodeCount: -1}
	orders := [][]*sdk.ClusterCandidate{
		{gcsOnly, dashOnly, both, stale}, {both, gcsOnly, dashOnly, stale}, {stale, dashOnly, gcsOnly, both}, {dashOnly, stale, both, gcsOnly},
	}
	for i, order := range orders {
		m := &merger{norm: newNormalizer()}
		for _, c := range order {
			m.add(c)
		}
		var live, old int
		for _, cl := range m.clusters() {
			switch cl.SessionName {
			case session:
				live++
				if len(cl.Sources) != 3 || cl.GCSAddress != "127.0.0.1:6379" || cl.DashboardURL != "http://127.0.0.1:8265" {
					t.Errorf("order %d: live cluster %+v", i, cl)
				}
			case "session_old":
				old++
			}
		}
		// The GCS-only candidate is live, so it joins the live session that
		// names its address, never the stale one, and makes no third cluster.
		if live != 1 || old != 1 || len(m.clusters()) != 2 {
			for _, cl := range m.clusters() {
				t.Logf("order %d: %+v", i, *cl)
			}
			t.Errorf("order %d: %d clusters (live %d, stale %d), want 2", i, len(m.clusters()), live, old)
		}
	}
}
