package connector

// The sync's fast path against e2e/fakeray (a FAKE dashboard; see
// scale_test.go): a table Ray answers with the same bytes is neither
// decoded nor compared, and a change still gives exactly its events.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/e2e/fakeray"
	"github.com/castray/castray/host/registry"
)

// fastClock is a Now that tests move on by hand.
type fastClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fastClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fastClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func TestSyncSkipsWhatDidNotChange(t *testing.T) {
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	// More nodes than summaryMaxNodes: the node table can be skipped too.
	const nodes, actors = summaryMaxNodes + 100, 2000
	srv := fakeray.Start(t, fakeray.Options{Nodes: nodes, Actors: actors, Seed: 11})
	rec := &scaleRecorder{}
	clock := &fastClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	reg := registry.New(nil, rec.emit)
	c := New(Options{Registry: reg, Dialer: NewRayDialer(time.Minute, "", nil), Emit: rec.emit, Now: clock.now,
		SyncInterval: time.Hour, Timeout: time.Minute, ActorFilter: DefaultActorFilter})
	t.Cleanup(c.Shutdown)
	st, _, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	id := st.ID
	c.mu.Lock()
	k := c.conns[id]
	c.mu.Unlock()
	skipped := func() [2]int { k.mu.Lock(); defer k.mu.Unlock(); return k.skipped }
	v := scaleReadRay(t, srv.URL, id)
	scaleCheckRegistry(t, reg, id, v)
	rec.take()

	// Nothing changed: no event, no table decoded, every node seen again.
	seen := clock.add(time.Minute)
	srv.ResetRequests()
	scaleSync(t, c, id)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("a sync without change emitted %d events, first %v", len(evs), evs[0])
	}
	if got := skipped(); got != [2]int{1, 1} {
		t.Fatalf("tables skipped (nodes, actors): %v, want both", got)
	}
	if reqs := srv.Requests(); reqs["/api/v0/nodes"] != 1 || reqs["/api/v0/actors"] != 1 || len(reqs) != 2 {
		t.Fatalf("requests of a sync without change: %v", reqs)
	}
	for _, n := range reg.List(registry.Filter{ClusterID: id}) {
		if !n.LastSeen.Equal(seen) {
			t.Fatalf("%s last seen %v, want the sync's %v", n.ID, n.LastSeen, seen)
		}
	}
	if got, _ := c.Get(id); got.Nodes != nodes || got.AliveNodes != nodes || got.Actors != v.actorsMatching || !got.LastSync.Equal(seen) {
		t.Fatalf("after a skipped sync: %+v", got)
	}
	scaleCheckRegistry(t, reg, id, v)

	// One node's resources change: exactly one node_updated; the actors'
	// table is read in full again (an actor's address may come from its node).
	ids := srv.NodeIDs()
	srv.SetResources(ids[7], map[string]float64{"CPU": 3, "memory": 1 << 30})
	v = scaleMutationSync(t, c, reg, rec, srv.URL, id, v, nil, []string{NodeID(id, ids[7])})
	if got := skipped(); got != [2]int{1, 1} {
		t.Fatalf("tables skipped after a node change: %v, want none more", got)
	}
	if n, _ := reg.Get(NodeID(id, ids[7])); n.Resources["CPU"] != 3 || len(n.Resources) != 2 {
		t.Fatalf("updated node's resources: %v", n.Resources)
	}

	// One matching actor dies and one comes: the node table is skipped,
	// and exactly that actor's node_removed and the new one's node_added
	// are emitted.
	actorIDs := srv.ActorIDs()
	srv.KillActor(actorIDs[0]) // actor 0 is named, so kept by the filter
	added := srv.AddActor(ids[3], "DemoWorker", "")
	before := skipped()
	v2 := scaleReadRay(t, srv.URL, id)
	scaleSync(t, c, id)
	evs := scaleByType(rec.take())
	scaleSameIDs(t, "node_removed", evs["node_removed"], []string{ActorID(id, actorIDs[0])})
	scaleSameIDs(t, "node_added", evs["node_added"], []string{ActorID(id, added)})
	if len(evs) != 2 {
		t.Fatalf("actor change: events %v", evs)
	}
	if got := skipped(); got != [2]int{before[0] + 1, before[1]} {
		t.Fatalf("tables skipped after an actor change: %v (before %v), want the nodes only", got, before)
	}
	scaleCheckRegistry(t, reg, id, v2)
	if n, _ := reg.Get(ActorID(id, added)); n.Address == "" || n.Labels["class_name"] != "DemoWorker" {
		t.Fatalf("added actor: %+v", n)
	}

	// A node dies: exactly one node_dead (and a node_removed for each of
	// its actors the filter kept, which leave the alive listing).
	srv.KillNode(ids[9])
	v3 := scaleMutationSync(t, c, reg, rec, srv.URL, id, v2, []string{NodeID(id, ids[9])}, nil)

	// And nothing again: silence.
	scaleSync(t, c, id)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("a sync without change emitted %d events", len(evs))
	}
	scaleCheckRegistry(t, reg, id, v3)
}

// A reconnect forgets what the last sync read: the nodes went offline, so
// the first sync after it hands over every node again (node_updated back
// to active), even though Ray answers the same bytes.
func TestSyncAfterReconnectReadsEverything(t *testing.T) {
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	srv := fakeray.Start(t, fakeray.Options{Nodes: summaryMaxNodes + 1, Actors: 10, Seed: 12})
	rec := &scaleRecorder{}
	reg := registry.New(nil, rec.emit)
	c := New(Options{Registry: reg, Dialer: NewRayDialer(time.Minute, "", nil), Emit: rec.emit,
		SyncInterval: time.Hour, Timeout: time.Minute, ActorFilter: DefaultActorFilter})
	t.Cleanup(c.Shutdown)
	st, _, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	k := c.conns[st.ID]
	c.mu.Unlock()
	total := len(reg.List(registry.Filter{ClusterID: st.ID}))
	rec.take()
	// What reconnect does before dialing again, then the redial.
	k.mu.Lock()
	k.memo, k.memoEpoch = syncMemo{}, k.memoEpoch+1
	k.mu.Unlock()
	reg.MarkClusterOffline(st.ID)
	if err := k.redial(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	evs := scaleByType(rec.take())
	if len(evs["node_updated"]) != 2*total || len(evs) != 1 {
		t.Fatalf("offline then back: %d node_updated (want %d: offline and back), kinds %d", len(evs["node_updated"]), 2*total, len(evs))
	}
	for _, n := range reg.List(registry.Filter{ClusterID: st.ID}) {
		if n.State != registry.StateActive {
			t.Fatalf("%s is %s after the reconnect", n.ID, n.State)
		}
	}
}
