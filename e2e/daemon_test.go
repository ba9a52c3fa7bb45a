package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
)

func TestPluginsLoadedAndHealthy(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	local, ok := d.plugins()["local"]
	if !ok || local.Kind != "transfer" || local.State != "healthy" || !processAlive(local.PID) {
		t.Fatalf("local plugin: %+v (present %v)", local, ok)
	}
	out, err := exec.Command(filepath.Join(binDir, "castray"), "plugins", "--addr", d.proxyURL()).CombinedOutput()
	if err != nil {
		t.Fatalf("castray plugins: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "local") || !strings.Contains(string(out), "healthy") {
		t.Fatalf("castray plugins printed:\n%s", out)
	}
	// The demo nodes of the original, on by default.
	var status struct {
		TotalNodes  int `json:"total_nodes"`
		ActiveNodes int `json:"active_nodes"`
		Statuses    []struct {
			NodeID    string `json:"node_id"`
			IsRunning bool   `json:"is_running"`
			NodeType  string `json:"node_type"`
		} `json:"node_statuses"`
		NodePorts map[string]int `json:"node_ports"`
	}
	if code := d.do("GET", "/api/status", nil, &status); code != 200 {
		t.Fatalf("status %d", code)
	}
	if status.TotalNodes != 3 || status.ActiveNodes != 3 || status.Statuses[0].NodeID != "node_1" ||
		status.Statuses[0].NodeType != "local" || !status.Statuses[0].IsRunning || status.NodePorts["node_2"] == 0 {
		t.Fatalf("status = %+v", status)
	}
}

func TestKilledPluginIsRelaunchedWhileDaemonServes(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	before := d.plugins()["local"]

	// Poll the API the whole time: the daemon must answer throughout.
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			requests.Add(1)
			resp, err := d.client.Get(d.URL + "/api/status")
			if err != nil || resp.StatusCode != 200 {
				failures.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after pluginStatus
	eventually(t, 30*time.Second, "the plugin to be relaunched", func() bool {
		after = d.plugins()["local"]
		return after.State == "healthy" && after.PID != before.PID && after.Restarts == 1
	})
	close(stop)
	<-polled
	if failures.Load() != 0 {
		t.Fatalf("%d of %d API requests failed while the plugin was down", failures.Load(), requests.Load())
	}
	if processAlive(before.PID) || !processAlive(after.PID) || !strings.Contains(after.LastError, "exited") {
		t.Fatalf("before %+v after %+v", before, after)
	}
}

func TestConfigPrecedenceFileEnvFlag(t *testing.T) {
	filePort, envPort, flagPort := freePort(t), freePort(t), freePort(t)
	file := fmt.Sprintf("web_server {\n  host = \"127.0.0.1\"\n  port = %d\n}\n", filePort)
	env := []string{fmt.Sprintf("CASTRAY_WEB_SERVER__PORT=%d", envPort)}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"file", nil, nil, filePort},
		{"env over file", env, nil, envPort},
		{"flag over env", env, []string{"--port", fmt.Sprint(flagPort)}, flagPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemon(t, daemonOpts{config: file, env: tc.env, args: tc.args, noPortFlag: true, portHint: tc.want})
			var cfg struct {
				WebServer struct {
					Port int `json:"port"`
				} `json:"web_server"`
			}
			if code := d.do("GET", "/api/config", nil, &cfg); code != 200 || cfg.WebServer.Port != tc.want {
				t.Fatalf("GET /api/config: %d, port %d, want %d", code, cfg.WebServer.Port, tc.want)
			}
			d.stop(syscall.SIGTERM)
		})
	}
}

func TestInvalidConfigExitsNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, config, ext, want string
	}{
		{"unknown key", "web_server {\n  hots = \"127.0.0.1\"\n}\n", ".hcl", "web_server.hots"},
		{"bad value", `{"file_transfer": {"max_file_size": -5}}`, ".json", "file_transfer.max_file_size"},
		{"bad plugin config", "plugin \"local\" {\n  config {\n    buffer_size = 1\n  }\n}\n", ".hcl", "plugin.local.config.buffer_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemonProcess(t, daemonOpts{config: tc.config, configExt: tc.ext})
			if code := d.wait(30 * time.Second); code == 0 {
				t.Fatal("daemon accepted an invalid configuration")
			}
			if !strings.Contains(d.Stderr.String(), tc.want) {
				t.Fatalf("stderr does not name %s:\n%s", tc.want, d.Stderr)
			}
		})
	}
}

func TestSIGTERMStopsCleanlyWithNoPluginLeft(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	pid := d.plugins()["local"].PID
	if !processAlive(pid) {
		t.Fatalf("plugin pid %d not alive", pid)
	}
	d.stop(syscall.SIGTERM)
	if code := d.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, d.Stderr)
	}
	eventually(t, 5*time.Second, "the plugin process to be gone", func() bool { return !processAlive(pid) })
}

