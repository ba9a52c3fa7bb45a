package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
)

// connected is the part of POST /api/cluster/connect-external the tests read.
type connected struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Cluster struct {
		ID, Address, Via, State string
		SessionName             string `json:"session_name"`
		ClusterID               string `json:"cluster_id"`
		Nodes                   int
		Actors                  int
	} `json:"cluster"`
	ExternalNodes map[string]struct {
		ID, Address, Status, Type string
		ClusterSource             string `json:"cluster_source"`
	} `json:"external_nodes"`
	Attempts []struct{ Method, Address, Error string } `json:"attempts"`
}

func (d *daemon) connect(t *testing.T, address string) (int, connected) {
	t.Helper()
	var res connected
	code := d.do("POST", "/api/cluster/connect-external", map[string]string{"cluster_address": address}, &res)
	return code, res
}

// virtualNodes lists the registry's nodes of one kind and cluster.
func (d *daemon) virtualNodes(t *testing.T, kind, cluster string) map[string]string {
	t.Helper()
	var res struct {
		Nodes []struct{ ID, State, Name string } `json:"nodes"`
	}
	d.do("GET", fmt.Sprintf("/api/nodes?kind=%s&cluster=%s", kind, cluster), nil, &res)
	out := map[string]string{}
	for _, n := range res.Nodes {
		out[n.ID] = n.State + "|" + n.Name
	}
	return out
}

// rayNodeIDs is Ray's own node list: `ray list nodes --format json`.
func rayNodeIDs(t *testing.T, c *raycluster.Cluster) map[string]string {
	t.Helper()
	out, err := c.Ray("list", "nodes", "--format", "json", "--detail")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		NodeID string `json:"node_id"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ray list nodes: %v\n%s", err, out)
	}
	ids := map[string]string{}
	for _, r := range rows {
		ids[r.NodeID] = r.State
	}
	return ids
}

// headNode is the node id of the cluster's head.
func headNode(t *testing.T, c *raycluster.Cluster) string {
	t.Helper()
	out, err := c.Ray("list", "nodes", "--format", "json", "--detail")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		NodeID string `json:"node_id"`
		IsHead bool   `json:"is_head_node"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.IsHead {
			return r.NodeID
		}
	}
	t.Fatal("no head node in `ray list nodes`")
	return ""
}

// python runs a script with the cluster's Ray environment.
func python(t *testing.T, c *raycluster.Cluster, script string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(filepath.Dir(c.RayBin), "python"), "-c", script)
	cmd.Dir, cmd.Env = c.TempDir, c.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	startActor = `
import ray, sys
ray.init(address="auto", namespace="castray-e2e")
@ray.remote(num_cpus=0)
class DemoWorker:
    def ping(self):
        return "pong"
a = DemoWorker.options(name="demo_worker_1", lifetime="detached").remote()
print(ray.get(a.ping.remote()))
`
	killActor = `
import ray
ray.init(address="auto", namespace="castray-e2e")
ray.kill(ray.get_actor("demo_worker_1"))
`
)

