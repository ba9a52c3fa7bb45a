//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/castray/castray/e2e/progkit"
	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray"
)

// joinSyncInterval is external_cluster.sync_interval of item 7's daemon:
// the default (config.Default), so the figure is what a user gets.
const joinSyncInterval = 5 * time.Second

// benchRayJoin is item 7: a standing distribution (POST /api/distributions,
// selector kind=ray-node) of a 64 MiB file on a 2-node local Ray cluster;
// then a third node is started with `ray start --address`. It measures the
// time until that node holds the file (its status "present") from the
// moment the daemon's registry lists it (GET /api/nodes, polled every
// 50 ms) and from the `ray start`, and reports them in sync intervals. The
// goal is "<= 2 intervals + the node's own transfer": the daemon sees the
// node within one sync, the distribution reacts to the registry event at
// once; the new node's transfer (its record's created -> finished) is
// printed next to it and subtracted for the verdict.
func benchRayJoin(ctx context.Context, rep *report, o options, root string) error {
	return runRayItem(rep, o, "rayjoin", row{item: "7", what: "new Ray node -> standing distribution's file present"},
		func(t *progkit.TB) error { return benchRayJoinCluster(ctx, t, rep, o, root) })
}

func benchRayJoinCluster(ctx context.Context, t *progkit.TB, rep *report, o options, root string) error {
	const size = 64 << 20
	dir := filepath.Join(root, "rayjoin")
	src, dataDir, pdir, dest := filepath.Join(dir, "src", "dist.bin"), filepath.Join(dir, "data"), filepath.Join(dir, "plugins"), filepath.Join(dir, "dest")
	for _, p := range []string{filepath.Dir(src), dataDir, pdir, dest} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{pluginBinary, rayPluginBinary} {
		if err := linkOrCopy(filepath.Join(o.binDir, "plugins", name), filepath.Join(pdir, name)); err != nil {
			return err
		}
	}
	if err := makeFile(src, size); err != nil {
		return err
	}
	_, sum, err := hashFile(src)
	if err != nil {
		return err
	}
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	addWorker := func() error {
		out, err := c.Ray("start", "--address="+c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
			"--metrics-export-port=0", "--disable-usage-stats")
		if err != nil {
			return fmt.Errorf("ray start --address: %v\n%s", err, out)
		}
		return nil
	}
	if err := addWorker(); err != nil {
		return err
	}
	dash, err := ray.NewDashboard(c.DashboardURL, c.Token, 30*time.Second)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if n := len(aliveRayNodes(ctx, dash)); n == 2 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("2 alive Ray nodes: %v", ctx.Err())
		}
		time.Sleep(500 * time.Millisecond)
	}
	cfg := fmt.Sprintf(`ray_cluster {
  address           = %q
  create_demo_nodes = false
  fallback_to_local = false
}
external_cluster {
  auth_token    = %q
  sync_interval = %g
}
plugin "ray" {
  config {
    auth_token    = %q
    dest_template = %q
  }
}
`, c.DashboardURL, c.Token, joinSyncInterval.Seconds(), c.Token, dest+"/{node_id}")
	cfgPath := filepath.Join(dir, "castray.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	d, err := startDaemon(o, dataDir, "--plugin-dir", pdir, "--config", cfgPath)
	if err != nil {
		return err
	}
	defer func() { _, _ = d.stop() }()
	if _, err := d.waitReady(ctx, 2, 60*time.Second); err != nil {
		return err
	}
	activeNodes := func() []string {
		var resp struct {
			Nodes []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"nodes"`
		}
		var ids []string
		if _, err := d.get(ctx, "/api/nodes?kind=ray-node", &resp); err == nil {
			for _, n := range resp.Nodes {
				if n.State == "active" {
					ids = append(ids, n.ID)
				}
			}
		}
		return ids
	}
	var first []string
	for deadline := time.Now().Add(time.Minute); len(first) != 2; first = activeNodes() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the daemon lists %d active Ray nodes, want 2 (%v)", len(first), ctx.Err())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := uploadCastRay(ctx, "", d, src, "dist.bin", size, sum); err != nil {
		return err
	}
	var created struct {
		Distribution struct {
			ID string `json:"id"`
		} `json:"distribution"`
	}
	body := map[string]any{"file_name": "dist.bin", "selector": map[string]string{"kind": "ray-node"}, "name": "bench"}
	if code, err := d.postJSON(ctx, "/api/distributions", body, &created); err != nil || code != 201 {
		return fmt.Errorf("POST /api/distributions: %d %v", code, err)
	}
	type nodeStatus struct {
		NodeID     string `json:"node_id"`
		Status     string `json:"status"`
		TransferID string `json:"transfer_id"`
		SHA256     string `json:"sha256"`
	}
	status := func() map[string]nodeStatus {
		var resp struct {
			Distribution struct {
				Nodes []nodeStatus `json:"nodes"`
			} `json:"distribution"`
		}
		out := map[string]nodeStatus{}
		if _, err := d.get(ctx, "/api/distributions/"+created.Distribution.ID, &resp); err == nil {
			for _, n := range resp.Distribution.Nodes {
				out[n.NodeID] = n
			}
		}
		return out
	}
	present := func(id string) (nodeStatus, bool) {
		n, ok := status()[id]
		return n, ok && n.Status == "present"
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		_, a := present(first[0])
		_, b := present(first[1])
		if a && b {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the distribution never reached the first 2 nodes: %+v", status())
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("rayjoin: 64 MiB present on the first 2 nodes; starting a third")

	started := time.Now()
	if err := addWorker(); err != nil {
		return err
	}
	rayStartExited := time.Since(started)
	var third string
	var listed time.Time
	for deadline := time.Now().Add(3 * time.Minute); third == ""; {
		for _, id := range activeNodes() {
			if !slices.Contains(first, id) {
				third, listed = id, time.Now()
			}
		}
		if third != "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the daemon never listed a third node (%v)", ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ns nodeStatus
	for deadline := time.Now().Add(5 * time.Minute); ; {
		var ok bool
		if ns, ok = present(third); ok {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the new node never got the file: %+v", status()[third])
		}
		time.Sleep(50 * time.Millisecond)
	}
	done := time.Now()
	if ns.SHA256 != sum {
		return fmt.Errorf("new node present with sha256 %q, want %s", ns.SHA256, sum)
	}
	var tr struct {
		Transfer transferRecord `json:"transfer"`
	}
	if _, err := d.get(ctx, "/api/transfers/"+ns.TransferID, &tr); err != nil {
		return err
	}
	xfer := tr.Transfer.FinishedAt.Sub(tr.Transfer.CreatedAt)
	node := third[strings.LastIndex(third, ":")+1:]
	if _, got, err := hashFile(filepath.Join(dest, node, "dist.bin")); err != nil || got != sum {
		return fmt.Errorf("new node's file: %s %v, want %s", got, err, sum)
	}
	fromList, fromStart := done.Sub(listed), done.Sub(started)
	iv := float64(joinSyncInterval)
	logf("rayjoin: ray start exited after %s, listed after %s, present %s after listed (its transfer %s)",
		fmtDur(rayStartExited), fmtDur(listed.Sub(started)), fmtDur(fromList), fmtDur(xfer))
	lag := float64(fromList-xfer) / iv
	rep.add(row{item: "7", what: fmt.Sprintf("new Ray node listed -> standing distribution's 64 MiB present (sync_interval %s)", fmtDur(joinSyncInterval)),
		figure: fmt.Sprintf("%s = %.2f intervals", fmtDur(fromList), float64(fromList)/iv), baseName: "its own transfer (record created -> finished)", baseline: fmtDur(xfer),
		ratio: fmt.Sprintf("+%.2f iv", lag), goal: "<= transfer + 2 intervals", verdict: verdict(lag <= 2)})
	rep.add(row{item: "7", what: "  the same from `ray start --address` (includes the node's start and the daemon's sync)",
		figure: fmt.Sprintf("%s = %.2f intervals", fmtDur(fromStart), float64(fromStart)/iv), baseName: "its own transfer", baseline: fmtDur(xfer),
		ratio: fmt.Sprintf("+%.2f iv", float64(fromStart-xfer)/iv), goal: "information"})
	return nil
}

func aliveRayNodes(ctx context.Context, dash *ray.Dashboard) []string {
	nodes, err := dash.Nodes(ctx)
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
