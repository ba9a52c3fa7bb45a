//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/castray/castray/e2e/fakeray"
)

// Item 8's knobs: flags of their own, so that main.go only registers the
// step.
var (
	clustersN        = flag.Int("clusters", 100, "item 8 (clusters): FAKE dashboards (e2e/fakeray) connected at once")
	clusterNodes     = flag.Int("cluster-nodes", 1000, "item 8 (clusters): nodes of each FAKE dashboard")
	clusterRounds    = flag.Int("cluster-rounds", 6, "item 8 (clusters): sync rounds the CPU figure is measured over")
	clusterWSClients = flag.Int("cluster-ws", 100, "item 8 (clusters): /ws clients that must see the 10k-node change")
	clusterChange    = flag.Int("cluster-change", 100, "item 8 (clusters): nodes killed on each FAKE dashboard for the fan-out (100 x 100 = 10k)")
)

// clusterSyncInterval is external_cluster.sync_interval of item 8's daemon:
// the default (config.Default), so the figure is what a user gets.
const clusterSyncInterval = 5 * time.Second

// benchClusters is item 8: -clusters FAKE Ray dashboards (e2e/fakeray: a
// fake for scale only, never a stand-in for Ray's behaviour), each with
// -cluster-nodes nodes and a session name and cluster id of its own,
// connected at once to the built daemon (POST
// /api/cluster/connect-external, 8 at a time). It measures:
//
//   - the daemon's CPU per sync round: utime+stime from /proc/<pid>/stat
//     across -cluster-rounds sync intervals in which nothing changes,
//     divided by the rounds done (castray_cluster_sync_duration_seconds'
//     count over all clusters / clusters); goal <= 1 s;
//   - the registry's memory: the daemon's RSS with every cluster connected
//     minus its RSS idle, before the first connect, in the same run; goal
//     <= 200 MiB;
//   - the WebSocket fan-out of a 10k-node change: -cluster-ws clients that
//     keep reading, then -cluster-change nodes killed on every fake at
//     once (fakeray.KillNodes); the clients the daemon dropped (goal 0)
//     and the time from the kill until every client has seen every
//     node_dead (it includes the wait for each cluster's next sync, up to
//     one interval).
func benchClusters(ctx context.Context, rep *report, o options, root string) error {
	nClusters, nNodes, rounds, nWS, change := *clustersN, *clusterNodes, *clusterRounds, *clusterWSClients, *clusterChange
	if nClusters < 1 || nNodes < 2 || rounds < 1 || nWS < 1 || change < 1 || change >= nNodes {
		return errors.New("-clusters, -cluster-rounds, -cluster-ws, -cluster-change must be >= 1, -cluster-nodes >= 2 and > -cluster-change")
	}
	dir := filepath.Join(root, "clusters")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "castray.hcl")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `ray_cluster {
  create_demo_nodes = false
  fallback_to_local = false
}
external_cluster {
  auto_discover      = false
  connection_timeout = 60
  sync_interval      = %d
}
logging {
  level = "warn"
}
`, int(clusterSyncInterval/time.Second)), 0o644); err != nil {
		return err
	}
	want, err := expectedPlugins(filepath.Join(o.binDir, "plugins"))
	if err != nil {
		return err
	}
	d, err := startDaemon(o, filepath.Join(dir, "data"), "--config", cfg)
	if err != nil {
		return err
	}
	defer func() {
		if _, err := d.stop(); err != nil {
			logf("clusters: %v", err)
		}
	}()
	if _, err := d.waitReady(ctx, want, 60*time.Second); err != nil {
		return err
	}
	pid := d.Cmd.Process.Pid
	sleepCtx(ctx, 3*time.Second)
	idleRSS, err := vmRSS(pid)
	if err != nil {
		return err
	}
	logf("clusters: daemon idle RSS %s", fmtMiB(idleRSS))

	// The FAKE dashboards, each a cluster of its own (distinct session
	// names: one session name is one cluster to the daemon).
	fakes := make([]*fakeray.Server, nClusters)
	defer func() {
		for _, f := range fakes {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range fakes {
		fakes[i] = fakeray.New(fakeray.Options{
			Nodes: nNodes, Seed: int64(8000 + i),
			SessionName: fmt.Sprintf("session_2026-12-02_06-00-00_%06d_%d", i, 10000+i),
		})
	}
	logf("clusters: %d FAKE dashboards x %d nodes up; connecting", nClusters, nNodes)

	start := time.Now()
	var eg errgroup.Group
	eg.SetLimit(8)
	for _, f := range fakes {
		eg.Go(func() error {
			var res struct {
				Success bool   `json:"success"`
				Error   string `json:"error"`
				Cluster struct {
					ID    string `json:"id"`
					Nodes int    `json:"nodes"`
				} `json:"cluster"`
			}
			if _, err := d.postJSON(ctx, "/api/cluster/connect-external", map[string]string{"cluster_address": f.URL}, &res); err != nil {
				return err
			}
			if !res.Success || res.Cluster.Nodes != nNodes {
				return fmt.Errorf("connect %s: success %v, %d nodes, error %q", f.URL, res.Success, res.Cluster.Nodes, res.Error)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	connectAll := time.Since(start)
	var nodes struct {
		Count int `json:"count"`
	}
	if _, err := d.get(ctx, "/api/nodes?kind=ray-node", &nodes); err != nil {
		return err
	}
	if nodes.Count != nClusters*nNodes {
		return fmt.Errorf("GET /api/nodes?kind=ray-node counts %d nodes, want %d", nodes.Count, nClusters*nNodes)
	}
	logf("clusters: %d clusters, %d nodes connected in %s", nClusters, nodes.Count, fmtDur(connectAll))
	rep.add(row{item: "8", what: fmt.Sprintf("connect %d FAKE dashboards x %d nodes (8 at a time)", nClusters, nNodes),
		figure: fmtDur(connectAll)})

	// CPU per sync round, nothing changing. One interval first, so every
	// loop is past its first sync.
	sleepCtx(ctx, clusterSyncInterval)
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	syncs0, err := d.syncCount(ctx)
	if err != nil {
		return err
	}
	sleepCtx(ctx, time.Duration(rounds)*clusterSyncInterval)
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	syncs1, err := d.syncCount(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := float64(syncs1-syncs0) / float64(nClusters)
	if done <= 0 {
		return fmt.Errorf("no sync in %d intervals (castray_cluster_sync_duration_seconds count %d -> %d)", rounds, syncs0, syncs1)
	}
	perRound := time.Duration(float64(cpu1-cpu0) / done)
	logf("clusters: %s CPU over %.1f rounds (%d syncs)", fmtDur(cpu1-cpu0), done, syncs1-syncs0)
	rep.add(row{item: "8", what: fmt.Sprintf("daemon CPU per sync round, %d clusters x %d nodes, nothing changing (%.1f rounds)", nClusters, nNodes, done),
		figure: fmtDur(perRound), goal: "<= 1 s", verdict: verdict(perRound <= time.Second)})

	fullRSS, err := vmRSS(pid)
	if err != nil {
		return err
	}
	reg := fullRSS - idleRSS
	logf("clusters: RSS %s with %d nodes, %s idle", fmtMiB(fullRSS), nodes.Count, fmtMiB(idleRSS))
	rep.add(row{item: "8", what: fmt.Sprintf("registry RSS: daemon RSS with %dk nodes - idle RSS", nodes.Count/1000),
		figure: fmtMiB(reg), baseName: "idle daemon RSS", baseline: fmtMiB(idleRSS), ratio: ratio(float64(fullRSS), float64(idleRSS)),
		goal: "<= 200 MiB", verdict: verdict(reg <= 200<<20)})
	// What of that RSS the Go heap holds: live data plus garbage not yet
	// collected (GOGC lets the heap grow to twice the live data).
	if heap, err := d.metric(ctx, "go_memstats_heap_inuse_bytes"); err == nil {
		logf("clusters: Go heap in use %s", fmtMiB(int64(heap)))
		rep.add(row{item: "8", what: "  of which the Go heap in use (/metrics go_memstats_heap_inuse_bytes)", figure: fmtMiB(int64(heap))})
	}

	return fanOut(ctx, rep, d, fakes, nWS, change)
}

// fanOut connects n /ws clients, kills change nodes on every fake at once
// and waits until every client has seen every node_dead.
func fanOut(ctx context.Context, rep *report, d *daemon, fakes []*fakeray.Server, n, change int) error {
	total := len(fakes) * change
	clients := make([]*deadCounter, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.conn.Close()
			}
		}
	}()
	dialStart := time.Now()
	for i := range clients {
		c, err := dialDeadCounter(ctx, d.url, int64(total))
		if err != nil {
			return fmt.Errorf("/ws client %d: %w", i, err)
		}
		clients[i] = c
	}
	dialed := time.Since(dialStart)
	logf("clusters: %d /ws clients connected, each with its snapshot, in %s", n, fmtDur(dialed))
	rep.add(row{item: "8", what: fmt.Sprintf("%d /ws clients connected one after the other, each with its snapshot (every node's status)", n),
		figure: fmtDur(dialed)})
	killed := time.Now()
	for _, c := range clients {
		c.start.Store(killed.UnixNano())
	}
	var kill sync.WaitGroup
	for _, f := range fakes {
		kill.Add(1)
		go func() {
			defer kill.Done()
			f.KillNodes(f.NodeIDs()[1 : 1+change]) // workers, never the head
		}()
	}
	kill.Wait()
	logf("clusters: %d nodes killed across %d FAKE dashboards; %d /ws clients waiting for their node_dead", total, len(fakes), n)
	// Every cluster syncs within one interval; the events then need to
	// reach every client.
	wctx, cancel := context.WithTimeout(ctx, 2*clusterSyncInterval+60*time.Second)
	defer cancel()
	for _, c := range clients {
		select {
		case <-c.done:
		case <-wctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var dropped, short int
	var minSeen int64 = -1
	var last time.Duration
	var firstMin time.Duration = -1
	var why string
	for _, c := range clients {
		c.mu.Lock()
		switch {
		case c.all > 0:
			last = max(last, c.all)
			if firstMin < 0 || c.first < firstMin {
				firstMin = c.first
			}
		case c.err != nil:
			dropped++
			if why == "" {
				why = fmt.Sprintf("%v after %d node_dead (%d messages)", c.err, c.seen.Load(), c.msgs.Load())
			}
		default:
			short++
		}
		if n := c.seen.Load(); minSeen < 0 || n < minSeen {
			minSeen = n
		}
		c.mu.Unlock()
	}
	m, _ := d.metric(ctx, "castray_websocket_dropped_total")
	logf("clusters: fan-out: %d clients saw all %d node_dead, %d dropped (daemon counts %v), %d short (fewest seen: %d); first event %s after the kill, the last client complete %s after it",
		n-dropped-short, total, dropped, m, short, minSeen, fmtDur(firstMin), fmtDur(last))
	if why != "" {
		logf("clusters: fan-out: first drop: %s", why)
	}
	rep.add(row{item: "8", what: fmt.Sprintf("/ws fan-out of a %d-node change to %d clients: clients dropped", total, n),
		figure: fmt.Sprintf("%d (%d incomplete)", dropped, short), goal: "0", verdict: verdict(dropped == 0 && short == 0)})
	if dropped+short < n {
		rep.add(row{item: "8", what: fmt.Sprintf("/ws fan-out: kill -> every client saw all %d node_dead (includes the wait for the next sync, <= %s)", total, fmtDur(clusterSyncInterval)),
			figure: fmt.Sprintf("%s (first event after %s)", fmtDur(last), fmtDur(firstMin))})
	}
	return nil
}

// deadCounter is a /ws client that keeps reading and counts node_dead.
type deadCounter struct {
	conn  *websocket.Conn
	want  int64
	start atomic.Int64 // the kill, Unix ns
	seen  atomic.Int64
	msgs  atomic.Int64 // every message, the snapshot included
	done  chan struct{}

	mu         sync.Mutex
	first, all time.Duration // since start: first node_dead, the want-th
	err        error         // why the reader stopped before want
}

func dialDeadCounter(ctx context.Context, baseURL string, want int64) (*deadCounter, error) {
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Subprotocols: []string{"castray.v1"}}
	conn, resp, err := dialer.DialContext(dctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	// The snapshot first: it carries every node (the status report), so
	// with 100,000 nodes it is tens of MB and is not part of the fan-out.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
	if _, _, err := conn.ReadMessage(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &deadCounter{conn: conn, want: want, done: make(chan struct{})}
	go c.read()
	return c, nil
}

var nodeDead = []byte(`"type":"node_dead"`)

func (c *deadCounter) read() {
	defer close(c.done)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.msgs.Add(1)
		if !bytes.Contains(msg, nodeDead) {
			continue
		}
		n := c.seen.Add(1)
		since := time.Since(time.Unix(0, c.start.Load()))
		if n == 1 {
			c.mu.Lock()
			c.first = since
			c.mu.Unlock()
		}
		if n == c.want {
			c.mu.Lock()
			c.all = since
			c.mu.Unlock()
			return
		}
	}
}

// procCPU is utime+stime of a process (/proc/<pid>/stat).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: odd stat %q", pid, raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 { // state is field 3; utime 14, stime 15
		return 0, fmt.Errorf("pid %d: short stat %q", pid, raw)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux Go supports.
const clockTicks = 100

// syncCount is the number of syncs the daemon has done, all clusters.
func (d *daemon) syncCount(ctx context.Context) (int64, error) {
	v, err := d.metric(ctx, "castray_cluster_sync_duration_seconds_count")
	return int64(v), err
}

// metric sums every series of a metric of /metrics.
func (d *daemon) metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", d.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
