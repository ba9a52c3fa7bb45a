package distribution

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray"
)

func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{
		"castray":                              daemontest.Castray,
		daemontest.Plugin("transfer", "local"): "./plugins/transfer/local",
		daemontest.Plugin("transfer", "ray"):   "./plugins/transfer/ray",
	}))
}

type daemon struct {
	*daemontest.Daemon
	t *testing.T
}

// startDaemon runs castray serve on dataDir ("": a new one) with only the
// two transfer plugins and the HCL config, waits for its ray plugin, and
// stops it (SIGTERM) when the test ends.
func startDaemon(t *testing.T, config, dataDir string) *daemon {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{
		Config:  config,
		DataDir: dataDir,
		Plugins: []string{daemontest.Plugin("transfer", "local"), daemontest.Plugin("transfer", "ray")},
	})
	d.WaitPluginsHealthy("ray")
	return &daemon{Daemon: d, t: t}
}

// eventually polls cond until it holds; the deadline only bounds a broken
// run, nothing is asserted about how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	daemontest.PollUntil(t, timeout, what, cond)
}

type nodeStatus struct {
	NodeID     string `json:"node_id"`
	Status     string `json:"status"`
	NodeState  string `json:"node_state"`
	TransferID string `json:"transfer_id"`
	SHA256     string `json:"sha256"`
	Error      string `json:"error"`
}

type dist struct {
	ID        string       `json:"id"`
	SHA256    string       `json:"sha256"`
	Satisfied bool         `json:"satisfied"`
	Error     string       `json:"error"`
	Nodes     []nodeStatus `json:"nodes"`
	Counts    struct {
		Present int `json:"present"`
	} `json:"counts"`
}

func (d *daemon) distribution(id string) dist {
	d.t.Helper()
	var resp struct {
		Distribution dist `json:"distribution"`
	}
	if code := d.Do("GET", "/api/distributions/"+id, nil, &resp); code != 200 {
		d.t.Fatalf("GET /api/distributions/%s: %d", id, code)
	}
	return resp.Distribution
}

