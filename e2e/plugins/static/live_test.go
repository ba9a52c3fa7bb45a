// Package static_test drives the static discovery plugin the way a user
// does: the built castray daemon, with the built castray-discovery-static
// plugin as its only plugin, configured with a real Ray 2.60.0 head
// (started by e2e/raycluster in token mode) by its dashboard URL and,
// separately, by its GCS address; the daemon's discovery API must report
// the cluster with the cluster id Ray itself reports, verified with the
// right token and with a clear auth note without it or with a wrong one.
//
// The binaries come from $CASTRAY_BIN_DIR (castray and
// plugins/castray-discovery-static); when unset, TestMain builds the two
// into a temporary folder (e2e/daemontest).
package static_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/e2e/daemontest"
	"github.com/castray/castray/e2e/raycluster"
)

var pluginStatic = daemontest.Plugin("discovery", "static")

func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{
		"castray":    daemontest.Castray,
		pluginStatic: "./plugins/discovery/static",
	}))
}

// startDaemon runs castray serve with config (a file with extension ext)
// and the static plugin as its only plugin (a fresh plugin directory, so no
// other strategy finds the test's cluster), and waits until it answers
// /healthz. The daemon and its plugin see no Ray token: HOME is empty and
// RAY_* is dropped.
func startDaemon(t *testing.T, config, ext string) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Options{
		Config:    config,
		ConfigExt: ext,
		Plugins:   []string{pluginStatic},
		Env:       []string{"HOME=" + t.TempDir()},
	})
}

// cluster is one merged cluster of a round.
type cluster struct {
	ID           string            `json:"id"`
	Sources      []string          `json:"sources"`
	Status       string            `json:"status"`
	Nodes        int               `json:"nodes"`
	GCSAddress   string            `json:"gcs_address"`
	DashboardURL string            `json:"dashboard_url"`
	SessionName  string            `json:"session_name"`
	ClusterID    string            `json:"cluster_id"`
	RayVersion   string            `json:"ray_version"`
	AuthRequired bool              `json:"auth_required"`
	Attributes   map[string]string `json:"attributes"`
}

// discovered is the part of POST /api/cluster/discover-external the test
// reads.
type discovered struct {
	Success   bool      `json:"success"`
	Clusters  []cluster `json:"discovered_clusters"`
	Discovery struct {
		Plugins map[string]struct {
			Candidates int      `json:"candidates"`
			Error      string   `json:"error"`
			Errors     []string `json:"errors"`
			Notes      []struct {
				Level, Message, Target string
			} `json:"notes"`
		} `json:"plugins"`
	} `json:"discovery"`
}

// discover runs one discovery round without connecting.
func discover(t *testing.T, d *daemontest.Daemon) discovered {
	t.Helper()
	code, raw, err := d.Raw("POST", "/api/cluster/discover-external",
		`{"connect": false, "plugins": ["static"], "timeout_ms": 60000}`)
	if err != nil {
		t.Fatal(err)
	}
	var res discovered
	if err := json.Unmarshal(raw, &res); err != nil || code != 200 || !res.Success {
		t.Fatalf("discover-external: %d %v\n%s", code, err, raw)
	}
	p, ok := res.Discovery.Plugins["static"]
	if !ok || p.Error != "" || len(p.Errors) > 0 {
		t.Fatalf("the static plugin's run: %+v (present %v)\n%s", p, ok, raw)
	}
	for _, n := range p.Notes {
		t.Logf("note %s %s: %s", n.Level, n.Target, n.Message)
	}
	for _, c := range res.Clusters {
		t.Logf("cluster %s %s sources=%v cid=%s gcs=%s dash=%s nodes=%d session=%s auth_required=%v attrs=%v",
			c.ID, c.Status, c.Sources, c.ClusterID, c.GCSAddress, c.DashboardURL, c.Nodes, c.SessionName, c.AuthRequired, c.Attributes)
	}
	return res
}

func (d discovered) notes() string {
	var b strings.Builder
	for _, n := range d.Discovery.Plugins["static"].Notes {
		fmt.Fprintf(&b, "%s %s: %s\n", n.Level, n.Target, n.Message)
	}
	return b.String()
}