func TestConnectByDashboardBareAndGCS(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{NumCPUs: 2})
	d := startDaemon(t, daemonOpts{config: "external_cluster {\n  sync_interval = 1\n}\n"})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	bare := strings.TrimPrefix(c.DashboardURL, "http://")

	// The seed's forms: dashboard URL, bare host:port (the original's own
	// tests send 127.0.0.1:8265), and the GCS address.
	code, res := d.connect(t, c.DashboardURL)
	if code != 200 || !res.Success || res.Cluster.Via != "dashboard" || res.Cluster.Nodes != 1 {
		t.Fatalf("connect %s: %d %+v", c.DashboardURL, code, res)
	}
	id := res.Cluster.ID
	next(t, ch, 10*time.Second, "external_cluster_connected")
	if code, again := d.connect(t, bare); code != 200 || again.Cluster.ID != id || !strings.Contains(again.Message, "already") {
		t.Fatalf("connect %s: %d %+v", bare, code, again)
	}
	ray := rayNodeIDs(t, c)
	var want []string
	for nid := range ray {
		want = append(want, "ray:"+id+":"+nid)
	}
	sort.Strings(want)
	if got := sortedKeys(d.virtualNodes(t, "ray-node", id)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("virtual nodes %v, Ray's own %v", got, want)
	}
	for nid, n := range res.ExternalNodes {
		if n.Type != "external" || n.Status != "active" || n.ClusterSource != c.DashboardURL || nid != n.ID {
			t.Errorf("external node %+v", n)
		}
	}

	// A named actor appears as a virtual node, and vanishes when killed.
	python(t, c, startActor)
	ev := next(t, ch, 15*time.Second, "node_added")
	if !strings.Contains(string(ev.Data), "demo_worker_1") {
		t.Fatalf("node_added = %s", ev.Data)
	}
	if actors := d.virtualNodes(t, "ray-actor", id); len(actors) != 1 {
		t.Fatalf("actors %v", actors)
	}
	python(t, c, killActor)
	ev = next(t, ch, 15*time.Second, "node_removed")
	if !strings.Contains(string(ev.Data), "demo_worker_1") {
		t.Fatalf("node_removed = %s", ev.Data)
	}

	// By GCS address: a second connection to the same cluster is the same.
	code, viaGCS := d.connect(t, c.GCSAddress)
	if code != 200 || viaGCS.Cluster.ID != id {
		t.Fatalf("connect by GCS %s: %d %+v", c.GCSAddress, code, viaGCS)
	}

	// Status counts local and external nodes.
	var status struct {
		TotalNodes int `json:"total_nodes"`
	}
	d.do("GET", "/api/status", nil, &status)
	if status.TotalNodes != 3+1 {
		t.Errorf("total_nodes = %d, want 3 local + 1 Ray node", status.TotalNodes)
	}

	var info struct {
		IsConnected      bool           `json:"is_connected"`
		ConnectedCluster *string        `json:"connected_cluster"`
		ExternalNodes    map[string]any `json:"external_nodes"`
		Clusters         []any
	}
	d.do("GET", "/api/cluster/external-info", nil, &info)
	if !info.IsConnected || info.ConnectedCluster == nil || len(info.Clusters) != 1 || len(info.ExternalNodes) != 1 {
		t.Fatalf("external-info = %+v", info)
	}
	// The CLI: connect (already connected), nodes, disconnect.
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "castray"), append(args, "--addr", d.proxyURL())...).CombinedOutput()
		if err != nil {
			t.Fatalf("castray %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := cli("connect", bare); !strings.Contains(out, "already connected") {
		t.Errorf("castray connect printed %q", out)
	}
	for nid := range ray {
		if out := cli("nodes", "--kind", "ray-node"); !strings.Contains(out, "ray:"+id+":"+nid) || !strings.Contains(out, "(head)") {
			t.Errorf("castray nodes printed:\n%s", out)
		}
	}
	if out := cli("disconnect"); !strings.Contains(out, "disconnected from 1 cluster") {
		t.Errorf("castray disconnect printed %q", out)
	}
	next(t, ch, 10*time.Second, "external_cluster_disconnected")
	if left := d.virtualNodes(t, "ray-node", ""); len(left) != 0 {
		t.Fatalf("nodes left after disconnect: %v", left)
	}
}

func TestConnectBadAndUnreachableAddresses(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: "external_cluster {\n  connection_timeout = 3\n}\n"})
	for _, tc := range []struct {
		body any
		code int
		want string
	}{
		{map[string]string{}, 400, "cluster_address is required"},
		{map[string]string{"cluster_address": "http://"}, 400, "cluster_address"},
		{map[string]string{"cluster_address": "127.0.0.1:99999"}, 400, "cluster_address"},
		{map[string]string{"cluster_address": "ftp://127.0.0.1:21"}, 400, "cluster_address"},
		{map[string]string{"cluster_address": fmt.Sprintf("127.0.0.1:%d", freePort(t))}, 502, "127.0.0.1"},
	} {
		var res struct {
			Success  bool
			Error    string
			Attempts []any
		}
		code := d.do("POST", "/api/cluster/connect-external", tc.body, &res)
		if code != tc.code || res.Success || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%v: %d %+v, want %d mentioning %q", tc.body, code, res, tc.code, tc.want)
		}
		if code == 502 && len(res.Attempts) == 0 {
			t.Errorf("%v: no attempts listed", tc.body)
		}
	}
	if code := d.do("DELETE", "/api/cluster/disconnect-external?cluster_id=nope", nil, nil); code != 404 {
		t.Errorf("disconnect unknown: %d", code)
	}
}

