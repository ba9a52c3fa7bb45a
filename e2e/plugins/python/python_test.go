// Package python_test runs the Python example plugin (plugins/discovery/python-example) under
// the real daemon: installed with its build.sh into a plugin directory of the test's own, beside
// the Go tmpdir plugin, against a real Ray head (e2e/raycluster).
package python_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray/rayproc"
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
	if ci := os.Getenv("CI"); ci != "" && ci != "0" && !strings.EqualFold(ci, "false") {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// binaries returns the daemon and the tmpdir plugin: from $CASTRAY_BIN_DIR, else built.
func binaries(t *testing.T, root string) (daemon, tmpdirPlugin string) {
	t.Helper()
	if dir := os.Getenv("CASTRAY_BIN_DIR"); dir != "" {
		return filepath.Join(dir, "castray"), filepath.Join(dir, "plugins", "castray-discovery-tmpdir")
	}
	dir := t.TempDir()
	for out, pkg := range map[string]string{"castray": "./cmd/castray", "castray-discovery-tmpdir": "./plugins/discovery/tmpdir"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return filepath.Join(dir, "castray"), filepath.Join(dir, "castray-discovery-tmpdir")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type pluginStatus struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	PID       int    `json:"pid"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
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

func getJSON(t *testing.T, method, url string, out any) {
	t.Helper()
	var body *strings.Reader
	if method == "POST" {
		body = strings.NewReader(`{"connect": false}`)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
}

func pythonExample(t *testing.T, base string) pluginStatus {
	t.Helper()
	var resp struct {
		Plugins []pluginStatus `json:"plugins"`
	}
	getJSON(t, "GET", base+"/api/plugins", &resp)
	for _, p := range resp.Plugins {
		if p.Name == "python-example" {
			return p
		}
	}
	t.Fatalf("python-example not among the plugins: %+v", resp.Plugins)
	return pluginStatus{}
}

// checkMerged runs a discovery round and checks that the Python plugin's candidate (the GCS
// address it was configured with) was merged with the tmpdir plugin's record of the same head.
func checkMerged(t *testing.T, base string, c *raycluster.Cluster) {
	t.Helper()
	var res discovered
	getJSON(t, "POST", base+"/api/cluster/discover-external", &res)
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

func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	_, ok := rayproc.Lister{}.Process(pid) // not listed: gone, or a zombie
	return ok
}

// eventually polls cond; the timeout only bounds a failing test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
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
	castray, tmpdirPlugin := binaries(t, root)

	// The plugin directory: the Python plugin as its build.sh installs it, and tmpdir.
	pluginDir := t.TempDir()
	build := exec.Command(filepath.Join(root, "plugins/discovery/python-example/build.sh"), python, pluginDir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	if err := os.Symlink(tmpdirPlugin, filepath.Join(pluginDir, "castray-discovery-tmpdir")); err != nil {
		t.Fatal(err)
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
	cfgPath := filepath.Join(t.TempDir(), "castray.hcl")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// The plugins' sockets go to TMPDIR; a short one of the test's own also collects the socket
	// directory the killed plugin cannot remove.
	tmp, err := os.MkdirTemp("/tmp", "cpy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	cmd := exec.Command(castray, "serve", "--config", cfgPath, "--data-dir", t.TempDir(),
		"--plugin-dir", pluginDir, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTRAY_") && !strings.HasPrefix(kv, "RAY_ADDRESS=") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("daemon output:\n%s", stderr)
		}
	})
	eventually(t, "the daemon to answer /healthz", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("daemon exited: %v\n%s", err, stderr)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// 1. Loaded over mutual TLS (the daemon refuses a plugin without it) and healthy.
	first := pythonExample(t, base)
	if first.State != "healthy" || !alive(first.PID) {
		t.Fatalf("python-example after start: %+v", first)
	}
	checkMerged(t, base, c)

	// 2. kill -9: relaunched, and it works again.
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second pluginStatus
	eventually(t, "python-example to be relaunched", func() bool {
		second = pythonExample(t, base)
		return second.State == "healthy" && second.PID != first.PID && second.Restarts == 1
	})
	if alive(first.PID) || !alive(second.PID) || !strings.Contains(second.LastError, "exited") {
		t.Fatalf("before %+v, after %+v", first, second)
	}
	checkMerged(t, base, c)

	// 3. Shutdown: the daemon calls GRPCController.Shutdown, which the plugin logs (the daemon
	// re-logs its stderr), and the plugin exits by itself rather than being killed.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, stderr)
	}
	out := stderr.String()
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
	if alive(second.PID) {
		t.Fatalf("plugin pid %d still running after the daemon exited", second.PID)
	}
}
