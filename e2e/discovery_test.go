package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
)

// discovered is the part of POST /api/cluster/discover-external the tests read.
type discovered struct {
	Success     bool `json:"success"`
	StaleHidden int  `json:"stale_hidden"`
	Clusters    []struct {
		ID           string             `json:"id"`
		Source       string             `json:"source"`
		Sources      []string           `json:"sources"`
		Status       string             `json:"status"`
		Nodes        int                `json:"nodes"`
		Resources    map[string]float64 `json:"resources"`
		GCSAddress   string             `json:"gcs_address"`
		DashboardURL string             `json:"dashboard_url"`
		SessionName  string             `json:"session_name"`
		RayVersion   string             `json:"ray_version"`
		AuthRequired bool               `json:"auth_required"`
		AuthMode     string             `json:"auth_mode"`
	} `json:"discovered_clusters"`
	ConnectedCluster *string        `json:"connected_cluster"`
	ExternalNodes    map[string]any `json:"external_nodes"`
	Error            *string        `json:"error"`
	Discovery        struct {
		DurationMS int64 `json:"duration_ms"`
		Plugins    map[string]struct {
			DurationMS int64  `json:"duration_ms"`
			Candidates int    `json:"candidates"`
			Error      string `json:"error"`
			Notes      []struct {
				Level, Message string
			} `json:"notes"`
		} `json:"plugins"`
	} `json:"discovery"`
}

func (d *daemon) discover(t *testing.T) discovered { return d.discoverWith(t, "") }

// discoverWith runs a round with query (e.g. "?include_stale=true").
func (d *daemon) discoverWith(t *testing.T, query string) discovered {
	t.Helper()
	var res discovered
	if code := d.do("POST", "/api/cluster/discover-external"+query, nil, &res); code != 200 || !res.Success {
		t.Fatalf("discover-external: %d %+v", code, res)
	}
	for name, p := range res.Discovery.Plugins {
		t.Logf("plugin %s: %d ms, %d candidates, error %q, notes %v", name, p.DurationMS, p.Candidates, p.Error, p.Notes)
	}
	for _, c := range res.Clusters {
		t.Logf("cluster %s %s sources=%v gcs=%s dash=%s nodes=%d session=%s auth=%v", c.ID, c.Status, c.Sources, c.GCSAddress, c.DashboardURL, c.Nodes, c.SessionName, c.AuthRequired)
	}
	return res
}

// loopbackAddr rewrites Ray's "<node ip>:<port>" to the 127.0.0.1 form the
// daemon reports for addresses of this machine.
func loopbackAddr(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return "127.0.0.1:" + port
}

func requireFreePorts(t *testing.T, ports ...int) {
	t.Helper()
	for _, p := range ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("this test starts Ray on its default ports; port %d is taken: %v", p, err)
		}
		ln.Close()
	}
}

// discoveryConfig points the plugins at the test's Ray: the ray CLI of the
// venv and the clusters' temp dirs (a Ray started with --temp-dir keeps its
// sessions there, not in /tmp/ray).
func discoveryConfig(rayBin string, tempDirs ...string) string {
	quoted := make([]string, len(tempDirs))
	for i, d := range tempDirs {
		quoted[i] = fmt.Sprintf("%q", d)
	}
	return fmt.Sprintf(`
external_cluster {
  connection_timeout = 20
}
plugin "ray-status" {
  config {
    ray_path = %q
  }
}
plugin "tmpdir" {
  config {
    # Only the test's clusters: a developer's /tmp/ray is not the test's.
    dirs             = [%s]
    include_defaults = false
  }
}
`, rayBin, strings.Join(quoted, ", "))
}