func TestNodesSurviveRestart(t *testing.T) {
	dataDir := t.TempDir()
	d := startDaemon(t, daemonOpts{dataDir: dataDir})
	if code := d.do("POST", "/api/nodes", map[string]any{"node_id": "alpha", "port": 9100}, nil); code != 201 {
		t.Fatalf("create node: %d", code)
	}
	if code := d.do("DELETE", "/api/nodes/node_3", nil, nil); code != 200 {
		t.Fatalf("delete node: %d", code)
	}
	d.stop(syscall.SIGTERM)
	if code := d.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	d2 := startDaemon(t, daemonOpts{dataDir: dataDir, config: "ray_cluster {\n  create_demo_nodes = false\n}\n"})
	var nodes struct {
		Nodes []struct {
			ID   string `json:"id"`
			Port int    `json:"port"`
		} `json:"nodes"`
	}
	d2.do("GET", "/api/nodes", nil, &nodes)
	var ids []string
	for _, n := range nodes.Nodes {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "alpha,node_1,node_2" {
		t.Fatalf("nodes after restart: %v", ids)
	}
}

func TestSecondDaemonOnSameDataDirFailsClearly(t *testing.T) {
	dataDir := t.TempDir()
	startDaemon(t, daemonOpts{dataDir: dataDir})
	d2 := startDaemonProcess(t, daemonOpts{dataDir: dataDir})
	if code := d2.wait(30 * time.Second); code == 0 {
		t.Fatal("second daemon started on a locked store")
	}
	if !strings.Contains(d2.Stderr.String(), "locked") {
		t.Fatalf("stderr:\n%s", d2.Stderr)
	}
}

func TestCorruptStoreFailsClearly(t *testing.T) {
	dataDir := t.TempDir()
	garbage := []byte(strings.Repeat("not a bbolt file ", 1000))
	if err := os.WriteFile(filepath.Join(dataDir, "castray.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemonProcess(t, daemonOpts{dataDir: dataDir})
	if code := d.wait(30 * time.Second); code == 0 {
		t.Fatal("daemon started on a corrupt store")
	}
	if !strings.Contains(d.Stderr.String(), "corrupt") {
		t.Fatalf("stderr:\n%s", d.Stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dataDir, "castray.db")); string(got) != string(garbage) {
		t.Fatal("the corrupt store was modified")
	}
}

// A binary dropped into the plugin folder that fails to load is skipped and
// listed as failed, unless a config block names it; a block that names no
// binary stops the daemon.
func TestBadPluginBinaryIsSkippedUnlessConfigured(t *testing.T) {
	dir := t.TempDir()
	installed, err := filepath.Glob(filepath.Join(binDir, "plugins", "*"))
	if err != nil || len(installed) == 0 {
		t.Fatalf("no built plugins in %s: %v", binDir, err)
	}
	for _, p := range installed {
		if err := os.Symlink(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"castray-discovery-broken": "exit 1",     // crashes at start
		"not-a-plugin":             "echo hello", // not a plugin at all
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--plugin-dir", dir}

	t.Run("unconfigured", func(t *testing.T) {
		d := startDaemon(t, daemonOpts{args: args})
		plugins := d.plugins()
		if local := plugins["local"]; local.State != "healthy" {
			t.Errorf("local: %+v", local)
		}
		for _, name := range []string{"broken", "not-a-plugin"} {
			if p, ok := plugins[name]; !ok || p.State != "failed" || p.LastError == "" || p.PID != 0 {
				t.Errorf("%s: %+v (listed %v), want failed with its error", name, p, ok)
			}
		}
		if !strings.Contains(d.Stderr.String(), "castray-discovery-broken") {
			t.Errorf("the failed binary was not logged:\n%s", d.Stderr)
		}
	})
	for _, tc := range []struct{ name, config, want string }{
		{"configured", "plugin \"broken\" {}\n", `plugin "broken"`},
		{"block names no binary", "plugin \"scan\" {\n  enabled = false\n}\n", `plugin "scan": the config block matches no plugin binary`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemonProcess(t, daemonOpts{config: tc.config, args: args})
			if code := d.wait(30 * time.Second); code == 0 {
				t.Fatal("daemon started")
			}
			if !strings.Contains(d.Stderr.String(), tc.want) {
				t.Fatalf("stderr lacks %s:\n%s", tc.want, d.Stderr)
			}
		})
	}
}

func TestVersionPrintsSDKAPIVersion(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "castray"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("castray version: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("(plugin API v%d)", sdk.APIVersion); !strings.Contains(string(out), want) {
		t.Fatalf("castray version printed %q, want %q", out, want)
	}
}
