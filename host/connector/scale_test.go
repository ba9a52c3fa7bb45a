package connector

// Scale tests and benchmarks against e2e/fakeray, a FAKE Ray dashboard
// (10,000 nodes cannot run on one machine). Everything that checks what
// CastRay does with Ray itself runs against real Ray in e2e/; here the fake
// only supplies size and on-cue changes. The Connector is wired as in
// production: the real rayDialer (NewRayDialer), sdk/ray's Dashboard and
// a real registry.
//
// What fakeray generates (e2e/fakeray/fakeray.go, populate): Nodes nodes,
// node 0 the head; actor i lives on node i % Nodes, its class is
// Worker/ParameterServer/Replica/Collector by i % 4 and every 10th actor
// (i % 10 == 0) is named "actor-<i>". DefaultActorFilter (named, or class
// matching *Node*/*Worker*/*Demo*) therefore keeps 3 actors in 10.
//
// Truncation: the State API caps every listing at 10,000 rows (the GCS
// returns at most RAY_MAX_LIMIT_FROM_DATA_SOURCE rows, the API refuses
// limit > 10000). With 50,000 ALIVE actors sdk/ray returns the first
// 10,000 alive actors in GCS order with a *TruncatedError, and the
// connector's `partial` accepts them: the sync succeeds, the cluster stays
// connected with no LastError, and only the filter-matching actors of that
// 10,000-row window become virtual nodes (3,000 here, of 15,000 matching
// actors in the cluster); Cluster.Actors counts those 3,000. The window is
// stable while nothing changes (no events), but when an actor in it dies
// the next alive actor in GCS order slides in and, if it matches the
// filter, appears as node_added. Nodes are not affected at 10,000: the
// node listing is exactly at the cap, which the client does not count as
// truncated (above it, sdk/ray falls back to /nodes?view=summary).

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/fakeray"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

const (
	scaleNodes  = 10_000
	scaleActors = 50_000
)

// scaleEvent is one recorded event: its type and, for node events, the
// virtual node id.
type scaleEvent struct{ typ, id string }

type scaleRecorder struct {
	mu     sync.Mutex
	events []scaleEvent
}

func (r *scaleRecorder) emit(typ string, data any) {
	id := ""
	if n, ok := data.(registry.Node); ok {
		id = n.ID
	}
	r.mu.Lock()
	r.events = append(r.events, scaleEvent{typ, id})
	r.mu.Unlock()
}