func TestMultiNodeClusterFollowsWorkerDeathAndRestart(t *testing.T) {
	tmp := shortTempDir(t)
	opts := raycluster.Options{TempDir: tmp}
	c := raycluster.Start(t, opts)
	// Two more nodes on this machine, joined like a user would.
	for i := 0; i < 2; i++ {
		if out, err := c.Ray("start", "--address="+c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
			"--metrics-export-port=0", "--disable-usage-stats"); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, out)
		}
	}
	d := startDaemon(t, daemonOpts{config: "external_cluster {\n  sync_interval = 1\n}\n"})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	eventually(t, 60*time.Second, "three alive nodes", func() bool {
		code, res := d.connect(t, c.DashboardURL)
		if code != 200 {
			t.Fatalf("connect: %d %+v", code, res)
		}
		id = res.Cluster.ID
		return len(rayNodeIDs(t, c)) == 3 && len(d.virtualNodes(t, "ray-node", id)) == 3
	})
	ray := rayNodeIDs(t, c)
	var want []string
	for nid := range ray {
		want = append(want, "ray:"+id+":"+nid)
	}
	sort.Strings(want)
	if got := sortedKeys(d.virtualNodes(t, "ray-node", id)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("virtual nodes %v, Ray's own %v", got, want)
	}

	// Kill one worker's raylet: within two sync intervals (plus Ray's own
	// health check) the node is dead, with an event.
	var victim int
	var victimNode string
	head := headNode(t, c)
	for _, p := range c.Processes() {
		if p.Comm != "raylet" {
			continue
		}
		for _, arg := range p.Cmdline {
			if nid, ok := strings.CutPrefix(arg, "--node_id="); ok && nid != head {
				victim, victimNode = p.PID, nid
			}
		}
	}
	if victim == 0 {
		// Releases whose raylet gets no --node_id (2.9.3: it picks its own id) mark the
		// head's raylet with --head instead.
		for _, p := range c.Processes() {
			if p.Comm == "raylet" && !slices.Contains(p.Cmdline, "--head") {
				victim = p.PID
				break
			}
		}
	}
	if victim == 0 {
		t.Fatal("no worker raylet found")
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ev := next(t, ch, 90*time.Second, "node_dead")
	if victimNode == "" {
		// Which node it was is known from Ray only: the one it now calls DEAD.
		prefix := "ray:" + id + ":"
		if i := strings.Index(string(ev.Data), prefix); i >= 0 && len(ev.Data) >= i+len(prefix)+56 {
			victimNode = string(ev.Data[i+len(prefix) : i+len(prefix)+56])
		}
		if victimNode == head {
			t.Fatalf("node_dead = %s: the head, not the killed worker", ev.Data)
		}
		eventually(t, 60*time.Second, "Ray to list node "+victimNode+" as DEAD", func() bool {
			return rayNodeIDs(t, c)[victimNode] == "DEAD"
		})
	}
	if !strings.Contains(string(ev.Data), "ray:"+id+":"+victimNode) {
		t.Fatalf("node_dead = %s, want node %s", ev.Data, victimNode)
	}

	// ray stop, then a new head on the same ports: the connection comes back
	// with the new node set.
	oldNodes := d.virtualNodes(t, "ray-node", id)
	c.Stop()
	next(t, ch, 30*time.Second, "external_cluster_disconnected")
	opts.GCSPort, opts.DashboardPort = c.GCSPort, c.DashboardPort
	opts.TempDir = shortTempDir(t)
	c2 := raycluster.Start(t, opts)
	next(t, ch, 90*time.Second, "external_cluster_connected")
	newNodes := d.virtualNodes(t, "ray-node", id)
	if len(newNodes) != 1 {
		t.Fatalf("after the new head: %v", newNodes)
	}
	for nid := range newNodes {
		if _, old := oldNodes[nid]; old {
			t.Fatalf("node %s survived the restart", nid)
		}
		if !strings.HasSuffix(nid, sortedKeys(rayNodeIDs(t, c2))[0]) {
			t.Fatalf("virtual node %s is not Ray's node", nid)
		}
	}
}