// rayClusterID asks the dashboard itself (with the token) for the cluster
// id, independently of the plugin.
func rayClusterID(t *testing.T, c *raycluster.Cluster) string {
	t.Helper()
	code, body, err := c.HTTPGetAs("/cluster_id", c.Token)
	if err != nil || code != 200 {
		t.Fatalf("GET /cluster_id: %d %v %s", code, err, body)
	}
	var v struct {
		Data struct {
			ClusterID string `json:"clusterId"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Data.ClusterID) != 56 {
		t.Fatalf("GET /cluster_id: %s (%v)", body, err)
	}
	return v.Data.ClusterID
}

func hclConfig(entry string) string {
	return `
ray_cluster {
  create_demo_nodes = false
}
external_cluster {
  auto_discover = false
}
plugin "static" {
  config {
    timeout_ms = 20000
    clusters = [
      ` + entry + `,
    ]
  }
}
`
}

func TestLiveStaticTokenMode(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	if c.Token == "" {
		t.Fatal("token mode head without a token")
	}
	cid := rayClusterID(t, c)
	_, gcsPort, _ := net.SplitHostPort(c.GCSAddress)
	// The daemon names this machine's addresses 127.0.0.1.
	wantGCS := "127.0.0.1:" + gcsPort
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(c.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("0", 64)

	// only returns the one cluster of a round, found by the static plugin.
	only := func(t *testing.T, res discovered) cluster {
		t.Helper()
		if len(res.Clusters) != 1 {
			t.Fatalf("%d clusters, want 1\nnotes:\n%s", len(res.Clusters), res.notes())
		}
		if cl := res.Clusters[0]; len(cl.Sources) != 1 || cl.Sources[0] != "static" {
			t.Fatalf("sources %v", cl.Sources)
		}
		return res.Clusters[0]
	}
	noLeak := func(t *testing.T, res discovered, toks ...string) {
		t.Helper()
		all := fmt.Sprintf("%+v", res)
		for _, tok := range toks {
			if strings.Contains(all, tok) {
				t.Fatal("a token leaked into the discovery result")
			}
		}
	}

	t.Run("dashboard URL, right token", func(t *testing.T) {
		d := startDaemon(t, hclConfig(fmt.Sprintf(`{ name = "e2e", dashboard_url = %q, auth_token = %q }`, c.DashboardURL, c.Token)), ".hcl")
		res := discover(t, d)
		cl := only(t, res)
		if cl.Status != "active" || cl.AuthRequired || cl.ClusterID != cid || cl.DashboardURL != c.DashboardURL ||
			cl.SessionName != c.SessionName || cl.RayVersion != c.RayVersion || cl.Nodes != 1 ||
			cl.Attributes["verification"] != "verified" || cl.Attributes["static_name"] != "e2e" || cl.Attributes["auth_mode"] != "token" {
			t.Fatalf("cluster %+v, want cluster id %s", cl, cid)
		}
		noLeak(t, res, c.Token)
	})

	t.Run("GCS address, token file", func(t *testing.T) {
		cfg := fmt.Sprintf(`{
  "ray_cluster": {"create_demo_nodes": false},
  "external_cluster": {"auto_discover": false},
  "plugin": {"static": {"config": {"timeout_ms": 20000, "clusters": [
    {"gcs_address": %q, "auth_token_file": %q}
  ]}}}
}`, c.GCSAddress, tokenFile)
		res := discover(t, startDaemon(t, cfg, ".json"))
		cl := only(t, res)
		// The GCS's KV names the dashboard, on this machine's loopback.
		if cl.Status != "active" || cl.AuthRequired || cl.ClusterID != cid || cl.GCSAddress != wantGCS || cl.DashboardURL != c.DashboardURL ||
			cl.SessionName != c.SessionName || cl.Nodes != 1 || cl.Attributes["token_source"] != "config auth_token_file" {
			t.Fatalf("cluster %+v, want cluster id %s, GCS %s", cl, cid, wantGCS)
		}
		noLeak(t, res, c.Token)
	})

	t.Run("wrong token", func(t *testing.T) {
		d := startDaemon(t, hclConfig(fmt.Sprintf(`{ dashboard_url = %q, gcs_address = %q, auth_token = %q }`, c.DashboardURL, c.GCSAddress, wrong)), ".hcl")
		res := discover(t, d)
		cl := only(t, res)
		if cl.Status != "unknown" || !cl.AuthRequired || cl.ClusterID != "" || cl.Attributes["verification"] != "auth_required" {
			t.Fatalf("cluster %+v", cl)
		}
		for _, want := range []string{
			"clusters[0]: dashboard " + c.DashboardURL + " cannot be verified: auth required: the dashboard rejected the token from config auth_token",
			"clusters[0]: gcs " + c.GCSAddress + " cannot be verified: auth required: the GCS rejected the token from config auth_token",
		} {
			if !strings.Contains(res.notes(), want) {
				t.Fatalf("notes:\n%s\nwant %q", res.notes(), want)
			}
		}
		noLeak(t, res, wrong, c.Token)
	})

	t.Run("no token", func(t *testing.T) {
		d := startDaemon(t, hclConfig(fmt.Sprintf(`{ dashboard_url = %q }`, c.DashboardURL)), ".hcl")
		res := discover(t, d)
		cl := only(t, res)
		if cl.Status != "unknown" || !cl.AuthRequired || cl.DashboardURL != c.DashboardURL {
			t.Fatalf("cluster %+v", cl)
		}
		if want := "cannot be verified: auth required: token auth is on and no token was found"; !strings.Contains(res.notes(), want) {
			t.Fatalf("notes:\n%s\nwant %q", res.notes(), want)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		closed := fmt.Sprintf("127.0.0.1:%d", daemontest.FreePort(t))
		res := discover(t, startDaemon(t, hclConfig(fmt.Sprintf(`{ gcs_address = %q }`, closed)), ".hcl"))
		cl := only(t, res)
		if cl.Status != "unknown" || cl.AuthRequired || cl.Attributes["verification"] != "unreachable" {
			t.Fatalf("cluster %+v", cl)
		}
		if want := "gcs " + closed + " cannot be verified: TCP connect to " + closed; !strings.Contains(res.notes(), want) {
			t.Fatalf("notes:\n%s\nwant %q", res.notes(), want)
		}
	})
}
