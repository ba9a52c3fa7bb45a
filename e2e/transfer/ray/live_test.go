package rayxfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/plugins/transfer/ray/jobcast"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray"
)

const chunkSize = 4 << 20

// recorder is a TransferSink that keeps everything and signals progress.
type recorder struct {
	mu       sync.Mutex
	results  map[string]*sdk.TargetResult
	progress map[string]uint64
	moved    chan string // node id of each progress event with bytes > 0
}

func newRecorder() *recorder {
	return &recorder{results: map[string]*sdk.TargetResult{}, progress: map[string]uint64{}, moved: make(chan string, 4096)}
}

func (r *recorder) Progress(p *sdk.TargetProgress) error {
	r.mu.Lock()
	r.progress[p.NodeId] = p.BytesDone
	r.mu.Unlock()
	if p.BytesDone > 0 {
		select {
		case r.moved <- p.NodeId:
		default:
		}
	}
	return nil
}

func (r *recorder) Result(res *sdk.TargetResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.results[res.NodeId]; dup {
		return fmt.Errorf("second result for %s", res.NodeId)
	}
	r.results[res.NodeId] = res
	return nil
}

type env struct {
	c      *raycluster.Cluster
	dash   *ray.Dashboard
	head   string
	nodes  []string // head first, then the workers
	client sdk.Transferer
	python string
	dir    string
}

func makeFile(t *testing.T, dir, name string, size int) *sdk.FileSpec {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	spec := &sdk.FileSpec{Path: p, Size: uint64(size), Sha256: hex.EncodeToString(sum[:]), Name: name, ChunkSize: chunkSize}
	tab := crc32.MakeTable(crc32.Castagnoli)
	for off := 0; off < size; off += chunkSize {
		spec.ChunkCrc32C = append(spec.ChunkCrc32C, crc32.Checksum(data[off:min(off+chunkSize, size)], tab))
	}
	return spec
}

func (e *env) target(node string) *sdk.Target {
	return &sdk.Target{NodeId: "ray:e2e:" + node, Kind: "ray-node", Attributes: map[string]string{
		"cluster_id": "e2e", "dashboard_url": e.c.DashboardURL, "gcs_address": e.c.GCSAddress, "ray_node_id": node}}
}

func (e *env) configure(t *testing.T, extra string) {
	t.Helper()
	cfg := `{"auth_token": "` + e.c.Token + `"` + extra + `}`
	problems, err := e.client.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
	if err != nil || len(problems) > 0 {
		t.Fatalf("configure: %v %v", problems, err)
	}
}

func folder(node string) string { return filepath.Join(os.TempDir(), "castray", node) }

func setup(t *testing.T) *env {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	for i := 0; i < 2; i++ {
		if out, err := c.Ray("start", "--address="+c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
			"--metrics-export-port=0", "--disable-usage-stats"); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, out)
		}
	}
	d, err := ray.NewDashboard(c.DashboardURL, c.Token, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, dash: d, dir: t.TempDir(), python: filepath.Join(filepath.Dir(c.RayBin), "python")}
	deadline := time.Now().Add(90 * time.Second)
	for {
		nodes, err := d.Nodes(context.Background())
		e.nodes = e.nodes[:0]
		for _, n := range nodes {
			if n.State != "ALIVE" {
				continue
			}
			if n.IsHead {
				e.head = n.NodeID
				e.nodes = append([]string{n.NodeID}, e.nodes...)
			} else {
				e.nodes = append(e.nodes, n.NodeID)
			}
		}
		if err == nil && len(e.nodes) == 3 && e.head != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 alive nodes: %v %v", e.nodes, err)
		}
		time.Sleep(time.Second)
	}
	for _, n := range e.nodes {
		t.Cleanup(func() { os.RemoveAll(folder(n)) })
	}
	b := jobcast.New(hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr}))
	t.Cleanup(b.Close)
	e.client = plugintest.Transfer(t, b)
	e.configure(t, "")
	return e
}

