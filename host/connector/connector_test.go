package connector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

// fakeCluster is a scripted Ray cluster behind a Source.
type fakeCluster struct {
	mu     sync.Mutex
	info   ray.ClusterInfo
	nodes  []ray.Node
	actors []ray.Actor
	down   bool
	// hold, when set, makes Actors (the last read of a sync) say so on
	// entered and wait for hold to close.
	hold    chan struct{}
	entered chan struct{}
}

func (f *fakeCluster) set(fn func(*fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type fakeSource struct{ f *fakeCluster }

func (s fakeSource) err() error {
	if s.f.down {
		return errors.New("connection refused")
	}
	return nil
}

func (s fakeSource) Info(context.Context) (ray.ClusterInfo, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.info, s.err()
}

func (s fakeSource) Nodes(context.Context) ([]ray.Node, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return append([]ray.Node(nil), s.f.nodes...), s.err()
}

func (s fakeSource) Actors(context.Context) ([]ray.Actor, error) {
	s.f.mu.Lock()
	hold, entered := s.f.hold, s.f.entered
	s.f.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return append([]ray.Actor(nil), s.f.actors...), s.err()
}

func (s fakeSource) Close() error { return nil }

type fakeDialer map[string]*fakeCluster

func (d fakeDialer) Dial(_ context.Context, address string) (Dialed, error) {
	f, ok := d[address]
	if ok {
		f.mu.Lock()
		ok = !f.down
		f.mu.Unlock()
	}
	if !ok {
		return Dialed{}, &DialError{Address: address, Err: errors.New("nothing answers"),
			Attempts: []Attempt{{Method: "dashboard", Address: address, Error: "connection refused"}}}
	}
	return Dialed{Source: fakeSource{f}, Via: "dashboard", Attempts: []Attempt{{Method: "dashboard", Address: address, OK: true}}}, nil
}

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) emit(typ string, _ any) {
	r.mu.Lock()
	r.events = append(r.events, typ)
	r.mu.Unlock()
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
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

func node(id, ip, state string, head bool) ray.Node {
	return ray.Node{NodeID: id, Address: ip, State: state, IsHead: head, ResourcesTotal: map[string]float64{"CPU": 1}}
}

func setup(t *testing.T, d fakeDialer) (*Connector, *registry.Registry, *recorder) {
	rec := &recorder{}
	reg := registry.New(nil, rec.emit)
	c := New(Options{Registry: reg, Dialer: d, Emit: rec.emit, SyncInterval: 20 * time.Millisecond,
		Timeout: time.Second, BackoffMax: 50 * time.Millisecond, ActorFilter: DefaultActorFilter})
	t.Cleanup(c.Shutdown)
	return c, reg, rec
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnectMapsNodesAndActors(t *testing.T) {
	f := &fakeCluster{
		info:  ray.ClusterInfo{ClusterID: "abcdef0123456789", SessionName: "session_1", RayVersion: "2.60.0"},
		nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true), node("n2", "10.0.0.2", "ALIVE", false)},
		actors: []ray.Actor{
			{ActorID: "a1", ClassName: "CastingNode", State: "ALIVE", NodeID: "n2", PID: 42},
			{ActorID: "a2", ClassName: "Helper", Name: "named", State: "ALIVE", NodeID: "n1"},
			{ActorID: "a3", ClassName: "Helper", State: "ALIVE"},
			{ActorID: "a4", ClassName: "DemoWorker", State: "DEAD"},
		},
	}
	c, reg, rec := setup(t, fakeDialer{"http://h:8265": f})
	st, created, err := c.Connect(context.Background(), "http://h:8265")
	if err != nil || !created {
		t.Fatal(err)
	}
	if st.ID != "c-abcdef012345" || st.Nodes != 2 || st.AliveNodes != 2 || st.Actors != 2 || st.State != StateConnected || st.RayVersion != "2.60.0" {
		t.Fatalf("state = %+v", st)
	}
	nodes := reg.List(registry.Filter{ClusterID: st.ID})
	ids := []string{}
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	want := "ray:c-abcdef012345:actor:a1,ray:c-abcdef012345:actor:a2,ray:c-abcdef012345:n1,ray:c-abcdef012345:n2"
	if strings.Join(ids, ",") != want {
		t.Fatalf("virtual nodes = %v", ids)
	}
	a1, _ := reg.Get("ray:c-abcdef012345:actor:a1")
	if a1.Kind != registry.KindRayActor || a1.Address != "10.0.0.2" || a1.Labels["pid"] != "42" || a1.Name != "CastingNode" {
		t.Errorf("actor a1 = %+v", a1)
	}
	n1, _ := reg.Get("ray:c-abcdef012345:n1")
	if n1.Kind != registry.KindRayNode || !n1.IsHead || n1.Resources["CPU"] != 1 || n1.Source != "ray-dashboard" {
		t.Errorf("node n1 = %+v", n1)
	}
	if rec.count("node_added") != 4 || rec.count("external_cluster_connected") != 1 {
		t.Errorf("events %v", rec.events)
	}
	// Connecting again returns the same connection.
	again, created, err := c.Connect(context.Background(), "http://h:8265")
	if err != nil || created || again.ID != st.ID || len(c.Clusters()) != 1 {
		t.Fatalf("second connect: %+v %v %v", again, created, err)
	}
}

func TestSyncFollowsChangesAndOutages(t *testing.T) {
	f := &fakeCluster{info: ray.ClusterInfo{SessionName: "session_a"},
		nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true), node("n2", "10.0.0.2", "ALIVE", false)}}
	c, reg, rec := setup(t, fakeDialer{"g:6379": f})
	st, _, err := c.Connect(context.Background(), "g:6379")
	if err != nil {
		t.Fatal(err)
	}
	// A worker dies.
	f.set(func(f *fakeCluster) { f.nodes[1].State = "DEAD" })
	waitFor(t, "node_dead", func() bool { return rec.count("node_dead") == 1 })
	if n, _ := reg.Get(NodeID(st.ID, "n2")); n.State != registry.StateDead {
		t.Fatalf("n2 = %+v", n)
	}
	// No change: no events.
	before := rec.total()
	time.Sleep(100 * time.Millisecond)
	if rec.total() != before {
		t.Fatalf("syncs without change emitted %d events", rec.total()-before)
	}
	// The cluster goes away: disconnected, nodes offline but kept.
	f.set(func(f *fakeCluster) { f.down = true })
	waitFor(t, "disconnect", func() bool { s, _ := c.Get(st.ID); return s.State == StateDisconnected })
	if rec.count("external_cluster_disconnected") != 1 {
		t.Fatalf("events %v", rec.events)
	}
	if n, ok := reg.Get(NodeID(st.ID, "n1")); !ok || n.State != registry.StateInactive {
		t.Fatalf("n1 after outage = %+v (present %v)", n, ok)
	}
	// It comes back as a new session with new node ids: the set is replaced.
	f.set(func(f *fakeCluster) {
		f.down = false
		f.info.SessionName = "session_b"
		f.nodes = []ray.Node{node("m1", "10.0.0.1", "ALIVE", true)}
	})
	waitFor(t, "reconnect", func() bool { s, _ := c.Get(st.ID); return s.State == StateConnected })
	s, _ := c.Get(st.ID)
	if s.SessionName != "session_b" || s.Reconnects != 1 || s.Nodes != 1 {
		t.Fatalf("after reconnect: %+v", s)
	}
	got := reg.List(registry.Filter{ClusterID: st.ID})
	if len(got) != 1 || got[0].ID != NodeID(st.ID, "m1") || got[0].State != registry.StateActive {
		t.Fatalf("nodes after the new session: %+v", got)
	}
	if rec.count("node_removed") != 2 || rec.count("external_cluster_connected") != 2 {
		t.Fatalf("events %v", rec.events)
	}
}

