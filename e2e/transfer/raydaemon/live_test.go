package raydaemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray"
)

// node is the part of GET /api/nodes the test reads.
type node struct {
	ID        string             `json:"id"`
	Kind      string             `json:"kind"`
	Name      string             `json:"name"`
	State     string             `json:"state"`
	ClusterID string             `json:"cluster_id"`
	IsHead    bool               `json:"is_head"`
	Resources map[string]float64 `json:"resources"`
	Labels    map[string]string  `json:"labels"`
}

type targetRec struct {
	NodeID      string `json:"node_id"`
	Backend     string `json:"backend"`
	State       string `json:"state"`
	BytesDone   uint64 `json:"bytes_done"`
	BytesSent   uint64 `json:"bytes_sent"`
	BytesReused uint64 `json:"bytes_reused"`
	SHA256      string `json:"sha256"`
	Location    string `json:"location"`
	Error       string `json:"error"`
}

type transferRec struct {
	ID       string      `json:"id"`
	State    string      `json:"state"`
	Backend  string      `json:"backend"`
	Error    string      `json:"error"`
	Attempts int         `json:"attempts"`
	Targets  []targetRec `json:"targets"`
}

type choice struct {
	NodeID string `json:"node_id"`
	Rank   int    `json:"rank"`
	Reason string `json:"reason"`
}

// file is an uploaded payload.
type file struct {
	name string
	size int
	sha  string
}

// env is the cluster and what the test knows about it.
type env struct {
	c       *raycluster.Cluster
	dash    *ray.Dashboard
	python  string
	plugins string
	head    string // Ray node ids (hex)
	special string // the worker with the custom resource and label
	plain   string // the other worker
	readN   int
}

// rayNodes lists the cluster's Ray node ids, head first.
func (e *env) rayNodes() []string {
	var out []string
	for _, n := range []string{e.head, e.special, e.plain} {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// folder is the ray backend's default delivery folder of a Ray node of this
// machine: {tmp}/castray/{node_id}.
func folder(rayNode string) string { return filepath.Join(os.TempDir(), "castray", rayNode) }

// startCluster starts a head with authMode ("token" or "disabled") and, with
// full, two workers (one with the custom resource special=1 and the label
// castray-e2e=special, one plain); without, only the plain worker.
func startCluster(t *testing.T, authMode string, full bool) *env {
	t.Helper()
	c := raycluster.Start(t, raycluster.Options{AuthMode: authMode})
	workers := [][]string{{}}
	if full {
		workers = append(workers, []string{"--resources={\"special\": 1}", "--labels=castray-e2e=special"})
	}
	for i, extra := range workers {
		args := append([]string{"start", "--address=" + c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
			"--metrics-export-port=0", "--disable-usage-stats"}, extra...)
		if out, err := c.Ray(args...); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, out)
		}
	}
	d, err := ray.NewDashboard(c.DashboardURL, c.Token, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, dash: d, python: filepath.Join(filepath.Dir(c.RayBin), "python"), plugins: pluginDir(t)}
	eventually(t, 120*time.Second, fmt.Sprintf("%d alive Ray nodes", len(workers)+1), func() bool {
		nodes, err := d.Nodes(context.Background())
		if err != nil {
			return false
		}
		e.head, e.special, e.plain = "", "", ""
		alive := 0
		for _, n := range nodes {
			if n.State != "ALIVE" {
				continue
			}
			alive++
			switch {
			case n.IsHead:
				e.head = n.NodeID
			case n.ResourcesTotal["special"] == 1:
				e.special = n.NodeID
			default:
				e.plain = n.NodeID
			}
		}
		return alive == len(workers)+1 && e.head != "" && e.plain != "" && (e.special != "") == full
	})
	for _, n := range e.rayNodes() {
		t.Cleanup(func() { os.RemoveAll(folder(n)) })
	}
	return e
}

// config is the daemon's HCL: connect to the cluster by dashboard URL with
// its token, demo nodes on, no fallback head, no resume at start (the crash
// test retries by hand), and the ray plugin's own config.
func (e *env) config(maxRate int) string {
	return fmt.Sprintf(`
ray_cluster {
  address           = %q
  create_demo_nodes = true
  fallback_to_local = false
}
external_cluster {
  auth_token    = %q
  sync_interval = 1
}
file_transfer {
  resume_on_start = false
}
plugin "ray" {
  config {
    auth_token = %q
    max_rate   = %d
  }
}
`, e.c.DashboardURL, e.c.Token, e.c.Token, maxRate)
}

