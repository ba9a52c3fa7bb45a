package registry_test

import (
	"path/filepath"
	"testing"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
)

// *store.Store is a registry.Persister.
var _ registry.Persister = (*store.Store)(nil)

// The registry repeats the bus's event names to avoid depending on it.
func TestEventNamesMatchBus(t *testing.T) {
	for _, c := range [][2]string{
		{registry.EventNodeAdded, events.TypeNodeAdded},
		{registry.EventNodeUpdated, events.TypeNodeUpdated},
		{registry.EventNodeRemoved, events.TypeNodeRemoved},
		{registry.EventNodeDead, events.TypeNodeDead},
	} {
		if c[0] != c[1] {
			t.Errorf("registry %q != events %q", c[0], c[1])
		}
	}
}

// Wired to a real bus, as the host does.
func TestWiredToBus(t *testing.T) {
	bus := events.NewBus()
	sub := bus.Subscribe(16)
	r := registry.New(nil, bus.Publish)
	r.SyncCluster("c", []registry.Node{{ID: "n1"}})
	sub.Close()
	var got []string
	for ev := range sub.C() {
		got = append(got, ev.Type+":"+ev.Data.(registry.Node).ID)
	}
	if len(got) != 1 || got[0] != "node_added:n1" {
		t.Fatalf("bus got %v", got)
	}
}

func TestPersistenceWithBolt(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "castray.db")
	inbox := filepath.Join(dir, "inbox")

	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(st, nil)
	for _, id := range []string{"node_1", "node_2", "node_3"} {
		if _, err := r.AddLocal(id, 8000, inbox, registry.WithSource("demo")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Remove("node_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetState("node_3", registry.StateInactive); err != nil {
		t.Fatal(err)
	}
	r.SyncCluster("ray-1", []registry.Node{{ID: "ext"}})
	want := r.List(registry.Filter{Kind: registry.KindLocal})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	r2 := registry.New(st2, nil)
	if err := r2.Load(); err != nil {
		t.Fatal(err)
	}
	got := r2.List(registry.Filter{})
	if len(got) != len(want) {
		t.Fatalf("loaded %d nodes, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.State != w.State || g.InboxDir != w.InboxDir || g.Source != "demo" ||
			!g.CreatedAt.Equal(w.CreatedAt) || g.Kind != registry.KindLocal {
			t.Fatalf("node %d: loaded %+v, want %+v", i, g, w)
		}
	}
	if got[0].ID != "node_1" || got[1].ID != "node_3" {
		t.Fatalf("loaded %v", got)
	}
}
