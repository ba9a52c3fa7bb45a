// Package python_test runs the Python example plugin (plugins/discovery/python-example) under
// the real daemon: installed with its build.sh into a plugin directory of the test's own, beside
// the Go tmpdir plugin, against a real Ray head (e2e/raycluster).
package python_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
	"github.com/castray/castray/e2e/raycluster"
)

// EnvPython names the Python with the plugin's requirements; the Makefile's e2e target sets it.
const EnvPython = "CASTRAY_PLUGINS_PYTHON"

// pluginPython returns $CASTRAY_PLUGINS_PYTHON, else <repo>/.venv-plugins/bin/python; with
// neither the test fails under CI and is skipped otherwise, like raycluster.RayBin.
func pluginPython(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv(EnvPython); p != "" {
		return p
	}
	p := filepath.Join(root, ".venv-plugins", "bin", "python")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is unset and %s does not exist; run `make plugins-venv`", EnvPython, p)
	if raycluster.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var pluginTmpdir = daemontest.Plugin("discovery", "tmpdir")

// TestMain takes the daemon and the tmpdir plugin from $CASTRAY_BIN_DIR, else builds them.
func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{
		"castray":    daemontest.Castray,
		pluginTmpdir: "./plugins/discovery/tmpdir",
	}))
}

type discovered struct {
	Success  bool `json:"success"`
	Clusters []struct {
		Sources     []string `json:"sources"`
		GCSAddress  string   `json:"gcs_address"`
		SessionName string   `json:"session_name"`
		Status      string   `json:"status"`
	} `json:"discovered_clusters"`
	Discovery struct {
		Plugins map[string]struct {
			Candidates int    `json:"candidates"`
			Error      string `json:"error"`
		} `json:"plugins"`
	} `json:"discovery"`
}

func pythonExample(t *testing.T, d *daemontest.Daemon) daemontest.PluginStatus {
	t.Helper()
	p, ok := d.Plugins()["python-example"]
	if !ok {
		t.Fatalf("python-example not among the plugins: %+v", d.Plugins())
	}
	return p
}

// checkMerged runs a discovery round and checks that the Python plugin's candidate (the GCS
// address it was configured with) was merged with the tmpdir plugin's record of the same head.
func checkMerged(t *testing.T, d *daemontest.Daemon, c *raycluster.Cluster) {
	t.Helper()
	var res discovered
	if code := d.PostJSON("/api/cluster/discover-external", `{"connect": false}`, &res); code != 200 {
		t.Fatalf("POST /api/cluster/discover-external: %d", code)
	}
	if p := res.Discovery.Plugins["python-example"]; !res.Success || p.Candidates != 1 || p.Error != "" {
		t.Fatalf("discovery: success %v, python-example %+v", res.Success, p)
	}
	for _, cl := range res.Clusters {
		if cl.SessionName != c.SessionName {
			continue
		}
		if !slices.Contains(cl.Sources, "python-example") || !slices.Contains(cl.Sources, "tmpdir") {
			t.Fatalf("session %s: sources %v, want python-example merged with tmpdir (all: %+v)", c.SessionName, cl.Sources, res.Clusters)
		}
		return
	}
	t.Fatalf("session %s not discovered: %+v", c.SessionName, res.Clusters)
}

// eventually polls cond; the timeout only bounds a failing test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	daemontest.PollUntil(t, 60*time.Second, what, cond)
}

// TestPythonPluginLoadsMergesSurvivesKillAndShutsDownCleanly: the daemon loads the Python
// plugin over mutual TLS, the plugin's candidate merges with the Go tmpdir plugin's, a
// kill -9 of the plugin is followed by a relaunch that works, and the daemon's shutdown
// reaches the plugin's GRPCController.Shutdown, after which it exits on its own.
func TestPythonPluginLoadsMergesSurvivesKillAndShutsDownCleanly(t *testing.T) {
	root, err := raycluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	python := pluginPython(t, root)

	// The plugin directory: the Python plugin as its build.sh installs it, and tmpdir.
	pluginDir := t.TempDir()
	build := exec.Command(filepath.Join(root, "plugins/discovery/python-example/build.sh"), python, pluginDir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}

	rayTemp, err := os.MkdirTemp("/tmp", "crt-") // short: Ray's unix socket paths live here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rayTemp) })
	c := raycluster.Start(t, raycluster.Options{TempDir: rayTemp})

	config := fmt.Sprintf(`
ray_cluster {
  create_demo_nodes = false
}
plugin "python-example" {
  config {
    clusters = [%q]
  }
}
plugin "tmpdir" {
  config {
    dirs             = [%q]
    include_defaults = false
  }
}
`, c.GCSAddress, rayTemp)

	// The plugins' sockets go to TMPDIR; a short one of the test's own also collects the socket
	// directory the killed plugin cannot remove.
	tmp, err := os.MkdirTemp("/tmp", "cpy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	d := daemontest.Start(t, daemontest.Options{
		Config:    config,
		PluginDir: pluginDir,
		Plugins:   []string{pluginTmpdir},
		DropEnv:   []string{"CASTRAY_", "RAY_ADDRESS="},
		Env:       []string{"TMPDIR=" + tmp},
	})

	// 1. Loaded over mutual TLS (the daemon refuses a plugin without it) and healthy.
	first := pythonExample(t, d)
	if first.State != "healthy" || !daemontest.ProcessAlive(first.PID) {
		t.Fatalf("python-example after start: %+v", first)
	}
	checkMerged(t, d, c)

	// 2. kill -9: relaunched, and it works again.
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second daemontest.PluginStatus
	eventually(t, "python-example to be relaunched", func() bool {
		second = pythonExample(t, d)
		return second.State == "healthy" && second.PID != first.PID && second.Restarts == 1
	})
	if daemontest.ProcessAlive(first.PID) || !daemontest.ProcessAlive(second.PID) || !strings.Contains(second.LastError, "exited") {
		t.Fatalf("before %+v, after %+v", first, second)
	}
	checkMerged(t, d, c)

	// 3. Shutdown: the daemon calls GRPCController.Shutdown, which the plugin logs (the daemon
	// re-logs its stderr), and the plugin exits by itself rather than being killed.
	if err := d.Stop(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.Log())
	}
	out := d.Log()
	pid := fmt.Sprintf("pid=%d", second.PID)
	var shutdown, stopped, processExit string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "GRPCController.Shutdown") && strings.Contains(line, pid):
			shutdown = line
		case strings.Contains(line, "python-example") && strings.Contains(line, "stopped") && strings.Contains(line, pid):
			stopped = line
		case strings.Contains(line, "plugin process exited") && strings.Contains(line, fmt.Sprintf("id=%d", second.PID)):
			processExit = line
		}
	}
	if shutdown == "" || stopped == "" {
		t.Fatalf("the plugin (pid %d) did not log GRPCController.Shutdown and its stop:\n%s", second.PID, out)
	}
	if processExit == "" || strings.Contains(processExit, "error=") {
		t.Fatalf("the plugin's exit was not clean: %q", processExit)
	}
	if strings.Contains(out, "plugin failed to exit gracefully") {
		t.Fatalf("a plugin had to be killed at shutdown:\n%s", out)
	}
	if daemontest.ProcessAlive(second.PID) {
		t.Fatalf("plugin pid %d still running after the daemon exited", second.PID)
	}
}
