//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/castray/castray/e2e/progkit"
	"github.com/castray/castray/e2e/raycluster"
)

// churnPhase is phase 3: a live multi-node Ray cluster connected through the
// daemon and churned for o.churn.
func churnPhase(ctx context.Context, rep *report, o options, rng *mrand.Rand, dir string) error {
	err := progkit.RunTB("soak", "churn", logf, func(t *progkit.TB) error { return churn(ctx, t, rep, o, rng, dir) })
	var s progkit.ErrSkipped
	if errors.As(err, &s) {
		rep.add("3 churn", "live Ray cluster", "skipped: "+s.Msg, false)
		return nil
	}
	return err
}

// worker is one `ray start --address` node of the churned cluster, started
// in a process group of its own.
type worker struct {
	pgid   int
	nodeID string
	raylet int
}

// churner owns the cluster while it is churned.
type churner struct {
	ctx     context.Context
	c       *raycluster.Cluster
	dir     string
	workers []*worker
	dead    []*worker // killed, their other processes not yet reaped
}

// rayNodes is Ray's own node table (State API), node id -> state.
func (ch *churner) rayNodes() (map[string]string, string, error) {
	st, body, err := ch.c.HTTPGet("/api/v0/nodes?limit=10000&detail=false")
	if err != nil {
		return nil, "", err
	}
	if st != 200 {
		return nil, "", fmt.Errorf("/api/v0/nodes: %d %s", st, tail(string(body), 300))
	}
	var resp struct {
		Data struct {
			Result struct {
				Result []struct {
					NodeID string `json:"node_id"`
					State  string `json:"state"`
					IsHead bool   `json:"is_head_node"`
				} `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, "", fmt.Errorf("/api/v0/nodes: %w: %s", err, tail(string(body), 300))
	}
	out := map[string]string{}
	head := ""
	for _, n := range resp.Data.Result.Result {
		out[n.NodeID] = n.State
		if n.IsHead && n.State == "ALIVE" {
			head = n.NodeID
		}
	}
	return out, head, nil
}

func aliveSet(nodes map[string]string) []string {
	var out []string
	for id, st := range nodes {
		if st == "ALIVE" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// daemonAlive is the daemon's active Ray nodes of cluster cid, as Ray node
// ids.
func daemonAlive(ctx context.Context, d *daemon, cid string) ([]string, error) {
	var resp struct {
		Nodes []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	if _, err := d.get(ctx, "/api/nodes?kind=ray-node", &resp); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range resp.Nodes {
		if n.State != "active" {
			continue
		}
		id, ok := strings.CutPrefix(n.ID, "ray:"+cid+":")
		if !ok {
			id = "other:" + n.ID // another cluster's node: always a mismatch
		}
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// rayProcs lists the cluster's processes of one process group (0: all).
func (ch *churner) raylets() map[int]raycluster.Proc {
	out := map[int]raycluster.Proc{}
	for _, p := range ch.c.Processes() {
		if p.Comm == "raylet" {
			out[p.PID] = p
		}
	}
	return out
}

func nodeIDOf(p raycluster.Proc) string {
	for _, a := range p.Cmdline {
		if id, ok := strings.CutPrefix(a, "--node_id="); ok {
			return id
		}
	}
	return ""
}

// rayStart runs `ray start` args in a process group of its own, in the
// cluster's temp dir with its environment, so that what it leaves running
// belongs to the cluster (raycluster's Stop finds it by its working
// directory and environment marker). It returns the group's id.
func (ch *churner) rayStart(timeout time.Duration, args ...string) (int, error) {
	ctx, cancel := context.WithTimeout(ch.ctx, timeout)
	defer cancel()
	var env []string
	for _, kv := range ch.c.Env() {
		if strings.HasPrefix(kv, "RAY_ADDRESS=") || strings.HasPrefix(kv, "RAY_API_SERVER_ADDRESS=") {
			continue
		}
		env = append(env, kv)
	}
	out, err := os.CreateTemp(ch.dir, "ray-start-*.log")
	if err != nil {
		return 0, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, ch.c.RayBin, append([]string{"start"}, args...)...)
	cmd.Dir, cmd.Env = ch.c.TempDir, env
	cmd.Stdout, cmd.Stderr = out, out // a file: Ray's daemons inherit it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On the deadline, the whole group: what it started so far with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	begin := time.Now()
	if err := cmd.Run(); err != nil {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		b, _ := os.ReadFile(out.Name())
		return 0, fmt.Errorf("ray start %v failed after %v: %w\n%s", args, time.Since(begin).Round(time.Second), err, tail(string(b), 1500))
	}
	return cmd.Process.Pid, nil
}

func (ch *churner) addWorker() error {
	before := ch.raylets()
	pgid, err := ch.rayStart(2*time.Minute, "--address="+ch.c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
		"--metrics-export-port=0", "--disable-usage-stats")
	if err != nil {
		return err
	}
	w := &worker{pgid: pgid}
	for pid, p := range ch.raylets() {
		if _, old := before[pid]; !old && (p.PGID == pgid || w.raylet == 0) {
			w.raylet, w.nodeID = pid, nodeIDOf(p)
		}
	}
	if w.raylet == 0 || w.nodeID == "" {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return errors.New("the new worker's raylet was not found")
	}
	ch.workers = append(ch.workers, w)
	return nil
}

// killWorker kills a random worker: its raylet only (the node's other
// processes are reaped after the settle), or every process of the node.
func (ch *churner) killWorker(rng *mrand.Rand, wholeNode bool) *worker {
	i := rng.Intn(len(ch.workers))
	w := ch.workers[i]
	ch.workers = append(ch.workers[:i], ch.workers[i+1:]...)
	if wholeNode {
		_ = syscall.Kill(-w.pgid, syscall.SIGKILL)
		_ = syscall.Kill(w.raylet, syscall.SIGKILL)
	} else {
		_ = syscall.Kill(w.raylet, syscall.SIGKILL)
	}
	ch.dead = append(ch.dead, w)
	return w
}

// reap kills what is left of killed workers.
func (ch *churner) reap() {
	for _, w := range ch.dead {
		_ = syscall.Kill(-w.pgid, syscall.SIGKILL)
	}
	ch.dead = nil
}

// restartHead kills every process of the cluster (head and workers) with
// SIGKILL and starts a new head on the same ports and temp dir.
func (ch *churner) restartHead() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps := ch.c.Processes()
		if len(ps) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d Ray processes survived SIGKILL for 30 s: %v", len(ps), ps)
		}
		for _, p := range ps {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ch.workers, ch.dead = nil, nil
	c := ch.c
	_, err := ch.rayStart(3*time.Minute, "--head",
		"--port="+strconv.Itoa(c.GCSPort),
		"--dashboard-port="+strconv.Itoa(c.DashboardPort),
		"--dashboard-host=127.0.0.1",
		"--ray-client-server-port="+strconv.Itoa(c.ClientServerPort),
		"--dashboard-agent-listen-port="+strconv.Itoa(c.DashboardAgentListenPort),
		"--temp-dir="+c.TempDir,
		"--num-cpus=1",
		"--include-dashboard=true",
		"--disable-usage-stats",
		"--log-color=false")
	return err
}

// sample is one reading of the daemon's resources.
type sample struct {
	at         time.Time
	goroutines int
	fds        int
	rssKiB     int
}

func takeSample(ctx context.Context, d *daemon) sample {
	s := sample{at: time.Now(), goroutines: d.goroutines(ctx), fds: openFDs(d.pid())}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid())); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					s.rssKiB, _ = strconv.Atoi(f[0])
				}
			}
		}
	}
	return s
}

func churn(ctx context.Context, t *progkit.TB, rep *report, o options, rng *mrand.Rand, dir string) error {
	const ph = "3 churn"
	pdir, dataDir := filepath.Join(dir, "plugins"), filepath.Join(dir, "data")
	for _, p := range []string{pdir, dataDir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := linkOrCopy(filepath.Join(o.binDir, "plugins", "castray-transfer-local"), filepath.Join(pdir, "castray-transfer-local")); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "castray.hcl")
	if err := os.WriteFile(cfg, []byte("ray_cluster {\n  create_demo_nodes = false\n  fallback_to_local = false\n}\nexternal_cluster {\n  sync_interval = 1\n}\n"), 0o600); err != nil {
		return err
	}
	logf("churn: starting a Ray head (e2e/raycluster; waits for its machine lock %s)", raycluster.LockPath)
	if err := waitLockFree(ctx); err != nil {
		return err
	}
	c := raycluster.Start(t, raycluster.Options{NumCPUs: 1})
	ch := &churner{ctx: ctx, c: c, dir: dir}
	defer ch.reap()

	d, err := startDaemon(o.binDir, pdir, dataDir, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := d.stop(); err != nil {
			rep.add(ph, "clean stop", err.Error(), false)
		}
	}()
	if err := d.waitReady(ctx, []string{"local"}, time.Minute); err != nil {
		return err
	}
	var conn struct {
		Cluster struct {
			ID string `json:"id"`
		} `json:"cluster"`
	}
	if _, err := d.postJSON(ctx, "/api/cluster/connect-external", map[string]string{"cluster_address": c.DashboardURL}, &conn); err != nil {
		return err
	}
	cid := conn.Cluster.ID
	logf("churn: connected as %s to %s", cid, c.DashboardURL)

	var (
		samples                         []sample
		settleSamples                   []sample
		raySettle, daemonSettle         []time.Duration
		matches, mismatches, rayStuck   int
		adds, addFails, rayletKills     int
		nodeKills, headRestarts, checks int
		problems                        []string
		maxAlive                        int
	)
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		logf("churn: PROBLEM %s", msg)
		if len(problems) < 10 {
			problems = append(problems, msg)
		}
	}
	// A sample every 10 s in the background.
	stopSampler := make(chan struct{})
	samplerDone := make(chan []sample)
	go func() {
		var out []sample
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampler:
				samplerDone <- out
				return
			case <-tick.C:
				out = append(out, takeSample(ctx, d))
			}
		}
	}()

	// settle waits for Ray's table to list want alive nodes, then for the
	// daemon's alive set to equal it, and counts the outcome.
	settle := func(step string, want int) {
		checks++
		start := time.Now()
		var ray []string
		for {
			nodes, _, err := ch.rayNodes()
			if err == nil {
				ray = aliveSet(nodes)
				if len(ray) == want {
					break
				}
			}
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > o.settle {
				rayStuck++
				logf("churn: %s: Ray lists %d alive nodes after %v, want %d (%v); comparing anyway", step, len(ray), o.settle, want, err)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		raySettle = append(raySettle, time.Since(start))
		rayAt := time.Now()
		var got []string
		for {
			nodes, _, rerr := ch.rayNodes()
			got, err = daemonAlive(ctx, d, cid)
			if rerr == nil {
				ray = aliveSet(nodes)
			}
			if err == nil && rerr == nil && strings.Join(got, ",") == strings.Join(ray, ",") {
				matches++
				daemonSettle = append(daemonSettle, time.Since(rayAt))
				break
			}
			if ctx.Err() != nil {
				return
			}
			if time.Since(rayAt) > o.settle {
				mismatches++
				problem("%s: after %v the daemon's alive Ray nodes %v differ from Ray's %v (%v %v)", step, o.settle, got, ray, err, rerr)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		maxAlive = max(maxAlive, len(ray))
		s := takeSample(ctx, d)
		settleSamples = append(settleSamples, s)
		logf("churn: %s: %d alive; Ray settled in %v, the daemon %v later; goroutines %d, fds %d, rss %d MiB",
			step, len(ray), raySettle[len(raySettle)-1].Round(100*time.Millisecond), time.Since(rayAt).Round(100*time.Millisecond),
			s.goroutines, s.fds, s.rssKiB>>10)
	}

	settle("connected", 1)
	begin := time.Now()
	nextHead := begin.Add(o.headRestarts)
	for step := 1; time.Since(begin) < o.churn && ctx.Err() == nil; step++ {
		switch {
		case time.Now().After(nextHead):
			nextHead = time.Now().Add(o.headRestarts)
			logf("churn: step %d: head restart (kill -9 of every Ray process, ray start --head on the same ports)", step)
			if err := ch.restartHead(); err != nil {
				return fmt.Errorf("head restart: %w", err)
			}
			headRestarts++
			settle(fmt.Sprintf("step %d head restart", step), 1)
		case len(ch.workers) == 0 || (len(ch.workers) < o.maxWorkers && rng.Intn(5) < 3):
			logf("churn: step %d: add a worker", step)
			adds++
			if err := ch.addWorker(); err != nil {
				addFails++
				problem("step %d: add a worker: %v", step, err)
			}
			settle(fmt.Sprintf("step %d add", step), 1+len(ch.workers))
		default:
			whole := rng.Intn(2) == 0
			w := ch.killWorker(rng, whole)
			what := "its raylet"
			if whole {
				what = "every process of the node"
				nodeKills++
			} else {
				rayletKills++
			}
			logf("churn: step %d: kill -9 of worker %s: %s", step, w.nodeID[:12], what)
			settle(fmt.Sprintf("step %d kill", step), 1+len(ch.workers))
			ch.reap()
		}
	}
	close(stopSampler)
	samples = <-samplerDone
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.info(ph, "churn", fmt.Sprintf("%v: %d workers added (%d failed to start), %d raylets and %d whole nodes killed (kill -9), %d head restarts; up to %d nodes alive",
		time.Since(begin).Round(time.Second), adds, addFails, rayletKills, nodeKills, headRestarts, maxAlive))
	var clusters struct {
		Count    int `json:"count"`
		Clusters []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"clusters"`
	}
	if _, err := d.get(ctx, "/api/clusters", &clusters); err != nil {
		return err
	}
	rep.add(ph, "connections listed by /api/clusters at the end (one cluster, one connection)", fmt.Sprintf("%d: %+v", clusters.Count, clusters.Clusters),
		clusters.Count == 1 && clusters.Clusters[0].ID == cid)
	rep.add(ph, "settles where the daemon's alive Ray nodes equal Ray's node table", fmt.Sprintf("%d of %d (%d where Ray itself had not settled in %v)", matches, checks, rayStuck, o.settle), mismatches == 0)
	rep.info(ph, "Ray's own settle time after a step (min / median / p95 / max)", spread(raySettle))
	rep.info(ph, "the daemon's lag behind Ray's table (sync_interval 1 s)", spread(daemonSettle))
	g, f, r := growth(settleSamples, func(s sample) int { return s.goroutines }), growth(settleSamples, func(s sample) int { return s.fds }),
		growth(settleSamples, func(s sample) int { return s.rssKiB >> 10 })
	rep.add(ph, "daemon goroutines at the settles (first / last / max)", g.String(), !g.grew)
	rep.add(ph, "daemon open fds at the settles (first / last / max)", f.String(), !f.grew)
	rep.info(ph, "daemon RSS MiB at the settles (first / last / max)", r.String())
	all := growth(samples, func(s sample) int { return s.goroutines })
	allF := growth(samples, func(s sample) int { return s.fds })
	rep.info(ph, "every 10 s: goroutines / fds (first / last / max)", all.String()+"; "+allF.String())
	for _, p := range problems {
		logf("churn: problem: %s", p)
	}
	return nil
}

// trend is first / last / max of a series, and whether it grew: the median
// of the last third above the median of the first third by more than a
// quarter and by more than slack.
type trend struct {
	first, last, max int
	early, late      int
	n                int
	grew             bool
}

func (t trend) String() string {
	verdict := "no growth"
	if t.grew {
		verdict = "GROWTH"
	}
	return fmt.Sprintf("%d / %d / %d (median of the first third %d, of the last third %d, n=%d: %s)", t.first, t.last, t.max, t.early, t.late, t.n, verdict)
}

func growth(ss []sample, f func(sample) int) trend {
	var t trend
	t.n = len(ss)
	if len(ss) == 0 {
		return t
	}
	v := make([]int, len(ss))
	for i, s := range ss {
		v[i] = f(s)
		t.max = max(t.max, v[i])
	}
	t.first, t.last = v[0], v[len(v)-1]
	third := max(1, len(v)/3)
	med := func(x []int) int {
		y := append([]int(nil), x...)
		sort.Ints(y)
		return y[len(y)/2]
	}
	t.early, t.late = med(v[:third]), med(v[len(v)-third:])
	t.grew = t.late > t.early+max(10, t.early/4)
	return t
}

// waitLockFree waits, as long as ctx lets it, until raycluster's machine
// lock looks free: raycluster.Start waits for it too, but without a context,
// and Ctrl-C should not have to wait for another engineer's live tests.
// (flock conflicts between two open files of one process too, so the lock
// cannot be held here and handed over; Start takes it right after.)
func waitLockFree(ctx context.Context) error {
	f, err := os.OpenFile(raycluster.LockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil // Start reports it
	}
	defer f.Close()
	last := time.Time{}
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			return nil
		}
		if time.Since(last) > 30*time.Second {
			holder, _ := os.ReadFile(raycluster.LockPath)
			logf("churn: waiting for %s (held by: %s)", raycluster.LockPath, strings.TrimSpace(string(holder)))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