// start starts a daemon on dataDir and waits until it lists every Ray node
// of the cluster as active.
func (e *env) start(t *testing.T, dataDir string, maxRate int) (*daemon, string) {
	t.Helper()
	d := startDaemon(t, e.plugins, dataDir, e.config(maxRate))
	var cluster string
	want := len(e.rayNodes())
	eventually(t, 60*time.Second, fmt.Sprintf("the daemon to list the %d Ray nodes as active", want), func() bool {
		n := 0
		for _, x := range d.nodes("ray-node") {
			if x.State == "active" {
				n++
				cluster = x.ClusterID
			}
		}
		return n == want
	})
	return d, cluster
}

func (d *daemon) nodes(kind string) []node {
	d.t.Helper()
	var resp struct {
		Nodes []node `json:"nodes"`
	}
	if code := d.do("GET", "/api/nodes?kind="+kind, nil, &resp); code != 200 {
		d.t.Fatalf("GET /api/nodes: %d", code)
	}
	return resp.Nodes
}

func vnode(cluster, rayNode string) string { return "ray:" + cluster + ":" + rayNode }

func makePayload(t *testing.T, d *daemon, name string, size int) file {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	s := sha256.Sum256(b)
	f := file{name: name, size: size, sha: hex.EncodeToString(s[:])}
	var up struct {
		File struct {
			SHA256 string `json:"sha256"`
		} `json:"file"`
	}
	if code := d.do("PUT", "/api/files/"+name, b, &up); code != 201 || up.File.SHA256 != f.sha {
		t.Fatalf("upload %s: %d %+v", name, code, up)
	}
	return f
}

type startReply struct {
	Transfer transferRec `json:"transfer"`
	Chosen   []choice    `json:"chosen"`
	Error    string      `json:"error"`
}

func (d *daemon) startTransfer(body map[string]any) startReply {
	d.t.Helper()
	var r startReply
	if code := d.do("POST", "/api/transfers", body, &r); code != 202 {
		d.t.Fatalf("POST /api/transfers %v: %d %s", body, code, r.Error)
	}
	return r
}

func (d *daemon) transfer(id string) transferRec {
	d.t.Helper()
	var r struct {
		Transfer transferRec `json:"transfer"`
	}
	if code := d.do("GET", "/api/transfers/"+id, nil, &r); code != 200 {
		d.t.Fatalf("GET /api/transfers/%s: %d", id, code)
	}
	return r.Transfer
}

var ended = []string{"completed", "partial", "failed", "cancelled", "interrupted"}

func (d *daemon) wait(id string, states ...string) transferRec {
	d.t.Helper()
	var rec transferRec
	eventually(d.t, 4*time.Minute, "transfer "+id+" to reach "+strings.Join(states, "|"), func() bool {
		rec = d.transfer(id)
		for _, s := range states {
			if rec.State == s {
				return true
			}
		}
		return false
	})
	return rec
}

func shaOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("on disk: %v", err)
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// rayPath is where a Ray target's file must be: the location the backend
// reports is "node <ray node>:<path>".
func rayPath(t *testing.T, tg targetRec, rayNode string) string {
	t.Helper()
	node, path, ok := strings.Cut(strings.TrimPrefix(tg.Location, "node "), ":")
	if !ok || !strings.HasPrefix(tg.Location, "node ") || node != rayNode {
		t.Errorf("%s: location %q, want on Ray node %s", tg.NodeID, tg.Location, rayNode)
	}
	return path
}

// checkDone asserts a completed target and its file on disk (a Ray node's
// folder, or a local node's inbox) with the file's SHA-256; it returns the
// path.
func (e *env) checkDone(t *testing.T, d *daemon, tg targetRec, f file, wantPath string) string {
	t.Helper()
	if tg.State != "completed" || tg.SHA256 != f.sha || tg.BytesDone != uint64(f.size) {
		t.Errorf("target %+v: want completed with sha256 %s and %d bytes", tg, f.sha, f.size)
	}
	if got := shaOf(t, wantPath); got != f.sha {
		t.Errorf("%s: %s has sha256 %q, want %s", tg.NodeID, wantPath, got, f.sha)
	}
	return wantPath
}