func TestTwoClustersAndDisconnect(t *testing.T) {
	a := &fakeCluster{info: ray.ClusterInfo{ClusterID: "aaaa"}, nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}}
	b := &fakeCluster{info: ray.ClusterInfo{ClusterID: "bbbb"}, nodes: []ray.Node{node("n1", "10.0.1.1", "ALIVE", true)}}
	c, reg, rec := setup(t, fakeDialer{"a:8265": a, "b:8265": b})
	for _, addr := range []string{"a:8265", "b:8265"} {
		if _, _, err := c.Connect(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Clusters()) != 2 || len(reg.List(registry.Filter{Kind: registry.KindRayNode})) != 2 {
		t.Fatalf("clusters %+v", c.Clusters())
	}
	if _, err := c.Disconnect("c-aaaa"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Disconnect("c-aaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second disconnect: %v", err)
	}
	if left := reg.List(registry.Filter{Kind: registry.KindRayNode}); len(left) != 1 || left[0].ClusterID != "c-bbbb" {
		t.Fatalf("left = %+v", left)
	}
	if n := len(c.DisconnectAll()); n != 1 || len(reg.List(registry.Filter{Kind: registry.KindRayNode})) != 0 {
		t.Fatalf("disconnect all: %d", n)
	}
	if rec.count("external_cluster_disconnected") != 2 {
		t.Fatalf("events %v", rec.events)
	}
}

func TestDialFailureListsAttempts(t *testing.T) {
	c, _, _ := setup(t, fakeDialer{})
	_, _, err := c.Connect(context.Background(), "nowhere:1")
	var de *DialError
	if !errors.As(err, &de) || len(de.Attempts) != 1 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestActorFilter(t *testing.T) {
	f := ActorFilter{Named: false, ClassPatterns: []string{"Casting*"}}
	if !f.match(ray.Actor{ClassName: "CastingNode"}) || f.match(ray.Actor{ClassName: "Other", Name: "x"}) {
		t.Fatal("pattern filter")
	}
	if !DefaultActorFilter.match(ray.Actor{ClassName: "Other", Name: "x"}) || DefaultActorFilter.match(ray.Actor{ClassName: "Other"}) {
		t.Fatal("default filter")
	}
}
