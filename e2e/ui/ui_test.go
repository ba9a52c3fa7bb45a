package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray"
)

func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{
		"castray":                                        daemontest.Castray,
		daemontest.Plugin("transfer", "local"):           "./plugins/transfer/local",
		daemontest.Plugin("transfer", "ray"):             "./plugins/transfer/ray",
		daemontest.Plugin("discovery", "tmpdir"):         "./plugins/discovery/tmpdir",
		daemontest.Plugin("discovery", "dashboard-scan"): "./plugins/discovery/dashboard-scan",
	}))
}

// flowTimeout bounds one run of flows.mjs (a broken run, not a measure).
const flowTimeout = 6 * time.Minute

// browser is what running flows.mjs needs.
type browser struct {
	node      string
	chromium  string
	dir       string // e2e/ui
	artifacts string
}

// needBrowser finds node, playwright-core and chromium. A missing piece
// skips the test, or fails it under CI=true.
func needBrowser(t *testing.T) browser {
	t.Helper()
	missing := func(what string) {
		msg := what + ": run `make ui-deps` (installs Debian's chromium and e2e/ui/node_modules)"
		if raycluster.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, err := daemontest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b := browser{dir: filepath.Join(root, "e2e", "ui")}
	if b.node, err = exec.LookPath("node"); err != nil {
		missing("no node on PATH")
	}
	if _, err := os.Stat(filepath.Join(b.dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("no e2e/ui/node_modules/playwright-core")
	}
	b.chromium = os.Getenv("CASTRAY_CHROMIUM")
	if b.chromium == "" {
		if b.chromium, err = exec.LookPath("chromium"); err != nil {
			missing("no chromium on PATH and no $CASTRAY_CHROMIUM")
		}
	}
	b.artifacts = os.Getenv("CASTRAY_UI_ARTIFACTS")
	if b.artifacts == "" {
		b.artifacts = filepath.Join(b.dir, "artifacts")
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// lineLogger hands each complete line written to it to t.Log, so a flow's
// steps show up as they happen with -v.
type lineLogger struct {
	t    *testing.T
	mu   sync.Mutex
	buf  bytes.Buffer
	all  bytes.Buffer
	name string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err == io.EOF {
			l.buf.WriteString(line)
			break
		}
		l.t.Logf("%s: %s", l.name, strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// run runs `node flows.mjs <flow>` against the daemon at url and fails the
// test when the flow fails (a step, a console error or a page error). The
// tests give it the daemon's ProxyURL: every API answer the page (and the
// script) gets passes through a proxy that checks it against openapi.yaml,
// and a mismatch fails the test.
func (b browser) run(t *testing.T, flow, url, token string, params any) {
	t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, "flows.mjs", flow)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(),
		"CASTRAY_UI_URL="+url,
		"CASTRAY_UI_TOKEN="+token,
		"CASTRAY_UI_ARTIFACTS="+b.artifacts,
		"CASTRAY_CHROMIUM="+b.chromium,
		"CASTRAY_UI_PARAMS="+string(p),
	)
	// Its own process group, so that a timeout also ends the browser.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out := &lineLogger{t: t, name: flow}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever the script left behind
	}
	if err != nil {
		t.Fatalf("flow %s: %v (screenshots in %s)", flow, err, b.artifacts)
	}
}

// liveEnv is the daemon and the two-node Ray cluster the flows share.
type liveEnv struct {
	c      *raycluster.Cluster
	d      *daemontest.Daemon
	head   ray.Node
	worker ray.Node
	raylet int // the worker's raylet pid
}

func startLive(t *testing.T) *liveEnv {
	t.Helper()
	c := raycluster.Start(t, raycluster.Options{})
	if out, err := c.Ray("start", "--address="+c.GCSAddress, "--num-cpus=1", "--dashboard-agent-listen-port=0",
		"--metrics-export-port=0", "--disable-usage-stats"); err != nil {
		t.Fatalf("ray start --address (the worker): %v\n%s", err, out)
	}
	dash, err := ray.NewDashboard(c.DashboardURL, c.Token, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Close()
	e := &liveEnv{c: c}
	daemontest.PollUntil(t, 90*time.Second, "two alive Ray nodes", func() bool {
		nodes, err := dash.Nodes(context.Background())
		if err != nil {
			return false
		}
		e.head, e.worker = ray.Node{}, ray.Node{}
		alive := 0
		for _, n := range nodes {
			if n.State != "ALIVE" {
				continue
			}
			alive++
			if n.IsHead {
				e.head = n
			} else {
				e.worker = n
			}
		}
		return alive == 2 && e.head.NodeID != "" && e.worker.NodeID != ""
	})
	for _, p := range c.Processes() {
		if p.Comm != "raylet" {
			continue
		}
		for _, arg := range p.Cmdline {
			if arg == "--node_id="+e.worker.NodeID {
				e.raylet = p.PID
			}
		}
	}
	if e.raylet == 0 {
		t.Fatal("the worker's raylet is not among the cluster's processes")
	}
	// A named detached actor pinned to the worker: it shows in the topology
	// under its node, and dies with it.
	cmd := exec.Command(filepath.Join(filepath.Dir(c.RayBin), "python"), "-c", fmt.Sprintf(actorScript, e.worker.NodeID))
	cmd.Dir, cmd.Env = c.TempDir, c.Env()
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "pong") {
		t.Fatalf("starting the actor: %v\n%s", err, out)
	}
	e.d = daemontest.Start(t, daemontest.Options{
		Config: fmt.Sprintf(`
ray_cluster {
  create_demo_nodes = true
  fallback_to_local = false
}
external_cluster {
  connection_timeout = 20
  sync_interval      = 1
}
plugin "tmpdir" {
  config {
    dirs             = [%q]
    include_defaults = false
  }
}
plugin "dashboard-scan" {
  config {
    hosts = ["127.0.0.1"]
    ports = [%d]
  }
}
`, c.TempDir, c.DashboardPort),
		Plugins: []string{
			daemontest.Plugin("transfer", "local"), daemontest.Plugin("transfer", "ray"),
			daemontest.Plugin("discovery", "tmpdir"), daemontest.Plugin("discovery", "dashboard-scan"),
		},
	})
	e.d.WaitPluginsHealthy("local", "ray", "tmpdir", "dashboard-scan")
	return e
}

// actorScript starts the detached actor ui_demo_actor on the node whose id
// (hex) it is given.
const actorScript = `
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address="auto", namespace="castray-ui-e2e")
@ray.remote(num_cpus=0)
class DemoWorker:
    def ping(self):
        return "pong"
a = DemoWorker.options(name="ui_demo_actor", lifetime="detached",
    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=%q, soft=False)).remote()
print(ray.get(a.ping.remote()))
`

// TestUI runs every flow against one daemon and one live two-node Ray
// cluster, in order: the main flow connects the cluster and kills its
// worker, the page flows then see that state.
func TestUI(t *testing.T) {
	b := needBrowser(t)
	e := startLive(t)
	params := map[string]any{
		"session_name":  e.c.SessionName,
		"ray_version":   e.c.RayVersion,
		"head_hex":      e.head.NodeID,
		"worker_hex":    e.worker.NodeID,
		"worker_pid":    e.raylet,
		"local_nodes":   []string{"node_1", "node_2", "node_3"},
		"dashboard_url": e.c.DashboardURL,
	}
	flows := []string{"main", "nodes", "plugins", "events", "generator", "transfers", "history", "distributions"}
	for _, f := range flows {
		ok := t.Run(f, func(t *testing.T) { b.run(t, f, e.d.ProxyURL(), "", params) })
		if !ok && f == "main" {
			t.Fatal("the main flow failed; the page flows depend on its cluster")
		}
	}
	// Connect by address and disconnect, on a daemon of its own with no
	// cluster yet.
	t.Run("clusters", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{
			Config:  "ray_cluster {\n  fallback_to_local = false\n}\nexternal_cluster {\n  sync_interval = 120\n}\n",
			Plugins: []string{daemontest.Plugin("transfer", "local")},
		})
		b.run(t, "clusters", d.ProxyURL(), "", params)
	})
}

// TestUIWithToken: a daemon that requires a token. The page asks for it,
// keeps it in sessionStorage, and every page and /ws work with it.
func TestUIWithToken(t *testing.T) {
	b := needBrowser(t)
	const token = "0123456789abcdef0123456789abcdef-ui-e2e"
	d := daemontest.Start(t, daemontest.Options{
		Config:  fmt.Sprintf("web_server {\n  api_token = %q\n}\nray_cluster {\n  fallback_to_local = false\n}\n", token),
		Plugins: []string{daemontest.Plugin("transfer", "local")},
	})
	b.run(t, "token", d.ProxyURL(), token, map[string]any{"local_nodes": []string{"node_1", "node_2", "node_3"}})
}

// TestUIHostilePage: a page of another origin, and a DNS-rebinding page,
// try to drive a loopback daemon that has no token; nothing changes. The
// browser talks to the daemon directly here (the OpenAPI proxy would
// forward its own Host), and the refusals are the daemon's 403s.
func TestUIHostilePage(t *testing.T) {
	b := needBrowser(t)
	d := daemontest.Start(t, daemontest.Options{
		Config:  "ray_cluster {\n  fallback_to_local = false\n}\n",
		Plugins: []string{daemontest.Plugin("transfer", "local")},
	})
	if code := d.Do("PUT", "/api/files/kept.txt", []byte("kept"), nil); code != 200 && code != 201 {
		t.Fatalf("upload: %d", code)
	}
	b.run(t, "hostile", d.URL(), "", map[string]any{"local_nodes": []string{"node_1", "node_2", "node_3"}})
}
