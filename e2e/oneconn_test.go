package e2e

import (
	"strings"
	"testing"

	"github.com/castray/castray/e2e/raycluster"
)

// TestOneClusterIsOneConnection connects one live cluster by each address
// a user may give for it — the GCS address, the bare dashboard host:port
// and the dashboard URL — in both orders, the dashboard first while the
// head is fresh: every form must land on the same connection, and the
// cluster's nodes must be counted once. An older Ray's dashboard names
// neither the cluster id nor the session until its head's agent has
// reported (see docs/compat.md), which made this three connections;
// `make compat` runs it on every release of its table.
func TestOneClusterIsOneConnection(t *testing.T) { oneClusterOneConnection(t, "") }

// TestOneClusterIsOneConnectionWithToken is the same with token auth on
// (skipped as n/a on a release without it: raycluster.TokenAuthNA).
func TestOneClusterIsOneConnectionWithToken(t *testing.T) { oneClusterOneConnection(t, "token") }

func oneClusterOneConnection(t *testing.T, authMode string) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: authMode})
	var env []string
	if c.Token != "" {
		env = append(env, "RAY_AUTH_TOKEN="+c.Token)
	}
	d := startDaemon(t, daemonOpts{config: "external_cluster {\n  sync_interval = 1\n}\n", env: env})
	bare := strings.TrimPrefix(c.DashboardURL, "http://")
	rayNodes := len(rayNodeIDs(t, c))
	for _, order := range [][]string{
		{c.DashboardURL, bare, c.GCSAddress},
		{c.GCSAddress, bare, c.DashboardURL},
	} {
		id := ""
		for _, addr := range order {
			code, res := d.connect(t, addr)
			if code != 200 || !res.Success {
				t.Fatalf("connect %s: %d %+v", addr, code, res)
			}
			t.Logf("connect %s: id %s via %s cluster_id %q session %q", addr, res.Cluster.ID, res.Cluster.Via, res.Cluster.ClusterID, res.Cluster.SessionName)
			if id == "" {
				id = res.Cluster.ID
			} else if res.Cluster.ID != id {
				t.Errorf("connect %s: connection %s, but %s reached the same cluster as %s", addr, res.Cluster.ID, order[0], id)
			}
		}
		var clusters struct {
			Count    int
			Clusters []struct{ ID, Address string }
		}
		d.do("GET", "/api/clusters", nil, &clusters)
		if clusters.Count != 1 {
			t.Errorf("order %v: %d connections for one cluster: %+v", order, clusters.Count, clusters.Clusters)
		}
		if got := len(d.virtualNodes(t, "ray-node", "")); got != rayNodes {
			t.Errorf("order %v: %d Ray virtual nodes, Ray lists %d", order, got, rayNodes)
		}
		var status struct {
			TotalNodes int `json:"total_nodes"`
		}
		d.do("GET", "/api/status", nil, &status)
		if status.TotalNodes != 3+rayNodes {
			t.Errorf("order %v: total_nodes = %d, want 3 local + %d Ray", order, status.TotalNodes, rayNodes)
		}
		if code := d.do("DELETE", "/api/cluster/disconnect-external", nil, nil); code != 200 {
			t.Fatalf("disconnect: %d", code)
		}
	}
}