// take returns the events recorded so far and forgets them.
func (r *scaleRecorder) take() []scaleEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// scaleByType groups event ids by type.
func scaleByType(evs []scaleEvent) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		out[e.typ] = append(out[e.typ], e.id)
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// scaleSync runs one sync of the connection now, as the loop would on its
// next tick (the tests set SyncInterval to an hour so that the loop never
// runs on its own).
func scaleSync(t testing.TB, c *Connector, id string) {
	t.Helper()
	c.mu.Lock()
	k := c.conns[id]
	c.mu.Unlock()
	if k == nil {
		t.Fatalf("no connection %q", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	if err := k.sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// scaleRayView is what Ray (here the fake) answers, read independently of the
// connector with a plain ray.Dashboard: the virtual node ids the
// registry should hold, mapped to their expected state.
type scaleRayView struct {
	want           map[string]registry.State
	nodes, alive   int
	actorRows      int // alive actor rows returned (capped at 10,000)
	actorsMatching int // of those, the ones DefaultActorFilter keeps
	actorsTotal    int // alive actors the cluster has (TruncatedError.Total)
}

func scaleReadRay(t testing.TB, url, cluster string) scaleRayView {
	t.Helper()
	d, err := ray.NewDashboard(url, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	nodes, err := d.Nodes(ctx)
	if err != nil {
		t.Fatalf("nodes: %v", err)
	}
	actors, aerr := d.Actors(ctx)
	v := scaleRayView{want: map[string]registry.State{}, nodes: len(nodes), actorRows: len(actors), actorsTotal: len(actors)}
	if te, ok := aerr.(*ray.TruncatedError); ok {
		v.actorsTotal = te.Total
	} else if aerr != nil {
		t.Fatalf("actors: %v", aerr)
	}
	for _, n := range nodes {
		st := registry.StateDead
		if n.State == "ALIVE" {
			st = registry.StateActive
			v.alive++
		}
		v.want[NodeID(cluster, n.NodeID)] = st
	}
	for _, a := range actors {
		if a.State == "ALIVE" && DefaultActorFilter.match(a) {
			v.actorsMatching++
			v.want[ActorID(cluster, a.ActorID)] = registry.StateActive
		}
	}
	return v
}

// scaleCheckRegistry compares the registry's nodes of the cluster with v.
func scaleCheckRegistry(t *testing.T, reg *registry.Registry, cluster string, v scaleRayView) {
	t.Helper()
	got := reg.List(registry.Filter{ClusterID: cluster})
	if len(got) != len(v.want) {
		t.Fatalf("registry holds %d virtual nodes of %s, Ray reports %d (%d nodes, %d alive, %d matching actors)",
			len(got), cluster, len(v.want), v.nodes, v.alive, v.actorsMatching)
	}
	for _, n := range got {
		st, ok := v.want[n.ID]
		if !ok {
			t.Fatalf("registry has %s, which Ray does not report", n.ID)
		}
		if n.State != st {
			t.Fatalf("%s is %s in the registry, %s per Ray", n.ID, n.State, st)
		}
	}
}

// scaleDiff returns the ids in a and not in b, sorted.
func scaleDiff(a, b map[string]registry.State) []string {
	var out []string
	for id := range a {
		if _, ok := b[id]; !ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func scaleSameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		if len(got) > 10 || len(want) > 10 {
			t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
		}
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func newScaleConnector(rec *scaleRecorder) (*Connector, *registry.Registry) {
	var emit func(string, any)
	if rec != nil {
		emit = rec.emit
	}
	reg := registry.New(nil, emit)
	c := New(Options{Registry: reg, Dialer: NewRayDialer(time.Minute, "", nil), Emit: emit,
		SyncInterval: time.Hour, Timeout: 2 * time.Minute, ActorFilter: DefaultActorFilter})
	return c, reg
}

// TestScale10kNodes connects to a fake 10,000-node cluster with 50,000
// alive actors (5,000 under -race or -short) and follows it through a sync without
// change, a node death, a resource change and a restart.
func TestScale10kNodes(t *testing.T) {
	// The dialer would otherwise pick up a token from the environment or
	// ~/.ray; the fake runs with auth disabled and ignores it anyway.
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	actors := scaleActors
	if scaleRaceEnabled() || testing.Short() {
		// Below the 10,000-row cap: truncation is checked without -race.
		actors = 5_000
	}
	srv := fakeray.Start(t, fakeray.Options{Nodes: scaleNodes, Actors: actors, Seed: 7})
	rec := &scaleRecorder{}
	c, reg := newScaleConnector(rec)
	t.Cleanup(c.Shutdown)

	st, created, err := c.Connect(context.Background(), srv.URL)
	if err != nil || !created {
		t.Fatalf("connect: created=%v err=%v", created, err)
	}
	id := st.ID
	v := scaleReadRay(t, srv.URL, id)
	if st.Via != "dashboard" || st.State != StateConnected || st.LastError != "" ||
		st.Nodes != scaleNodes || st.AliveNodes != scaleNodes || st.Actors != v.actorsMatching {
		t.Fatalf("after connect: %+v (Ray: %d matching actors)", st, v.actorsMatching)
	}
	if v.alive != scaleNodes {
		t.Fatalf("fake reports %d alive nodes", v.alive)
	}
	// Registry = Ray's alive nodes + the actors the filter keeps.
	scaleCheckRegistry(t, reg, id, v)
	if got := len(reg.List(registry.Filter{ClusterID: id})); got != v.alive+v.actorsMatching {
		t.Fatalf("registry %d != alive nodes %d + matching actors %d", got, v.alive, v.actorsMatching)
	}
	evs := scaleByType(rec.take())
	if len(evs["node_added"]) != len(v.want) || len(evs["external_cluster_connected"]) != 1 || len(evs) != 2 {
		t.Fatalf("connect events: %d node_added (want %d), %d kinds", len(evs["node_added"]), len(v.want), len(evs))
	}

	// Truncation: the actor listing is capped at 10,000 rows. The
	// connector keeps what came back; see the file comment.
	if actors > ray.MaxStateLimit {
		// fakeray's generator: 3 actors in 10 match (Worker, or named).
		matchingInCluster := 0
		for i := 0; i < actors; i++ {
			if i%4 == 0 || i%10 == 0 {
				matchingInCluster++
			}
		}
		if v.actorRows != ray.MaxStateLimit || v.actorsTotal < actors {
			t.Fatalf("fake did not truncate: %d rows, total %d", v.actorRows, v.actorsTotal)
		}
		if st.Actors >= matchingInCluster {
			t.Fatalf("actors %d: expected only the 10,000-row window's matching actors (< %d)", st.Actors, matchingInCluster)
		}
		t.Logf("truncated actor listing: %d of %d alive actors listed; %d of the %d matching actors became virtual nodes; cluster state %s, last_error %q",
			v.actorRows, v.actorsTotal, st.Actors, matchingInCluster, st.State, st.LastError)
	}

	// A sync with no change emits nothing, and reads each table once.
	srv.ResetRequests()
	scaleSync(t, c, id)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("sync without change emitted %d events, first %v", len(evs), evs[0])
	}
	if got, _ := c.Get(id); got.LastError != "" || got.State != StateConnected {
		t.Fatalf("after a no-change sync: %+v", got)
	}
	reqs := srv.Requests()
	// The summary view (available resources) is read only for clusters of
	// up to summaryMaxNodes nodes: at this size the nodes and actors only.
	if reqs["/api/v0/nodes"] != 1 || reqs["/api/v0/actors"] != 1 || reqs["/nodes"] != 0 {
		t.Fatalf("requests of one sync: %v", reqs)
	}

	// A worker dies: exactly one node_dead. Its alive actors leave the
	// listing; with a truncated listing the window slides, so actors may
	// also come in. Both are checked against what Ray reports. Then new
	// resources on another node: exactly one node_updated. In the light
	// mode (-race or -short) both changes are checked in one sync: each
	// sync of 10,000 nodes costs seconds under the race detector.
	nodeIDs := srv.NodeIDs()
	victim := nodeIDs[4] // hosts actor 4, a Worker in the window
	changed := nodeIDs[5]
	light := scaleRaceEnabled() || testing.Short()
	srv.KillNode(victim)
	if !light {
		before := v
		v = scaleMutationSync(t, c, reg, rec, srv.URL, id, before, []string{NodeID(id, victim)}, nil)
	}
	srv.SetResources(changed, map[string]float64{"CPU": 16, "GPU": 2, "memory": 34059480270, "object_store_memory": 7298460057})
	if light {
		v = scaleMutationSync(t, c, reg, rec, srv.URL, id, v, []string{NodeID(id, victim)}, []string{NodeID(id, changed)})
	} else {
		v = scaleMutationSync(t, c, reg, rec, srv.URL, id, v, nil, []string{NodeID(id, changed)})
	}
	if n, _ := reg.Get(NodeID(id, changed)); n.Resources["CPU"] != 16 || n.Resources["GPU"] != 2 {
		t.Fatalf("updated node: resources %v available %v", n.Resources, n.Available)
	}

	// A restart (new session, new node and actor ids) while the dashboard
	// keeps answering: the whole set is replaced.
	old := v
	srv.Restart("session_2026-11-25_22-00-00_000000_1")
	v = scaleReadRay(t, srv.URL, id)
	scaleSync(t, c, id)
	evs = scaleByType(rec.take())
	scaleSameIDs(t, "node_removed", evs["node_removed"], scaleDiff(old.want, v.want))
	scaleSameIDs(t, "node_added", evs["node_added"], scaleDiff(v.want, old.want))
	if len(evs["node_removed"]) != len(old.want) || len(evs["node_added"]) != len(v.want) || len(evs) != 2 {
		t.Fatalf("restart: %d removed of %d, %d added of %d, kinds %d",
			len(evs["node_removed"]), len(old.want), len(evs["node_added"]), len(v.want), len(evs))
	}
	scaleCheckRegistry(t, reg, id, v)
	// A sync that replaces every node reads the cluster's identity again.
	if got, _ := c.Get(id); got.SessionName != srv.SessionName() || got.ClusterID != srv.ClusterID() {
		t.Fatalf("after a restart the connection shows session %q cluster %q (Ray: %q %q)", got.SessionName, got.ClusterID, srv.SessionName(), srv.ClusterID())
	}
}

// scaleMutationSync syncs after a change to the fake and checks the events
// against what Ray reports before and after: node_dead for exactly dead,
// node_updated for exactly updated, node_removed and node_added for the
// virtual nodes that left and came, nothing else. It returns Ray's view.
func scaleMutationSync(t *testing.T, c *Connector, reg *registry.Registry, rec *scaleRecorder, url, id string, before scaleRayView, dead, updated []string) scaleRayView {
	t.Helper()
	v := scaleReadRay(t, url, id)
	scaleSync(t, c, id)
	evs := scaleByType(rec.take())
	scaleSameIDs(t, "node_dead", evs["node_dead"], dead)
	scaleSameIDs(t, "node_updated", evs["node_updated"], updated)
	scaleSameIDs(t, "node_removed", evs["node_removed"], scaleDiff(before.want, v.want))
	scaleSameIDs(t, "node_added", evs["node_added"], scaleDiff(v.want, before.want))
	for typ := range evs {
		switch typ {
		case "node_dead", "node_updated", "node_removed", "node_added":
		default:
			t.Fatalf("unexpected %s events", typ)
		}
	}
	scaleCheckRegistry(t, reg, id, v)
	t.Logf("change synced: %d node_dead, %d node_updated, %d node_removed, %d node_added",
		len(evs["node_dead"]), len(evs["node_updated"]), len(evs["node_removed"]), len(evs["node_added"]))
	return v
}

// scaleRaceEnabled reports whether the test binary was built with -race.
func scaleRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// scaleCPUTime is the process's user + system CPU time so far.
func scaleCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleBenchSetup starts the fake and connects to it once (through the real
// dialer).
func scaleBenchSetup(b *testing.B) (*fakeray.Server, *Connector, *registry.Registry, *int, string) {
	b.Setenv("RAY_AUTH_TOKEN", "")
	b.Setenv("RAY_AUTH_TOKEN_PATH", "")
	srv := fakeray.Start(b, fakeray.Options{Nodes: scaleNodes, Actors: scaleActors, Seed: 7})
	events := new(int)
	var mu sync.Mutex
	reg := registry.New(nil, func(string, any) { mu.Lock(); *events++; mu.Unlock() })
	c := New(Options{Registry: reg, Dialer: NewRayDialer(time.Minute, "", nil),
		SyncInterval: time.Hour, Timeout: 2 * time.Minute, ActorFilter: DefaultActorFilter})
	b.Cleanup(c.Shutdown)
	st, _, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	return srv, c, reg, events, st.ID
}

// BenchmarkFullSync10k: one full sync of a fake 10,000-node cluster with
// 50,000 alive actors (a 10,000-row actor listing) into a fresh registry,
// i.e. every virtual node is new: the three HTTP reads (State API nodes,
// /nodes?view=summary, State API actors), decoding, mapping and the
// registry's diff with its node_added events. cpu-ms/sync is the whole
// process's CPU time (getrusage) per sync, the fake server's share (writing
// its cached bodies) and GC included; goal ≤ 100. B/node is the heap the
// registry keeps per ray-node after loading the 10,000 nodes (no actors)
// into a fresh registry; goal ≤ 2048. Printed, not asserted.
func BenchmarkFullSync10k(b *testing.B) {
	_, c, _, events, id := scaleBenchSetup(b)
	c.mu.Lock()
	k := c.conns[id]
	c.mu.Unlock()

	perNode := scaleBytesPerNode(b, k)

	ctx := context.Background()
	*events = 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := scaleCPUTime(b)
	for i := 0; i < b.N; i++ {
		// A fresh registry each time: every node is added.
		reg := registry.New(nil, func(string, any) { *events++ })
		k.c.opts.Registry = reg
		k.memo = syncMemo{} // and nothing remembered: every table decoded
		if err := k.sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu := scaleCPUTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sync")
	b.ReportMetric(float64(*events)/float64(b.N), "events/sync")
	b.ReportMetric(perNode, "B/node")
}

// scaleBytesPerNode loads the cluster's 10,000 ray-nodes (no actors)
// into a fresh registry and returns the retained heap per node. The fake's
// reply cache is warmed first so that it is not counted.
func scaleBytesPerNode(b *testing.B, k *conn) float64 {
	ctx := context.Background()
	k.mu.Lock()
	src, id, via := k.src, k.state.ID, k.state.Via
	k.mu.Unlock()
	if _, err := src.Nodes(ctx); err != nil { // warm the fake's cache
		b.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	nodes, err := src.Nodes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	virtual, _, _ := toVirtual(id, via, nodes, nil, k.c.opts.ActorFilter, time.Now().UTC())
	reg := registry.New(nil, nil)
	reg.SyncCluster(id, virtual)
	nodes, virtual = nil, nil
	runtime.GC()
	runtime.ReadMemStats(&m1)
	n := len(reg.List(registry.Filter{ClusterID: id, Kind: registry.KindRayNode}))
	runtime.KeepAlive(reg)
	if n != scaleNodes {
		b.Fatalf("loaded %d nodes", n)
	}
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n)
}

// BenchmarkNoChangeSync10k: the steady state, a sync of the same 10,000
// nodes and actor listing with nothing changed. events/sync must be 0
// (printed, not asserted); cpu-ms/sync as in BenchmarkFullSync10k.
func BenchmarkNoChangeSync10k(b *testing.B) {
	_, c, _, events, id := scaleBenchSetup(b)
	c.mu.Lock()
	k := c.conns[id]
	c.mu.Unlock()
	ctx := context.Background()
	*events = 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := scaleCPUTime(b)
	for i := 0; i < b.N; i++ {
		if err := k.sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu := scaleCPUTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sync")
	b.ReportMetric(float64(*events)/float64(b.N), "events/sync")
}