func TestDiscoveryFindsLiveClustersAndStaleSessions(t *testing.T) {
	requireFreePorts(t, 6379, 8265, 10001, 52365)
	// Cluster A on Ray's default ports; cluster B on --port=0 (Ray picks the
	// GCS port) with the dashboard on 8266: the seed's scenario 2.
	a := raycluster.Start(t, raycluster.Options{GCSPort: 6379, DashboardPort: 8265, ClientServerPort: 10001,
		DashboardAgentListenPort: 52365, TempDir: shortTempDir(t)})
	b := raycluster.Start(t, raycluster.Options{GCSPort: -1, DashboardPort: 8266, TempDir: shortTempDir(t)})

	d := startDaemon(t, daemonOpts{
		config: discoveryConfig(a.RayBin, a.TempDir, b.TempDir),
		// The daemon hands RAY_ADDRESS to the plugins as a known address.
		env: []string{"RAY_ADDRESS=" + a.GCSAddress},
	})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	res := d.discover(t)
	active := map[string]int{}
	for i, c := range res.Clusters {
		if c.Status == "active" {
			active[c.SessionName] = i
		}
	}
	if len(active) != 2 {
		t.Fatalf("want exactly 2 active clusters (A %s, B %s), got %+v", a.SessionName, b.SessionName, res.Clusters)
	}
	ca := res.Clusters[active[a.SessionName]]
	if got := strings.Join(ca.Sources, ","); got != "dashboard-scan,portscan,ray-status,tmpdir" {
		t.Errorf("cluster A sources = %s, want all four strategies merged", got)
	}
	if ca.GCSAddress != "127.0.0.1:6379" || ca.DashboardURL != "http://127.0.0.1:8265" || ca.Nodes != 1 ||
		ca.Resources["CPU"] != 1 || ca.RayVersion != a.RayVersion || ca.AuthRequired || ca.Source == "" {
		t.Errorf("cluster A = %+v", ca)
	}
	cb := res.Clusters[active[b.SessionName]]
	if cb.GCSAddress != loopbackAddr(b.GCSAddress) || cb.DashboardURL != "http://127.0.0.1:8266" || cb.Nodes != 1 {
		t.Errorf("cluster B = %+v, want GCS %s", cb, loopbackAddr(b.GCSAddress))
	}
	// The seed's "discover and connect": both clusters are connected and
	// their nodes are external nodes now.
	if res.ConnectedCluster == nil || len(res.ExternalNodes) != 2 || res.Error != nil {
		t.Errorf("seed fields: connected %v external %v error %v", res.ConnectedCluster, res.ExternalNodes, res.Error)
	}
	for _, typ := range []string{"discovery_started", "cluster_discovered", "external_cluster_discovered", "discovery_finished"} {
		next(t, ch, 10*time.Second, typ)
	}

	// B stops: its session is now stale, reported inactive by tmpdir alone
	// when asked for; by default only counted.
	b.Stop()
	res = d.discover(t)
	for _, c := range res.Clusters {
		if c.Status != "active" {
			t.Errorf("a stale session is listed by default: %+v", c)
		}
	}
	if res.StaleHidden < 1 {
		t.Errorf("stale_hidden %d after B stopped", res.StaleHidden)
	}
	res = d.discoverWith(t, "?include_stale=true")
	var sawB bool
	for _, c := range res.Clusters {
		switch c.SessionName {
		case b.SessionName:
			sawB = true
			if c.Status != "inactive" || strings.Join(c.Sources, ",") != "tmpdir" {
				t.Errorf("stopped cluster B = %+v, want inactive from tmpdir only", c)
			}
		case a.SessionName:
			if c.Status != "active" {
				t.Errorf("cluster A = %+v", c)
			}
		default:
			if c.Status == "active" {
				t.Errorf("unexpected active cluster after B stopped: %+v", c)
			}
		}
	}
	if !sawB {
		t.Errorf("the stopped session of B is not reported")
	}

	// A stops too: nothing but stale sessions remain.
	a.Stop()
	res = d.discoverWith(t, "?include_stale=true")
	for _, c := range res.Clusters {
		if c.Status == "active" || strings.Join(c.Sources, ",") != "tmpdir" {
			t.Errorf("after every cluster stopped: %+v", c)
		}
	}
	if len(res.Clusters) != 2 {
		t.Errorf("want the two stale sessions, got %d clusters", len(res.Clusters))
	}
}

func TestDiscoveryWithTokenAuth(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token", DashboardPort: 8267, TempDir: shortTempDir(t)})
	cfg := discoveryConfig(c.RayBin, c.TempDir)

	for _, tc := range []struct {
		how   string
		env   []string
		query string
		token bool // the plugins have it
	}{
		// The cluster is still reported, marked as needing a token (discover
		// only: connecting would fail, and make success false).
		{"without a token", nil, "?connect=false", false},
		// As a Ray user would have it: the plugins read everything.
		{"with RAY_AUTH_TOKEN", []string{"RAY_AUTH_TOKEN=" + c.Token}, "", true},
		// Given once, in the configuration and not in the environment: it
		// serves the discovery plugins as it serves the connector.
		{"with external_cluster.auth_token", []string{"CASTRAY_EXTERNAL_CLUSTER__AUTH_TOKEN=" + c.Token}, "", true},
	} {
		d := startDaemon(t, daemonOpts{config: cfg, env: tc.env})
		res := d.discoverWith(t, tc.query)
		found := false
		for _, cl := range res.Clusters {
			if cl.SessionName != c.SessionName || cl.Status != "active" {
				continue
			}
			found = true
			if cl.AuthMode != "token" || cl.AuthRequired == tc.token ||
				tc.token && (cl.Nodes != 1 || cl.RayVersion == "" || len(cl.Sources) < 3) {
				t.Errorf("%s: %+v", tc.how, cl)
			}
		}
		if !found {
			t.Fatalf("%s: the token-protected cluster is not found: %+v", tc.how, res.Clusters)
		}
		if strings.Contains(d.Stderr.String(), c.Token) {
			t.Fatalf("%s: the Ray token appears in the daemon's log", tc.how)
		}
		d.stop(syscall.SIGTERM)
	}
}

// shortTempDir is a Ray --temp-dir that outlives the cluster (so a stopped
// session stays on disk to be found) and is removed when the test ends.
// It is short: Ray's unix socket paths must stay under 107 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "crt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
