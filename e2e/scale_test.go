package e2e

import (
	"testing"

	"github.com/castray/castray/e2e/fakeray"
)

// TestDaemonConnects10kNodeFake connects the built daemon to a FAKE Ray
// dashboard (e2e/fakeray: scale only, never a stand-in for Ray's
// behaviour) with 10,000 nodes and 50,000 actors through
// POST /api/cluster/connect-external, and checks that the API then lists
// every node. What the connector does with the data is checked in
// host/connector's scale test.
func TestDaemonConnects10kNodeFake(t *testing.T) {
	srv := fakeray.Start(t, fakeray.Options{Nodes: 10_000, Actors: 50_000, Seed: 11})
	// One sync of 10,000 nodes takes about a second; keep the loop from
	// syncing while the test reads.
	d := startDaemon(t, daemonOpts{config: "external_cluster {\n  connection_timeout = 60\n  sync_interval = 3600\n}\n"})
	code, res := d.connect(t, srv.URL)
	if code != 200 || !res.Success || res.Cluster.Via != "dashboard" || res.Cluster.Nodes != 10_000 {
		t.Fatalf("connect %s: %d success=%v via=%q nodes=%d error=%q", srv.URL, code, res.Success, res.Cluster.Via, res.Cluster.Nodes, res.Error)
	}
	var nodes struct {
		Count int `json:"count"`
		Nodes []struct {
			ID, State string
		} `json:"nodes"`
	}
	if code := d.do("GET", "/api/nodes?kind=ray-node", nil, &nodes); code != 200 {
		t.Fatalf("GET /api/nodes: %d", code)
	}
	if nodes.Count != 10_000 || len(nodes.Nodes) != 10_000 {
		t.Fatalf("GET /api/nodes?kind=ray-node: count %d, %d nodes; want 10000", nodes.Count, len(nodes.Nodes))
	}
	want := map[string]bool{}
	for _, id := range srv.NodeIDs() {
		want["ray:"+res.Cluster.ID+":"+id] = true
	}
	for _, n := range nodes.Nodes {
		if !want[n.ID] || n.State != "active" {
			t.Fatalf("node %s (%s) is not an alive node of the fake", n.ID, n.State)
		}
	}
}