// noFinal asserts that no Ray node holds name under its final name.
func (e *env) noFinal(t *testing.T, name string, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(folder(n), name)); err == nil {
			t.Errorf("Ray node %s holds %s under its final name", n[:8], name)
		}
	}
}

func parts(node, id string) []string {
	ents, _ := os.ReadDir(folder(node))
	var out []string
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".castray-"+id) {
			out = append(out, en.Name())
		}
	}
	return out
}

// job runs a Python script as a Ray job and returns its log.
func (e *env) job(t *testing.T, script string) string {
	t.Helper()
	e.readN++
	id := fmt.Sprintf("e2e-raydaemon-%d-%d", os.Getpid(), e.readN)
	ctx := context.Background()
	if _, err := e.dash.SubmitJob(ctx, ray.JobSubmission{SubmissionID: id, Entrypoint: e.python + ` -c "$CASTRAY_E2E"`,
		RuntimeEnv: map[string]any{"env_vars": map[string]string{"CASTRAY_E2E": script}}}); err != nil {
		t.Fatal(err)
	}
	var logs string
	eventually(t, 3*time.Minute, "job "+id, func() bool {
		j, err := e.dash.Job(ctx, id)
		if err != nil || !j.Terminal() {
			return false
		}
		logs, _ = e.dash.JobLogs(ctx, id)
		if j.Status != ray.JobSucceeded {
			t.Fatalf("job %s %s: %s\n%s", id, j.Status, j.Message, logs)
		}
		return true
	})
	return logs
}

// readBack checks, with one Ray task per file pinned on its node
// (NodeAffinitySchedulingStrategy, soft=False), that the node itself reads
// the file with the SHA-256 want[i].
type readCheck struct{ Node, Path, SHA string }

func (e *env) readBack(t *testing.T, checks []readCheck) {
	t.Helper()
	arg, _ := json.Marshal(checks)
	script := `import hashlib, json, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as N
ray.init()
@ray.remote(num_cpus=0)
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return ray.get_runtime_context().get_node_id(), h.hexdigest()
checks = json.loads('` + string(arg) + `')
refs = [digest.options(scheduling_strategy=N(c["Node"], soft=False)).remote(c["Path"]) for c in checks]
for c, (node, sha) in zip(checks, ray.get(refs)):
    print("READBACK", c["Node"], node, c["Path"], sha)
`
	logs := e.job(t, script)
	for _, c := range checks {
		if line := fmt.Sprintf("READBACK %s %s %s %s", c.Node, c.Node, c.Path, c.SHA); !strings.Contains(logs, line) {
			t.Errorf("read back on node %s: want %q in\n%s", c.Node[:8], line, logs)
		}
	}
}

func byNode(rec transferRec) map[string]targetRec {
	m := map[string]targetRec{}
	for _, tg := range rec.Targets {
		m[tg.NodeID] = tg
	}
	return m
}

func ids(rec transferRec) []string {
	var out []string
	for _, tg := range rec.Targets {
		out = append(out, tg.NodeID)
	}
	sort.Strings(out)
	return out
}