func TestTwoClustersWithTokenAuth(t *testing.T) {
	a := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	b := raycluster.Start(t, raycluster.Options{})
	// The daemon holds cluster A's token, as a Ray user would.
	d := startDaemon(t, daemonOpts{env: []string{"RAY_AUTH_TOKEN=" + a.Token}})
	codeA, ra := d.connect(t, strings.TrimPrefix(a.DashboardURL, "http://"))
	codeB, rb := d.connect(t, b.GCSAddress)
	if codeA != 200 || codeB != 200 || ra.Cluster.ID == rb.Cluster.ID || ra.Cluster.Nodes != 1 || rb.Cluster.Nodes != 1 {
		t.Fatalf("A %d %+v\nB %d %+v", codeA, ra, codeB, rb)
	}
	var clusters struct{ Count int }
	d.do("GET", "/api/clusters", nil, &clusters)
	if clusters.Count != 2 {
		t.Fatalf("clusters = %d", clusters.Count)
	}
	if code := d.do("DELETE", "/api/cluster/disconnect-external", map[string]string{"cluster_id": ra.Cluster.ID}, nil); code != 200 {
		t.Fatalf("disconnect A: %d", code)
	}
	if n := len(d.virtualNodes(t, "ray-node", "")); n != 1 {
		t.Fatalf("after disconnecting A: %d ray nodes", n)
	}
	d.do("DELETE", "/api/cluster/disconnect-external", nil, nil)
	if n := len(d.virtualNodes(t, "ray-node", "")); n != 0 {
		t.Fatalf("after disconnecting all: %d ray nodes", n)
	}
	if strings.Contains(d.Stderr.String(), a.Token) {
		t.Fatal("the Ray token appears in the daemon's log")
	}
}

// With nothing to find, ray_cluster.fallback_to_local starts a Ray head
// owned by CastRay, connects to it, and stops it at shutdown.
func TestFallbackToLocalHead(t *testing.T) {
	rayBin := raycluster.RayBin(t)
	d := startDaemon(t, daemonOpts{
		config: "ray_cluster {\n  fallback_to_local = true\n}\nexternal_cluster {\n  auto_discover = true\n  connection_timeout = 5\n}\n",
		// The ray CLI on PATH is what the fallback (and ray-status) use.
		env: []string{"PATH=" + filepath.Dir(rayBin) + ":/usr/bin:/bin"},
	})
	var clusters struct {
		Clusters []struct {
			ID, Address, State string
			AliveNodes         int `json:"alive_nodes"`
		} `json:"clusters"`
	}
	eventually(t, 120*time.Second, "the local head to be connected", func() bool {
		d.do("GET", "/api/clusters", nil, &clusters)
		return len(clusters.Clusters) == 1 && clusters.Clusters[0].State == "connected" && clusters.Clusters[0].AliveNodes == 1
	})
	dash := clusters.Clusters[0].Address
	if !strings.Contains(d.Stderr.String(), "started a local head owned by CastRay") {
		t.Fatalf("log does not say a local head was started:\n%s", d.Stderr)
	}
	d.stop(syscall.SIGTERM)
	if code := d.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The head is gone with the daemon.
	resp, err := http.Get(dash + "/api/gcs_healthz")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the local head's dashboard %s still answers after the daemon stopped", dash)
	}
}

// The cluster the configuration names may come up after the daemon: until
// then it is listed as connecting (with the error and the next attempt),
// and it connects by itself once its head answers.
func TestConfiguredClusterThatStartsLater(t *testing.T) {
	dashPort := freePort(t)
	addr := fmt.Sprintf("http://127.0.0.1:%d", dashPort)
	d := startDaemon(t, daemonOpts{config: fmt.Sprintf("ray_cluster {\n  address = %q\n}\nexternal_cluster {\n  sync_interval = 1\n}\n", addr)})
	type cluster struct {
		ID, Address, State string
		LastError          string    `json:"last_error"`
		NextAttemptAt      time.Time `json:"next_attempt_at"`
		AliveNodes         int       `json:"alive_nodes"`
	}
	var list struct{ Clusters []cluster }
	eventually(t, 30*time.Second, "the configured address listed as connecting", func() bool {
		d.do("GET", "/api/clusters", nil, &list)
		return len(list.Clusters) == 1 && list.Clusters[0].State == "connecting"
	})
	if c := list.Clusters[0]; c.Address != addr || c.LastError == "" || c.NextAttemptAt.IsZero() || !strings.HasPrefix(c.ID, "p-") {
		t.Fatalf("connecting entry: %+v", c)
	}
	c := raycluster.Start(t, raycluster.Options{DashboardPort: dashPort})
	eventually(t, 120*time.Second, "the cluster to connect once up", func() bool {
		d.do("GET", "/api/clusters", nil, &list)
		return len(list.Clusters) == 1 && list.Clusters[0].State == "connected" && list.Clusters[0].AliveNodes == 1
	})
	if got := list.Clusters[0]; strings.HasPrefix(got.ID, "p-") || got.Address != addr {
		t.Fatalf("connected entry: %+v (cluster %s)", got, c.SessionName)
	}
}
