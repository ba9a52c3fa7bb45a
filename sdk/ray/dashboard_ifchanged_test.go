package ray

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// NodesIfChanged and ActorsIfChanged decode an answer only when its bytes
// differ from those of the Digest the caller holds.
func TestDashboardIfChanged(t *testing.T) {
	var mu sync.Mutex
	nodes, actors := string(scaleListing(3)), string(scaleActorListing(4))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/v0/nodes":
			_, _ = w.Write([]byte(nodes))
		case "/api/v0/actors":
			_, _ = w.Write([]byte(actors))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	d, err := NewDashboard(srv.URL, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()

	got, dg, changed, err := d.NodesIfChanged(ctx, 0)
	if err != nil || !changed || len(got) != 3 || dg == 0 {
		t.Fatalf("first read: %d nodes, digest %x, changed %v, %v", len(got), dg, changed, err)
	}
	again, dg2, changed, err := d.NodesIfChanged(ctx, dg)
	if err != nil || changed || again != nil || dg2 != dg {
		t.Fatalf("same bytes: %d nodes, digest %x (was %x), changed %v, %v", len(again), dg2, dg, changed, err)
	}
	// One byte of one node changes: decoded again.
	mu.Lock()
	nodes = strings.Replace(nodes, `"CPU": 8.0`, `"CPU": 9.0`, 1)
	mu.Unlock()
	got, dg3, changed, err := d.NodesIfChanged(ctx, dg)
	if err != nil || !changed || dg3 == dg || len(got) != 3 || got[0].ResourcesTotal["CPU"] != 9 {
		t.Fatalf("changed bytes: %d nodes, digest %x, changed %v, %v", len(got), dg3, changed, err)
	}

	as, adg, changed, err := d.ActorsIfChanged(ctx, 0)
	if err != nil || !changed || len(as) != 4 {
		t.Fatalf("actors: %d, changed %v, %v", len(as), changed, err)
	}
	if as, _, changed, err := d.ActorsIfChanged(ctx, adg); err != nil || changed || as != nil {
		t.Fatalf("same actors: %d, changed %v, %v", len(as), changed, err)
	}
	// The digest of another table never matches by accident of the API.
	if _, _, changed, _ := d.ActorsIfChanged(ctx, dg3); !changed {
		t.Fatal("actors taken as unchanged against the nodes' digest")
	}
}
