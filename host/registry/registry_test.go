package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStore is an in-memory Persister that can be made to fail.
type fakeStore struct {
	mu      sync.Mutex
	data    map[string]map[string][]byte
	failPut error
	failDel error
}

func newFake() *fakeStore { return &fakeStore{data: map[string]map[string][]byte{}} }

func (f *fakeStore) Put(bucket, key string, v any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPut != nil {
		return f.failPut
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if f.data[bucket] == nil {
		f.data[bucket] = map[string][]byte{}
	}
	f.data[bucket][key] = raw
	return nil
}

func (f *fakeStore) Delete(bucket, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failDel != nil {
		return f.failDel
	}
	delete(f.data[bucket], key)
	return nil
}

func (f *fakeStore) List(bucket string, fn func(string, []byte) error) error {
	f.mu.Lock()
	var keys []string
	for k := range f.data[bucket] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = f.data[bucket][k]
	}
	f.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

type rec struct {
	Type string
	Node Node
}

// recorder collects emitted events.
type recorder struct {
	mu  sync.Mutex
	evs []rec
}

func (r *recorder) emit(typ string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, rec{typ, data.(Node)})
}

func (r *recorder) take() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func (r *recorder) summary() string {
	var parts []string
	for _, e := range r.take() {
		parts = append(parts, e.Type+":"+e.Node.ID)
	}
	return strings.Join(parts, " ")
}