// job runs a Python script as a Ray job of the cluster and returns its log.
func (e *env) job(t *testing.T, id, script string) string {
	t.Helper()
	ctx := context.Background()
	ep := e.python + " -c \"$CASTRAY_E2E\""
	if _, err := e.dash.SubmitJob(ctx, ray.JobSubmission{SubmissionID: id, Entrypoint: ep,
		RuntimeEnv: map[string]any{"env_vars": map[string]string{"CASTRAY_E2E": script}}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		j, err := e.dash.Job(ctx, id)
		if err == nil && j.Terminal() {
			logs, _ := e.dash.JobLogs(ctx, id)
			if j.Status != ray.JobSucceeded {
				t.Fatalf("job %s %s: %s\n%s", id, j.Status, j.Message, logs)
			}
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %+v %v", id, j, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readBack checks, with a Ray task pinned on each node, the SHA-256 of the
// file at path there.
func (e *env) readBack(t *testing.T, id string, files map[string]string, want string) {
	t.Helper()
	arg, _ := json.Marshal(files)
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
for node, path in json.loads('` + string(arg) + `').items():
    got_node, sha = ray.get(digest.options(scheduling_strategy=N(node, soft=False)).remote(path))
    print("READBACK", node, got_node, sha)
`
	logs := e.job(t, id, script)
	for node := range files {
		if line := fmt.Sprintf("READBACK %s %s %s", node, node, want); !strings.Contains(logs, line) {
			t.Errorf("read back on node %s: want %q in\n%s", node, line, logs)
		}
	}
}

// source returns how the driver of transfer id read the source ("local":
// from disk, "http": from the plugin's file server) and how many bytes,
// from the CASTRAY_TIMING line of its job's log.
func (e *env) source(t *testing.T, id string) (string, int64) {
	t.Helper()
	ctx := context.Background()
	// A Send ends on the last result; the driver prints its timing after it.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if j, err := e.dash.Job(ctx, "castray-"+id); err == nil && j.Terminal() {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("job castray-%s did not end: %+v %v", id, j, err)
		}
	}
	logs, err := e.dash.JobLogs(ctx, "castray-"+id)
	if err != nil {
		t.Fatalf("logs of castray-%s: %v", id, err)
	}
	for _, line := range strings.Split(logs, "\n") {
		if js, ok := strings.CutPrefix(line, "CASTRAY_TIMING "); ok {
			var tm struct {
				Acc struct {
					Source      string `json:"source"`
					SourceBytes int64  `json:"source_bytes"`
				} `json:"acc"`
			}
			if err := json.Unmarshal([]byte(js), &tm); err != nil {
				t.Fatalf("CASTRAY_TIMING of castray-%s: %v", id, err)
			}
			return tm.Acc.Source, tm.Acc.SourceBytes
		}
	}
	t.Fatalf("no CASTRAY_TIMING line in the log of castray-%s:\n%s", id, logs)
	return "", 0
}

func (e *env) send(t *testing.T, ctx context.Context, id string, f *sdk.FileSpec, targets []*sdk.Target, rec *recorder) (*sdk.SendSummary, error) {
	mode := sdk.Broadcast
	if len(targets) == 1 {
		mode = sdk.Unicast
	}
	return e.client.Send(ctx, &sdk.SendRequest{TransferId: id, File: f, Targets: targets, Mode: mode}, rec)
}

func onDisk(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("on disk: %v", err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func noFiles(t *testing.T, node, name string) {
	t.Helper()
	ents, _ := os.ReadDir(folder(node))
	for _, en := range ents {
		if en.Name() == name || strings.HasPrefix(en.Name(), ".castray-") {
			t.Errorf("node %s: %s left in %s", node[:8], en.Name(), folder(node))
		}
	}
}

func TestLiveRayBackend(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	t.Run("broadcast 64 MiB to 3 nodes", func(t *testing.T) {
		f := makeFile(t, e.dir, "big.bin", 64<<20)
		rec := newRecorder()
		var targets []*sdk.Target
		for _, n := range e.nodes {
			targets = append(targets, e.target(n))
		}
		start := time.Now()
		sum, err := e.send(t, ctx, "bcast1", f, targets, rec)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURE broadcast 64 MiB to 3 nodes: %v (%+v)", time.Since(start).Round(time.Millisecond), sum)
		if sum.Succeeded != 3 || sum.Failed != 0 {
			t.Fatalf("summary %+v, results %v", sum, rec.results)
		}
		files := map[string]string{}
		for _, n := range e.nodes {
			r := rec.results["ray:e2e:"+n]
			path := filepath.Join(folder(n), "big.bin")
			if r.State != sdk.TargetDone || r.Sha256 != f.Sha256 || r.Bytes != f.Size || r.Location != "node "+n+":"+path {
				t.Errorf("result %v", r)
			}
			if got := onDisk(t, path); got != f.Sha256 {
				t.Errorf("node %s on disk %s", n[:8], got)
			}
			if rec.progress["ray:e2e:"+n] == 0 {
				t.Errorf("no progress for %s", n[:8])
			}
			files[n] = path
		}
		e.readBack(t, "castray-e2e-readback1", files, f.Sha256)
		// The head runs on this machine: its driver reads the stored file from
		// disk, once, and never pulls it over HTTP.
		if how, n := e.source(t, "bcast1"); how != "local" || n != int64(f.Size) {
			t.Errorf("driver read the source by %q, %d bytes; want local, %d", how, n, f.Size)
		}
	})

	t.Run("unicast to one worker", func(t *testing.T) {
		f := makeFile(t, e.dir, "one.bin", 5<<20+3)
		rec := newRecorder()
		sum, err := e.send(t, ctx, "uni1", f, []*sdk.Target{e.target(e.nodes[1])}, rec)
		if err != nil || sum.Succeeded != 1 {
			t.Fatalf("%+v %v %v", sum, err, rec.results)
		}
		if got := onDisk(t, filepath.Join(folder(e.nodes[1]), "one.bin")); got != f.Sha256 {
			t.Errorf("on disk %s", got)
		}
		for _, n := range []string{e.nodes[0], e.nodes[2]} {
			if _, err := os.Stat(filepath.Join(folder(n), "one.bin")); err == nil {
				t.Errorf("node %s got the unicast file", n[:8])
			}
		}
	})

	t.Run("fetch direct and verify written", func(t *testing.T) {
		e.configure(t, `, "fetch": "direct", "verify": "written"`)
		defer e.configure(t, "")
		f := makeFile(t, e.dir, "direct.bin", 9<<20+77)
		rec := newRecorder()
		var targets []*sdk.Target
		for _, n := range e.nodes {
			targets = append(targets, e.target(n))
		}
		sum, err := e.send(t, ctx, "direct1", f, targets, rec)
		if err != nil || sum.Succeeded != 3 {
			t.Fatalf("%+v %v %v", sum, err, rec.results)
		}
		for _, n := range e.nodes {
			path := filepath.Join(folder(n), "direct.bin")
			if r := rec.results["ray:e2e:"+n]; r.State != sdk.TargetDone || r.Sha256 != f.Sha256 || r.Location != "node "+n+":"+path {
				t.Errorf("result %v", r)
			}
			if got := onDisk(t, path); got != f.Sha256 {
				t.Errorf("node %s on disk %s", n[:8], got)
			}
		}
	})

	t.Run("actor target lands on the actor's node", func(t *testing.T) {
		worker := e.nodes[2]
		e.job(t, "castray-e2e-actor", `import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as N
ray.init(namespace="castray-e2e")
@ray.remote(num_cpus=0)
class Holder:
    def ping(self): return 1
h = Holder.options(name="holder", lifetime="detached", scheduling_strategy=N("`+worker+`", soft=False)).remote()
ray.get(h.ping.remote())
`)
		actors, err := e.dash.Actors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var actor ray.Actor
		for _, a := range actors {
			if a.Name == "holder" {
				actor = a
			}
		}
		if actor.NodeID != worker {
			t.Fatalf("actor %+v not on %s", actor, worker)
		}
		f := makeFile(t, e.dir, "for-actor.bin", 3<<20)
		rec := newRecorder()
		tg := &sdk.Target{NodeId: "ray:e2e:actor:" + actor.ActorID, Kind: "ray-actor", Attributes: map[string]string{
			"cluster_id": "e2e", "dashboard_url": e.c.DashboardURL, "ray_node_id": worker, "actor_id": actor.ActorID}}
		sum, err := e.send(t, ctx, "actor1", f, []*sdk.Target{tg}, rec)
		if err != nil || sum.Succeeded != 1 {
			t.Fatalf("%+v %v %v", sum, err, rec.results)
		}
		path := filepath.Join(folder(worker), "actors", actor.ActorID, "for-actor.bin")
		if r := rec.results[tg.NodeId]; r.Location != "node "+worker+":"+path {
			t.Errorf("location %q, want on %s", r.Location, path)
		}
		e.readBack(t, "castray-e2e-readback-actor", map[string]string{worker: path}, f.Sha256)
	})

	t.Run("cancel mid-way leaves no file", func(t *testing.T) {
		e.configure(t, `, "max_rate": 4194304`)
		defer e.configure(t, "")
		f := makeFile(t, e.dir, "cancelled.bin", 48<<20)
		rec := newRecorder()
		var targets []*sdk.Target
		for _, n := range e.nodes {
			targets = append(targets, e.target(n))
		}
		done := make(chan error, 1)
		var sum *sdk.SendSummary
		go func() {
			var err error
			sum, err = e.send(t, ctx, "cancel1", f, targets, rec)
			done <- err
		}()
		<-rec.moved // bytes are moving
		if ok, err := e.client.Cancel(ctx, "cancel1"); !ok || err != nil {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if sum.Succeeded != 0 {
			t.Errorf("summary %+v", sum)
		}
		for _, n := range e.nodes {
			if r := rec.results["ray:e2e:"+n]; r == nil || r.State != sdk.TargetCancelled {
				t.Errorf("node %s: %v", n[:8], r)
			}
			noFiles(t, n, "cancelled.bin")
		}
	})

	t.Run("killed worker fails alone", func(t *testing.T) {
		e.configure(t, `, "max_rate": 8388608`)
		defer e.configure(t, "")
		victim := e.nodes[1]
		f := makeFile(t, e.dir, "survivors.bin", 96<<20)
		rec := newRecorder()
		var targets []*sdk.Target
		for _, n := range e.nodes {
			targets = append(targets, e.target(n))
		}
		done := make(chan error, 1)
		var sum *sdk.SendSummary
		go func() {
			var err error
			sum, err = e.send(t, ctx, "kill1", f, targets, rec)
			done <- err
		}()
		for id := range rec.moved {
			if id == "ray:e2e:"+victim {
				break
			}
		}
		killed := false
		for _, p := range e.c.Processes() {
			for _, arg := range p.Cmdline {
				if p.Comm == "raylet" && arg == "--node_id="+victim {
					if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			}
		}
		if !killed {
			t.Fatal("victim raylet not found")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		r := rec.results["ray:e2e:"+victim]
		t.Logf("MEASURE victim's result: %v", r)
		if r == nil || r.State != sdk.TargetFailed || r.Error == "" {
			t.Errorf("victim: %v", r)
		}
		for _, n := range []string{e.nodes[0], e.nodes[2]} {
			if r := rec.results["ray:e2e:"+n]; r == nil || r.State != sdk.TargetDone {
				t.Errorf("survivor %s: %v", n[:8], r)
			} else if got := onDisk(t, filepath.Join(folder(n), "survivors.bin")); got != f.Sha256 {
				t.Errorf("survivor on disk %s", got)
			}
		}
		if _, err := os.Stat(filepath.Join(folder(victim), "survivors.bin")); err == nil {
			t.Error("victim has the final file")
		}
		if sum.Succeeded != 2 || sum.Failed != 1 {
			t.Errorf("summary %+v", sum)
		}
		// max_rate is enforced by the file server, so the driver must use it.
		if how, n := e.source(t, "kill1"); how != "http" || n != int64(f.Size) {
			t.Errorf("with max_rate the driver read the source by %q, %d bytes; want http, %d", how, n, f.Size)
		}
	})
}