func TestDaemonRayTransfers(t *testing.T) {
	e := startCluster(t, "token", true)
	dataDir := filepath.Join(t.TempDir(), "data")
	d, cluster := e.start(t, dataDir, 0)
	inbox := func(n string) string { return filepath.Join(dataDir, "inbox", n) }
	var reads []readCheck

	t.Run("broadcast 64 MiB to local and Ray nodes", func(t *testing.T) {
		f := makePayload(t, d, "big.bin", 64<<20)
		r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "broadcast"})
		rec := d.wait(r.Transfer.ID, ended...)
		want := []string{"node_1", "node_2", "node_3"}
		for _, n := range e.rayNodes() {
			want = append(want, vnode(cluster, n))
		}
		sort.Strings(want)
		if got := ids(rec); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("one record with targets %v, want %v", got, want)
		}
		if rec.State != "completed" || rec.Backend != "mixed" {
			t.Errorf("record %s backend %s: %+v", rec.State, rec.Backend, rec)
		}
		tgs := byNode(rec)
		for _, n := range []string{"node_1", "node_2", "node_3"} {
			if tgs[n].Backend != "local" {
				t.Errorf("%s went through %q", n, tgs[n].Backend)
			}
			e.checkDone(t, d, tgs[n], f, filepath.Join(inbox(n), f.name))
		}
		for _, n := range e.rayNodes() {
			tg := tgs[vnode(cluster, n)]
			if tg.Backend != "ray" {
				t.Errorf("%s went through %q", tg.NodeID, tg.Backend)
			}
			path := filepath.Join(folder(n), f.name)
			if got := rayPath(t, tg, n); got != path {
				t.Errorf("%s: delivered to %s, want the default folder %s", tg.NodeID, got, path)
			}
			reads = append(reads, readCheck{n, e.checkDone(t, d, tg, f, path), f.sha})
		}
	})

	t.Run("unicast to one Ray node", func(t *testing.T) {
		f := makePayload(t, d, "uni.bin", 3<<20+5)
		target := vnode(cluster, e.plain)
		r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "unicast", "targets": []string{target}})
		rec := d.wait(r.Transfer.ID, ended...)
		if rec.State != "completed" || len(rec.Targets) != 1 || rec.Backend != "ray" {
			t.Fatalf("record %+v", rec)
		}
		e.checkDone(t, d, rec.Targets[0], f, filepath.Join(folder(e.plain), f.name))
		e.noFinal(t, f.name, e.head, e.special)
	})

	t.Run("multicast to the nodes a resource selector matches", func(t *testing.T) {
		f := makePayload(t, d, "special.bin", 2<<20)
		r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "multicast",
			"selector": map[string]any{"resources": map[string]float64{"special": 1}}})
		rec := d.wait(r.Transfer.ID, ended...)
		if got := ids(rec); len(got) != 1 || got[0] != vnode(cluster, e.special) {
			t.Fatalf("selector {special: 1} chose %v, want only %s", got, vnode(cluster, e.special))
		}
		e.checkDone(t, d, rec.Targets[0], f, filepath.Join(folder(e.special), f.name))
		e.noFinal(t, f.name, e.head, e.plain)

		// The same worker, by its Ray label.
		f2 := makePayload(t, d, "labelled.bin", 1<<20)
		r = d.startTransfer(map[string]any{"file_name": f2.name, "mode": "multicast",
			"selector": map[string]any{"kind": "ray-node", "labels": map[string]string{"castray-e2e": "special"}}})
		rec = d.wait(r.Transfer.ID, ended...)
		if got := ids(rec); len(got) != 1 || got[0] != vnode(cluster, e.special) {
			t.Fatalf("selector {labels: castray-e2e=special} chose %v, want only %s", got, vnode(cluster, e.special))
		}
		e.checkDone(t, d, rec.Targets[0], f2, filepath.Join(folder(e.special), f2.name))
	})

	t.Run("pick the least-loaded Ray node", func(t *testing.T) {
		f := makePayload(t, d, "picked.bin", 2<<20)
		r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "multicast",
			"selector": map[string]any{"kind": "ray-node", "cluster": cluster},
			"pick":     map[string]any{"count": 1, "rule": "least-loaded"}})
		if len(r.Chosen) != 1 || r.Chosen[0].Reason == "" {
			t.Fatalf("chosen %+v: want one node with a reason", r.Chosen)
		}
		t.Logf("chosen: %+v", r.Chosen[0])
		rec := d.wait(r.Transfer.ID, ended...)
		if got := ids(rec); len(got) != 1 || got[0] != r.Chosen[0].NodeID {
			t.Fatalf("targets %v, chosen %s", got, r.Chosen[0].NodeID)
		}
		var picked string
		for _, n := range e.rayNodes() {
			if vnode(cluster, n) == r.Chosen[0].NodeID {
				picked = n
			}
		}
		if picked == "" {
			t.Fatalf("chosen %s is not one of the cluster's Ray nodes", r.Chosen[0].NodeID)
		}
		e.checkDone(t, d, rec.Targets[0], f, filepath.Join(folder(picked), f.name))
		for _, n := range e.rayNodes() {
			if n != picked {
				e.noFinal(t, f.name, n)
			}
		}
	})

	t.Run("named actor target lands on the actor's node", func(t *testing.T) {
		e.job(t, `import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as N
ray.init(namespace="castray-e2e")
@ray.remote(num_cpus=0)
class Holder:
    def ping(self): return 1
h = Holder.options(name="holder", lifetime="detached", scheduling_strategy=N("`+e.plain+`", soft=False)).remote()
ray.get(h.ping.remote())
`)
		var actor node
		eventually(t, 60*time.Second, "the named actor as a virtual node", func() bool {
			for _, a := range d.nodes("ray-actor") {
				if a.State == "active" && a.ClusterID == cluster && a.Name == "holder" {
					actor = a
					return true
				}
			}
			return false
		})
		actorID := actor.ID[strings.LastIndex(actor.ID, ":")+1:]
		if actor.Labels["ray_node_id"] != e.plain {
			t.Errorf("actor node %+v: want label ray_node_id=%s", actor, e.plain)
		}
		f := makePayload(t, d, "for-actor.bin", 2<<20)
		r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "unicast", "targets": []string{actor.ID}})
		rec := d.wait(r.Transfer.ID, ended...)
		if rec.State != "completed" || len(rec.Targets) != 1 {
			t.Fatalf("record %+v", rec)
		}
		path := filepath.Join(folder(e.plain), "actors", actorID, f.name)
		if got := rayPath(t, rec.Targets[0], e.plain); got != path {
			t.Errorf("actor's file at %s, want %s", got, path)
		}
		reads = append(reads, readCheck{e.plain, e.checkDone(t, d, rec.Targets[0], f, path), f.sha})
	})

	t.Run("the original's /api/send and /api/file-transfers onto Ray nodes", func(t *testing.T) {
		reads = append(reads, e.originalAPI(t, d, cluster)...)
	})

	t.Run("read back through Ray tasks pinned on each node", func(t *testing.T) {
		if len(reads) == 0 {
			t.Fatal("nothing was delivered to read back: the delivery subtests above failed")
		}
		e.readBack(t, reads)
	})
	d.stop(syscall.SIGTERM)

	// A daemon whose ray plugin serves at most 4 MiB/s per job, so a Ray
	// transfer is still moving when the test acts.
	slowDir := filepath.Join(t.TempDir(), "slow")
	const rate = 4 << 20
	slow, _ := e.start(t, slowDir, rate)
	rayTargets := func() []string {
		var out []string
		for _, n := range e.rayNodes() {
			out = append(out, vnode(cluster, n))
		}
		return out
	}
	moving := func(d *daemon, id string) transferRec {
		var rec transferRec
		eventually(t, 3*time.Minute, "bytes to reach a Ray node", func() bool {
			rec = d.transfer(id)
			for _, tg := range rec.Targets {
				if tg.Backend == "ray" && tg.BytesDone > 0 {
					return true
				}
			}
			if rec.State != "running" && rec.State != "pending" {
				t.Fatalf("transfer ended before bytes moved: %+v", rec)
			}
			return false
		})
		return rec
	}

	t.Run("cancel mid-way", func(t *testing.T) {
		f := makePayload(t, slow, "cancelled.bin", 48<<20)
		r := slow.startTransfer(map[string]any{"file_name": f.name, "mode": "multicast", "targets": rayTargets()})
		moving(slow, r.Transfer.ID)
		if code := slow.do("DELETE", "/api/transfers/"+r.Transfer.ID, nil, nil); code != 200 && code != 202 {
			t.Fatalf("DELETE: %d", code)
		}
		rec := slow.wait(r.Transfer.ID, ended...)
		if rec.State != "cancelled" {
			t.Errorf("record %s, want cancelled: %+v", rec.State, rec)
		}
		for _, tg := range rec.Targets {
			if tg.State != "cancelled" {
				t.Errorf("target %+v, want cancelled", tg)
			}
		}
		e.noFinal(t, f.name, e.rayNodes()...)
		eventually(t, 60*time.Second, "the writers to remove their part files", func() bool {
			for _, n := range e.rayNodes() {
				if len(parts(n, r.Transfer.ID)) > 0 {
					return false
				}
			}
			return true
		})
		e.noFinal(t, f.name, e.rayNodes()...)
	})

	t.Run("kill -9 of the daemon mid-transfer, restart, retry", func(t *testing.T) {
		f := makePayload(t, slow, "crash.bin", 32<<20)
		targets := append([]string{"node_1"}, rayTargets()...)
		r := slow.startTransfer(map[string]any{"file_name": f.name, "mode": "multicast", "targets": targets})
		id := r.Transfer.ID
		moving(slow, id)
		pid := slow.pluginPID("ray")
		slow.stop(syscall.SIGKILL)
		eventually(t, 30*time.Second, "the ray plugin to die with the daemon", func() bool { return !processAlive(pid) })

		// The same data dir and config: the record must tell the truth.
		again, _ := e.start(t, slowDir, rate)
		check := func(rec transferRec, when string) (done int) {
			for _, tg := range rec.Targets {
				var path string
				if tg.NodeID == "node_1" {
					path = filepath.Join(slowDir, "inbox", "node_1", f.name)
				} else {
					n := tg.NodeID[strings.LastIndex(tg.NodeID, ":")+1:]
					path = filepath.Join(folder(n), f.name)
				}
				switch tg.State {
				case "completed":
					done++
					if got := shaOf(t, path); got != f.sha || tg.SHA256 != f.sha {
						t.Errorf("%s: %s reported done, but on disk %q (reported %s), want %s", when, tg.NodeID, got, tg.SHA256, f.sha)
					}
				case "failed", "interrupted":
				default:
					t.Errorf("%s: target %s is %s", when, tg.NodeID, tg.State)
				}
			}
			return done
		}
		rec := again.transfer(id)
		t.Logf("after restart: %s, targets %+v", rec.State, rec.Targets)
		if rec.State == "running" || rec.State == "pending" {
			t.Fatalf("record still %s after the restart", rec.State)
		}
		check(rec, "after restart")
		if j, err := e.dash.Job(context.Background(), "castray-"+id); err == nil {
			t.Logf("Ray job castray-%s after the restart: %s %s", id, j.Status, j.Message)
		}
		if rec.State != "completed" {
			if code := again.do("POST", "/api/transfers/"+id+"/retry", nil, nil); code != 202 {
				t.Fatalf("retry: %d", code)
			}
			rec = again.wait(id, "completed", "partial", "failed", "cancelled")
		}
		if rec.State != "completed" {
			t.Errorf("after retry: %+v", rec)
			t.Logf("Ray's job manager on castray-%s:\n%s", id, e.jobManagerLog("castray-"+id))
			t.FailNow()
		}
		if n := check(rec, "after retry"); n != len(targets) {
			t.Errorf("%d of %d targets completed", n, len(targets))
		}
		for _, n := range e.rayNodes() {
			if p := parts(n, id); len(p) > 0 {
				t.Errorf("node %s: parts left: %v", n[:8], p)
			}
		}
		var rb []readCheck
		for _, n := range e.rayNodes() {
			rb = append(rb, readCheck{n, filepath.Join(folder(n), f.name), f.sha})
		}
		e.readBack(t, rb)
	})
}