func TestAddRemoveListFilter(t *testing.T) {
	root := t.TempDir()
	var ev recorder
	r := New(nil, ev.emit)

	n, err := r.AddLocal("node_2", 8002, root)
	if err != nil {
		t.Fatal(err)
	}
	if n.Kind != KindLocal || n.State != StateActive || n.Port != 8002 || n.Source != "api" ||
		n.InboxDir != filepath.Join(root, "node_2") || n.CreatedAt.IsZero() || n.LastSeen.IsZero() {
		t.Fatalf("AddLocal returned %+v", n)
	}
	if fi, err := os.Stat(n.InboxDir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("inbox folder: %v %v", fi, err)
	}
	if _, err := r.AddLocal("node_1", 8001, root, WithSource("demo"), WithName("Demo 1")); err != nil {
		t.Fatal(err)
	}
	if got := ev.summary(); got != "node_added:node_2 node_added:node_1" {
		t.Fatalf("events: %s", got)
	}
	if _, err := r.AddLocal("node_1", 9999, root); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if got := ev.summary(); got != "" {
		t.Fatalf("failed add emitted %s", got)
	}

	r.SyncCluster("c1", []Node{{ID: "r1", Address: "10.0.0.1"}, {ID: "r2", Kind: KindRayActor, State: StateDead}})
	r.SyncCluster("c2", []Node{{ID: "r3"}})
	ev.take()

	ids := func(ns []Node) string {
		var s []string
		for _, n := range ns {
			s = append(s, n.ID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "node_1,node_2,r1,r2,r3"},
		{Filter{Kind: KindLocal}, "node_1,node_2"},
		{Filter{Kind: KindRayNode}, "r1,r3"},
		{Filter{ClusterID: "c1"}, "r1,r2"},
		{Filter{ClusterID: "c1", State: StateDead}, "r2"},
		{Filter{State: StateActive}, "node_1,node_2,r1,r3"},
		{Filter{ClusterID: "nope"}, ""},
	} {
		if got := ids(r.List(c.f)); got != c.want {
			t.Errorf("List(%+v) = %s, want %s", c.f, got, c.want)
		}
	}
	if total, active := counts(r); total != 5 || active != 4 {
		t.Fatalf("Visit counts %d, %d active", total, active)
	}
	if got := r.Clusters(); strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("Clusters = %v", got)
	}

	// Copies: changing what we got does not change the registry.
	g, ok := r.Get("node_1")
	if !ok || g.Name != "Demo 1" || g.Source != "demo" {
		t.Fatalf("Get = %+v %v", g, ok)
	}
	r.SyncCluster("c1", []Node{{ID: "r1", Address: "10.0.0.1", Labels: map[string]string{"a": "b"}}, {ID: "r2", Kind: KindRayActor, State: StateDead}})
	ev.take()
	// Returned nodes are copies, maps included.
	g, _ = r.Get("r1")
	g.Labels["a"] = "changed"
	for _, n := range r.List(Filter{}) {
		if n.Labels != nil {
			n.Labels["a"] = "changed"
		}
	}
	if g2, _ := r.Get("r1"); g2.Labels["a"] != "b" {
		t.Fatal("registry shares maps with returned nodes")
	}

	if _, err := r.Remove("r1"); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("Remove external: %v", err)
	}
	if _, err := r.Remove("ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remove missing: %v", err)
	}
	// Files are never lost: the inbox stays with its contents.
	if err := os.WriteFile(filepath.Join(n.InboxDir, "f.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rm, err := r.Remove("node_2")
	if err != nil || rm.ID != "node_2" {
		t.Fatalf("Remove = %+v %v", rm, err)
	}
	if _, err := os.Stat(filepath.Join(n.InboxDir, "f.txt")); err != nil {
		t.Fatalf("inbox file gone after Remove: %v", err)
	}
	if got := ev.summary(); got != "node_removed:node_2" {
		t.Fatalf("events: %s", got)
	}
	if _, ok := r.Get("node_2"); ok {
		t.Fatal("removed node still there")
	}
	// The id can be reused; the existing inbox is reused too.
	if _, err := r.AddLocal("node_2", 8002, root); err != nil {
		t.Fatal(err)
	}
}

func TestIDValidation(t *testing.T) {
	root := t.TempDir()
	r := New(nil, nil)
	bad := []string{
		"", ".", "..", "../x", "..\\x", "a/b", "/abs", ".hidden", "a b", "nöde", "a\x00b", "a:b",
		strings.Repeat("a", MaxIDLen+1),
	}
	for _, id := range bad {
		if _, err := r.AddLocal(id, 0, root); !errors.Is(err, ErrInvalidID) {
			t.Errorf("AddLocal(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	// The error names the character, not one byte of it.
	if _, err := r.AddLocal("nöde", 0, root); err == nil || !strings.Contains(err.Error(), `character 'ö' not allowed`) {
		t.Errorf("AddLocal(nöde) = %v, want it to name 'ö'", err)
	}
	good := []string{"a", "node_1", "Node-2.x", "a..b", "_", "-", strings.Repeat("z", MaxIDLen)}
	for _, id := range good {
		if _, err := r.AddLocal(id, 0, root); err != nil {
			t.Errorf("AddLocal(%q) = %v", id, err)
		}
	}
	// Nothing was created outside the root.
	entries, _ := os.ReadDir(filepath.Dir(root))
	for _, e := range entries {
		if e.Name() == "x" {
			t.Fatal("path traversal created a folder outside the inbox root")
		}
	}
	if got := len(r.List(Filter{})); got != len(good) {
		t.Fatalf("%d nodes, want %d", got, len(good))
	}
	for _, p := range []int{-1, 65536} {
		if _, err := r.AddLocal("p", p, root); err == nil {
			t.Errorf("port %d accepted", p)
		}
	}
	if _, err := r.AddLocal("p", 1, ""); err == nil {
		t.Error("empty inbox root accepted")
	}
}

func TestPersistenceFake(t *testing.T) {
	root := t.TempDir()
	fs := newFake()
	var ev recorder
	r := New(fs, ev.emit)
	a, err := r.AddLocal("a", 1, root, WithLabels(map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddLocal("b", 2, root); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddLocal("c", 3, root); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetState("b", StateInactive); err != nil {
		t.Fatal(err)
	}
	r.SyncCluster("c1", []Node{{ID: "ext"}})
	if n := len(fs.data[Bucket]); n != 2 {
		t.Fatalf("%d records saved, want 2 (external nodes are not persisted)", n)
	}

	var ev2 recorder
	r2 := New(fs, ev2.emit)
	if err := r2.Load(); err != nil {
		t.Fatal(err)
	}
	if got := ev2.summary(); got != "" {
		t.Fatalf("Load emitted %s", got)
	}
	got := r2.List(Filter{})
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("loaded %+v", got)
	}
	if got[1].State != StateInactive {
		t.Fatalf("state not persisted: %+v", got[1])
	}
	if got[0].InboxDir != a.InboxDir || got[0].Labels["k"] != "v" || !got[0].CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("loaded %+v, saved %+v", got[0], a)
	}

	// Failures to save leave the registry unchanged and say why.
	fs.failPut = errors.New("disk full")
	if _, err := r2.AddLocal("d", 4, root); err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "add node d") {
		t.Fatalf("AddLocal with failing store: %v", err)
	}
	if _, ok := r2.Get("d"); ok {
		t.Fatal("node added although it could not be saved")
	}
	fs.failDel = errors.New("io error")
	if _, err := r2.Remove("a"); err == nil || !strings.Contains(err.Error(), "io error") {
		t.Fatalf("Remove with failing store: %v", err)
	}
	if _, ok := r2.Get("a"); !ok {
		t.Fatal("node removed although its record could not be deleted")
	}
	if got := ev2.summary(); got != "" {
		t.Fatalf("failed operations emitted %s", got)
	}
}

func TestLoadSkipsBadRecords(t *testing.T) {
	fs := newFake()
	fs.data[Bucket] = map[string][]byte{
		"good":  []byte(`{"id":"good","kind":"local","state":"active"}`),
		"junk":  []byte(`not json`),
		"wrong": []byte(`{"id":"other","kind":"local"}`),
		"ext":   []byte(`{"id":"ext","kind":"ray-node"}`),
		"..":    []byte(`{"id":"..","kind":"local"}`),
	}
	r := New(fs, nil)
	err := r.Load()
	if err == nil || !strings.Contains(err.Error(), "4 of 5 records skipped") {
		t.Fatalf("Load = %v", err)
	}
	for _, k := range []string{`"junk"`, `"wrong"`, `"ext"`, `".."`} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name record %s: %v", k, err)
		}
	}
	if got := r.List(Filter{}); len(got) != 1 || got[0].ID != "good" {
		t.Fatalf("loaded %+v", got)
	}
}

func node(id string, mods ...func(*Node)) Node {
	n := Node{ID: id, Kind: KindRayNode, State: StateActive, Address: "10.0.0.1",
		Resources: map[string]float64{"CPU": 4}, Available: map[string]float64{"CPU": 4}}
	for _, m := range mods {
		m(&n)
	}
	return n
}

func TestSyncClusterDiff(t *testing.T) {
	var ev recorder
	r := New(nil, ev.emit)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	r.now = func() time.Time { return clock }

	st := r.SyncCluster("c1", []Node{node("a"), node("b"), node("c")})
	if st != (SyncStats{Added: 3}) {
		t.Fatalf("first sync: %v", st)
	}
	if got := ev.summary(); got != "node_added:a node_added:b node_added:c" {
		t.Fatalf("events: %s", got)
	}
	a, _ := r.Get("a")
	if a.ClusterID != "c1" || !a.CreatedAt.Equal(t0) || !a.LastSeen.Equal(t0) {
		t.Fatalf("a = %+v", a)
	}

	// Same set, later: only LastSeen changes → no events, LastSeen updated.
	clock = t0.Add(time.Minute)
	st = r.SyncCluster("c1", []Node{node("a"), node("b"), node("c")})
	if st != (SyncStats{Unchanged: 3}) || st.Events() != 0 {
		t.Fatalf("no-change sync: %v", st)
	}
	if got := ev.summary(); got != "" {
		t.Fatalf("no-change sync emitted %s", got)
	}
	a, _ = r.Get("a")
	if !a.LastSeen.Equal(clock) || !a.CreatedAt.Equal(t0) {
		t.Fatalf("after no-change sync a = %+v", a)
	}
	// An explicit LastSeen from the source is kept, and still no event.
	seen := t0.Add(30 * time.Second)
	r.SyncCluster("c1", []Node{node("a", func(n *Node) { n.LastSeen = seen }), node("b"), node("c")})
	if got := ev.summary(); got != "" {
		t.Fatalf("LastSeen-only sync emitted %s", got)
	}
	if a, _ = r.Get("a"); !a.LastSeen.Equal(seen) {
		t.Fatalf("LastSeen = %v", a.LastSeen)
	}
	// Empty vs nil maps are not a change.
	r.SyncCluster("c1", []Node{node("a", func(n *Node) { n.Labels = map[string]string{} }), node("b"), node("c")})
	if got := ev.summary(); got != "" {
		t.Fatalf("nil→empty map emitted %s", got)
	}

	// Each kind of change.
	cases := []struct {
		name string
		mod  func(*Node)
		want string
	}{
		{"available", func(n *Node) { n.Available = map[string]float64{"CPU": 1} }, "node_updated:b"},
		{"resources", func(n *Node) { n.Resources = map[string]float64{"CPU": 4, "GPU": 1} }, "node_updated:b"},
		{"labels", func(n *Node) { n.Labels = map[string]string{"zone": "x"} }, "node_updated:b"},
		{"address", func(n *Node) { n.Address = "10.0.0.9" }, "node_updated:b"},
		{"state inactive", func(n *Node) { n.State = StateInactive }, "node_updated:b"},
		{"state dead", func(n *Node) { n.State = StateDead }, "node_dead:b"},
	}
	for _, c := range cases {
		st := r.SyncCluster("c1", []Node{node("a"), node("b", c.mod), node("c")})
		if got := ev.summary(); got != c.want {
			t.Errorf("%s: events %q, want %q", c.name, got, c.want)
		}
		if st.Events() != 1 || st.Unchanged != 2 {
			t.Errorf("%s: stats %v", c.name, st)
		}
		// Back to the base state for the next case (one more event).
		r.SyncCluster("c1", []Node{node("a"), node("b"), node("c")})
		ev.take()
	}

	// Dead stays dead: a second sync saying dead is not a new event.
	r.SyncCluster("c1", []Node{node("a"), node("b", func(n *Node) { n.State = StateDead }), node("c")})
	st = r.SyncCluster("c1", []Node{node("a"), node("b", func(n *Node) { n.State = StateDead }), node("c")})
	if got := ev.summary(); got != "node_dead:b" || st.Dead != 0 {
		t.Fatalf("repeated dead: %s %v", got, st)
	}
	if b, _ := r.Get("b"); b.State != StateDead {
		t.Fatalf("b = %+v", b)
	}

	// Removal and addition in one sync; removals come last, in id order.
	st = r.SyncCluster("c1", []Node{node("d"), node("b", func(n *Node) { n.State = StateDead })})
	if got := ev.summary(); got != "node_added:d node_removed:a node_removed:c" {
		t.Fatalf("events: %s", got)
	}
	if st != (SyncStats{Added: 1, Removed: 2, Unchanged: 1}) {
		t.Fatalf("stats %v", st)
	}
	if _, ok := r.Get("a"); ok {
		t.Fatal("a still there")
	}

	// The registry keeps its own copy of the input maps.
	in := []Node{node("d"), node("b", func(n *Node) { n.State = StateDead })}
	r.SyncCluster("c1", in)
	in[0].Resources["CPU"] = 99
	if d, _ := r.Get("d"); d.Resources["CPU"] != 4 {
		t.Fatal("registry shares maps with SyncCluster input")
	}

	// Syncing an empty set removes everything of the cluster.
	r.SyncCluster("c1", nil)
	if got := ev.summary(); got != "node_removed:b node_removed:d" {
		t.Fatalf("events: %s", got)
	}
	if n := len(r.List(Filter{})); n != 0 || len(r.Clusters()) != 0 {
		t.Fatalf("%d nodes, clusters %v left", n, r.Clusters())
	}
}

func TestSyncClusterSkips(t *testing.T) {
	root := t.TempDir()
	var ev recorder
	r := New(nil, ev.emit)
	if _, err := r.AddLocal("local1", 0, root); err != nil {
		t.Fatal(err)
	}
	r.SyncCluster("c2", []Node{node("theirs")})
	ev.take()
	st := r.SyncCluster("c1", []Node{
		node("x"),
		node("x", func(n *Node) { n.Address = "dup" }), // repeated id: first wins
		{},             // empty id
		node("local1"), // a local node's id
		node("theirs"), // another cluster's node
		node("l", func(n *Node) { n.Kind = KindLocal }), // local kind
		{ID: "defaults"},
	})
	if st != (SyncStats{Added: 2, Skipped: 5}) {
		t.Fatalf("stats %v", st)
	}
	if got := ev.summary(); got != "node_added:x node_added:defaults" {
		t.Fatalf("events %s", got)
	}
	if x, _ := r.Get("x"); x.Address != "10.0.0.1" {
		t.Fatalf("x = %+v", x)
	}
	if d, _ := r.Get("defaults"); d.Kind != KindRayNode || d.State != StateActive || d.ClusterID != "c1" {
		t.Fatalf("defaults = %+v", d)
	}
	if l, _ := r.Get("local1"); l.Kind != KindLocal {
		t.Fatalf("local node overwritten: %+v", l)
	}
	if th, _ := r.Get("theirs"); th.ClusterID != "c2" {
		t.Fatalf("other cluster's node taken: %+v", th)
	}
	if st := r.SyncCluster("", []Node{node("y")}); st.Skipped != 1 {
		t.Fatalf("empty cluster id: %v", st)
	}
	// A repeated id within one sync must not make the node look removed.
	st = r.SyncCluster("c1", []Node{node("x"), node("x"), {ID: "defaults"}})
	if st.Removed != 0 || st.Events() != 0 {
		t.Fatalf("stats %v events %s", st, ev.summary())
	}
}

func TestMarkClusterOffline(t *testing.T) {
	var ev recorder
	r := New(nil, ev.emit)
	r.SyncCluster("c1", []Node{node("a"), node("b"), node("dead", func(n *Node) { n.State = StateDead })})
	r.SyncCluster("c2", []Node{node("z")})
	ev.take()
	before, _ := r.Get("a")

	r.MarkClusterOffline("c1")
	if got := ev.summary(); got != "node_updated:a node_updated:b" {
		t.Fatalf("events %s", got)
	}
	for _, n := range r.List(Filter{ClusterID: "c1"}) {
		want := StateInactive
		if n.ID == "dead" {
			want = StateDead
		}
		if n.State != want {
			t.Fatalf("%s state %s, want %s", n.ID, n.State, want)
		}
	}
	if a, _ := r.Get("a"); !a.LastSeen.Equal(before.LastSeen) {
		t.Fatal("MarkClusterOffline changed LastSeen")
	}
	if z, _ := r.Get("z"); z.State != StateActive {
		t.Fatal("other cluster affected")
	}
	if _, active := counts(r); active != 1 {
		t.Fatalf("active = %d", active)
	}
	r.MarkClusterOffline("c1") // already offline: nothing to say
	r.MarkClusterOffline("unknown")
	if got := ev.summary(); got != "" {
		t.Fatalf("events %s", got)
	}
	// Back online with the next sync.
	r.SyncCluster("c1", []Node{node("a"), node("b"), node("dead", func(n *Node) { n.State = StateDead })})
	if got := ev.summary(); got != "node_updated:a node_updated:b" {
		t.Fatalf("events %s", got)
	}
}

func TestSetState(t *testing.T) {
	var ev recorder
	r := New(nil, ev.emit)
	if _, err := r.AddLocal("a", 0, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	r.SyncCluster("c", []Node{node("x")})
	ev.take()
	if n, err := r.SetState("a", StateInactive); err != nil || n.State != StateInactive {
		t.Fatalf("SetState = %+v %v", n, err)
	}
	if _, err := r.SetState("a", StateInactive); err != nil {
		t.Fatal(err)
	}
	if got := ev.summary(); got != "node_updated:a" {
		t.Fatalf("events %s", got)
	}
	if _, err := r.SetState("x", StateInactive); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("external: %v", err)
	}
	if _, err := r.SetState("nope", StateInactive); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := r.SetState("a", "weird"); err == nil {
		t.Fatal("unknown state accepted")
	}
}

// The Emitter may call back into the registry, reading or changing it,
// without deadlock; events still come out in order.
func TestEmitterReentrancy(t *testing.T) {
	root := t.TempDir()
	var r *Registry
	var got []string
	r = New(nil, func(typ string, data any) {
		n := data.(Node)
		got = append(got, typ+":"+n.ID)
		r.List(Filter{})
		counts(r)
		if typ == EventNodeAdded && n.ID == "a" {
			if _, err := r.AddLocal("b", 0, root); err != nil {
				t.Error(err)
			}
			r.SyncCluster("c", []Node{node("x")})
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := r.AddLocal("a", 0, root); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: emitter calling back into the registry")
	}
	if s := strings.Join(got, " "); s != "node_added:a node_added:b node_added:x" {
		t.Fatalf("events %s", s)
	}
}

func TestEmitterPanicDoesNotWedge(t *testing.T) {
	calls := 0
	r := New(nil, func(string, any) {
		calls++
		if calls == 1 {
			panic("boom")
		}
	})
	func() {
		defer func() { _ = recover() }()
		r.SyncCluster("c", []Node{node("a")})
	}()
	r.SyncCluster("c", []Node{node("a"), node("b")})
	if calls < 2 {
		t.Fatalf("emitter not called after a panic (calls=%d)", calls)
	}
}

func TestConcurrency(t *testing.T) {
	root := t.TempDir()
	var mu sync.Mutex
	perNode := map[string][]string{}
	r := New(newFake(), func(typ string, data any) {
		n := data.(Node)
		mu.Lock()
		perNode[n.ID] = append(perNode[n.ID], typ)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	// Writers: local adds/removes, cluster syncs, offline marks.
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				id := fmt.Sprintf("l%d-%d", w, i%10)
				if _, err := r.AddLocal(id, i, root); err != nil && !errors.Is(err, ErrExists) {
					t.Error(err)
				}
				if i%3 == 0 {
					if _, err := r.Remove(id); err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
					}
				}
			}
		}(w)
	}
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cid := fmt.Sprintf("c%d", c)
			for i := 0; i < 200; i++ {
				var ns []Node
				for j := 0; j < 20; j++ {
					if (i+j)%5 != 0 {
						ns = append(ns, node(fmt.Sprintf("%s-n%d", cid, j), func(n *Node) {
							n.Available = map[string]float64{"CPU": float64(i % 3)}
						}))
					}
				}
				r.SyncCluster(cid, ns)
				if i%17 == 0 {
					r.MarkClusterOffline(cid)
				}
			}
		}(c)
	}
	// Readers, reading every map of what they get.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for k := 0; k < 3; k++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sum := 0.0
				for _, n := range r.List(Filter{State: StateActive}) {
					for _, v := range n.Available {
						sum += v
					}
				}
				counts(r)
				if n, ok := r.Get("c0-n1"); ok {
					sum += n.Available["CPU"]
				}
				_ = sum
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()

	for _, n := range r.List(Filter{}) {
		if n.Available["CPU"] < 0 {
			t.Fatalf("a reader's change leaked into the registry: %+v", n)
		}
	}
	// Event streams per node must be consistent: no update/dead/remove
	// before an add, no add while present.
	mu.Lock()
	defer mu.Unlock()
	for id, evs := range perNode {
		present := false
		for i, e := range evs {
			switch e {
			case EventNodeAdded:
				if present {
					t.Fatalf("%s: added twice at %d: %v", id, i, evs)
				}
				present = true
			case EventNodeRemoved:
				if !present {
					t.Fatalf("%s: removed while absent at %d: %v", id, i, evs)
				}
				present = false
			default:
				if !present {
					t.Fatalf("%s: %s while absent at %d: %v", id, e, i, evs)
				}
			}
		}
		_, inReg := r.Get(id)
		if present != inReg {
			t.Fatalf("%s: events say present=%v, registry says %v", id, present, inReg)
		}
	}
}

// counts is the number of nodes and of active nodes, by Visit.
func counts(r *Registry) (total, active int) {
	r.Visit(func(n *Node, _, _ []Quantity) {
		total++
		if n.State == StateActive {
			active++
		}
	})
	return total, active
}