// waitPresent polls the distribution until exactly the given Ray nodes (hex
// ids) are present and it is satisfied.
func (d *daemon) waitPresent(id string, rayNodes []string) dist {
	d.t.Helper()
	var last dist
	deadline := time.Now().Add(150 * time.Second)
	for {
		last = d.distribution(id)
		var present []string
		for _, n := range last.Nodes {
			if n.Status == "present" {
				present = append(present, n.NodeID[strings.LastIndex(n.NodeID, ":")+1:])
			}
		}
		slices.Sort(present)
		want := slices.Sorted(slices.Values(rayNodes))
		if last.Satisfied && slices.Equal(present, want) {
			return last
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("distribution %s: want %v present, have %+v", id, want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// aliveNodes lists the ALIVE Ray nodes (hex ids).
func aliveNodes(t *testing.T, dash *ray.Dashboard) []string {
	t.Helper()
	nodes, err := dash.Nodes(context.Background())
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range nodes {
		if n.State == "ALIVE" {
			out = append(out, n.NodeID)
		}
	}
	return out
}

// folder is the ray plugin's default delivery folder of a node on this
// machine ({tmp}/castray/{node_id}).
func folder(rayNode string) string { return filepath.Join(os.TempDir(), "castray", rayNode) }

func shaFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("delivered file: %v", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func addWorker(t *testing.T, c *raycluster.Cluster) {
	t.Helper()
	if out, err := c.Ray("start", "--address="+c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
		"--metrics-export-port=0", "--disable-usage-stats"); err != nil {
		t.Fatalf("ray start --address: %v\n%s", err, out)
	}
}

func TestDistributionReachesNodesThatJoinLater(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	addWorker(t, c)
	dash, err := ray.NewDashboard(c.DashboardURL, c.Token, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var first []string
	eventually(t, 90*time.Second, "2 alive Ray nodes", func() bool {
		first = aliveNodes(t, dash)
		return len(first) == 2
	})
	cleaned := map[string]bool{}
	cleanFolder := func(n string) {
		if !cleaned[n] {
			cleaned[n] = true
			t.Cleanup(func() { os.RemoveAll(folder(n)) })
		}
	}
	for _, n := range first {
		cleanFolder(n)
	}

	config := fmt.Sprintf(`
ray_cluster {
  address           = %q
  create_demo_nodes = false
  fallback_to_local = false
}
external_cluster {
  auth_token    = %q
  sync_interval = 1
}
plugin "ray" {
  config {
    auth_token = %q
  }
}
`, c.DashboardURL, c.Token, c.Token)
	d := startDaemon(t, config, "")
	eventually(t, 60*time.Second, "the daemon to list 2 active Ray nodes", func() bool {
		var resp struct {
			Nodes []struct{ State string } `json:"nodes"`
		}
		if code, err := d.Try("GET", "/api/nodes?kind=ray-node&state=active", nil, &resp); err != nil || code != 200 {
			return false
		}
		return len(resp.Nodes) == 2
	})

	data := make([]byte, 3<<20+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	name := fmt.Sprintf("dist-e2e-%d.bin", time.Now().UnixNano())
	if code := d.Do("PUT", "/api/files/"+name, data, nil); code != 200 && code != 201 {
		t.Fatalf("upload: %d", code)
	}

	var created struct {
		Success      bool   `json:"success"`
		Error        string `json:"error"`
		Distribution dist   `json:"distribution"`
	}
	code := d.Do("POST", "/api/distributions", map[string]any{"file_name": name, "selector": map[string]string{"kind": "ray-node"}, "name": "e2e"}, &created)
	if code != 201 || created.Distribution.ID == "" || created.Distribution.SHA256 != want {
		t.Fatalf("create: %d %+v", code, created)
	}
	id := created.Distribution.ID
	t.Cleanup(func() { d.Try("DELETE", "/api/distributions/"+id, nil, nil) })

	got := d.waitPresent(id, first)
	firstTransfers := map[string]bool{}
	for _, n := range got.Nodes {
		if n.SHA256 != want {
			t.Errorf("node %s present with sha256 %q, want %s", n.NodeID, n.SHA256, want)
		}
		firstTransfers[n.TransferID] = true
	}
	for _, n := range first {
		if s := shaFile(t, filepath.Join(folder(n), name)); s != want {
			t.Errorf("node %s holds sha256 %s, want %s", n, s, want)
		}
	}
	// The file is held: deleting the upload is refused, naming the distribution.
	var refused struct{ Error string }
	if code := d.Do("DELETE", "/api/files/"+name, nil, &refused); code != 409 || !strings.Contains(refused.Error, id) {
		t.Errorf("DELETE the distributed file: %d %q", code, refused.Error)
	}

	// A third node joins; nobody asks for anything.
	addWorker(t, c)
	var third string
	eventually(t, 90*time.Second, "a third alive Ray node", func() bool {
		for _, n := range aliveNodes(t, dash) {
			if !slices.Contains(first, n) {
				third = n
				return true
			}
		}
		return false
	})
	cleanFolder(third)
	got = d.waitPresent(id, append(slices.Clone(first), third))
	for _, n := range got.Nodes {
		if strings.HasSuffix(n.NodeID, ":"+third) {
			if n.SHA256 != want || firstTransfers[n.TransferID] {
				t.Errorf("new node %+v: want sha256 %s through a transfer of its own", n, want)
			}
		}
	}
	if s := shaFile(t, filepath.Join(folder(third), name)); s != want {
		t.Errorf("new node %s holds sha256 %s, want %s", third, s, want)
	}

	// The distribution survives a daemon killed without warning: a new one
	// on the same data dir keeps it and knows every node holds the file,
	// without delivering it again.
	delivered := map[string]string{}
	for _, n := range got.Nodes {
		delivered[n.NodeID] = n.TransferID
	}
	_ = d.Kill9() // its error is the exit status "signal: killed"
	d = startDaemon(t, config, d.DataDir())
	got = d.waitPresent(id, append(slices.Clone(first), third))
	for _, n := range got.Nodes {
		if n.TransferID != delivered[n.NodeID] || n.SHA256 != want {
			t.Errorf("after the restart %+v: want present through transfer %s with sha256 %s", n, delivered[n.NodeID], want)
		}
	}

	// Stopping it keeps the files and frees the upload.
	if code := d.Do("DELETE", "/api/distributions/"+id, nil, nil); code != 200 {
		t.Fatalf("DELETE distribution: %d", code)
	}
	if _, err := os.Stat(filepath.Join(folder(third), name)); err != nil {
		t.Errorf("a delivered file went away with the distribution: %v", err)
	}
	// The upload is free once the last delivery's transfer has ended (a
	// target is reported completed a moment before its transfer ends).
	eventually(t, 60*time.Second, "DELETE of the upload to succeed", func() bool {
		var res struct{ Error string }
		code := d.Do("DELETE", "/api/files/"+name, nil, &res)
		if code == 409 && strings.Contains(res.Error, "distribution") {
			t.Fatalf("the upload is still held by the deleted distribution: %s", res.Error)
		}
		return code == 200
	})
}