// With token auth off, the daemon and the ray plugin need no token: a
// broadcast still reaches the local nodes and both Ray nodes, verified on
// disk and read back on each Ray node.
func TestDaemonRayTransfersNoAuth(t *testing.T) {
	e := startCluster(t, "disabled", false)
	if e.c.Token != "" || e.c.AuthMode == "token" {
		t.Fatalf("cluster auth %q with a token", e.c.AuthMode)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	d, cluster := e.start(t, dataDir, 0)
	f := makePayload(t, d, "noauth.bin", 4<<20+1)
	r := d.startTransfer(map[string]any{"file_name": f.name, "mode": "broadcast"})
	rec := d.wait(r.Transfer.ID, ended...)
	if rec.State != "completed" || len(rec.Targets) != 5 {
		t.Fatalf("record %+v", rec)
	}
	tgs := byNode(rec)
	for _, n := range []string{"node_1", "node_2", "node_3"} {
		e.checkDone(t, d, tgs[n], f, filepath.Join(dataDir, "inbox", n, f.name))
	}
	var reads []readCheck
	for _, n := range e.rayNodes() {
		path := filepath.Join(folder(n), f.name)
		tg := tgs[vnode(cluster, n)]
		if got := rayPath(t, tg, n); got != path {
			t.Errorf("%s: delivered to %s, want %s", tg.NodeID, got, path)
		}
		reads = append(reads, readCheck{n, e.checkDone(t, d, tg, f, path), f.sha})
	}
	e.readBack(t, reads)
}

// jobManagerLog returns the lines of the head's dashboard logs that name a
// job, for failure reports.
func (e *env) jobManagerLog(sub string) string {
	logs, _ := filepath.Glob(filepath.Join(e.c.SessionDir, "logs", "dashboard*.log"))
	var out []string
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, sub) {
				out = append(out, filepath.Base(l)+": "+tail(line, 600))
			}
		}
	}
	return strings.Join(out, "\n")
}
