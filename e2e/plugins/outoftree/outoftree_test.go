// Package outoftree_test is the third-party plugin author's path, end to
// end: `castray plugin new` writes a discovery plugin module in a temporary
// folder, `go build` builds it out of tree against this checkout's SDK
// (offline, from the module cache), and the built castray daemon loads it
// from its plugin directory, twice under two names. Both probe a fake Ray
// dashboard (its /api/authentication_mode and /api/version answer as Ray
// 2.60's do, enough for the SDK's ray.Probe), and the daemon's discovery round
// must merge their candidates into one cluster with both sources; a killed
// plugin process must be relaunched and report again. No Ray is needed:
// the generated plugin checks the dashboard endpoints only.
//
// The daemon comes from $CASTRAY_BIN_DIR/castray; when unset, TestMain
// builds it into a temporary folder.
package outoftree_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("CASTRAY_BIN_DIR")
	if binDir != "" {
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "castray-e2e-outoftree-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, "castray"), "./cmd/castray")
	cmd.Dir = filepath.Join("..", "..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/castray: %v\n%s", err, b)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	binDir = tmp
	code := m.Run() // os.Exit skips deferred calls: clean up first
	os.RemoveAll(tmp)
	os.Exit(code)
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

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// newPlugin runs `castray plugin new` and builds the result into pluginDir
// under each of names (castray-discovery-<name>).
func newPlugin(t *testing.T, pluginDir string, names ...string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	gen := exec.Command(filepath.Join(binDir, "castray"), "plugin", "new", "oot", "--dir", src,
		"--module", "example.com/oot", "--sdk-path", repoRoot(t))
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("castray plugin new: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "plugin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the generated plugin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(pluginDir, "castray-discovery-"+name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon runs castray serve with config and pluginDir and waits for
// /healthz.
func startDaemon(t *testing.T, config, pluginDir string) string {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "castray.hcl")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(binDir, "castray"), "serve", "--config", cfgPath, "--data-dir", t.TempDir(),
		"--plugin-dir", pluginDir, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTRAY_") && !strings.HasPrefix(kv, "RAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("daemon stdout:\n%s\ndaemon stderr:\n%s", stdout, stderr)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("daemon exited before it was ready\nstderr:\n%s", stderr)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready after 30 s\nstderr:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type pluginStatus struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	PID         int    `json:"pid"`
	Restarts    int    `json:"restarts"`
	APIVersion  int    `json:"api_version"`
	APIVersions []int  `json:"api_versions"`
	LastError   string `json:"last_error"`
	Schema      []any  `json:"config_schema"`
}

func plugins(t *testing.T, base string) map[string]pluginStatus {
	t.Helper()
	resp, err := http.Get(base + "/api/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Plugins []pluginStatus `json:"plugins"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]pluginStatus{}
	for _, p := range body.Plugins {
		out[p.Name] = p
	}
	return out
}

type cluster struct {
	ID           string   `json:"id"`
	Sources      []string `json:"sources"`
	Status       string   `json:"status"`
	DashboardURL string   `json:"dashboard_url"`
}

// discover runs one round of the two plugins, without connecting.
func discover(t *testing.T, base string) []cluster {
	t.Helper()
	resp, err := http.Post(base+"/api/cluster/discover-external", "application/json",
		strings.NewReader(`{"connect": false, "plugins": ["oot-a", "oot-b"], "timeout_ms": 20000}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res struct {
		Success   bool      `json:"success"`
		Clusters  []cluster `json:"discovered_clusters"`
		Discovery struct {
			Plugins map[string]struct {
				Error string `json:"error"`
			} `json:"plugins"`
		} `json:"discovery"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != 200 || !res.Success {
		t.Fatalf("discover-external: %d %v\n%s", resp.StatusCode, err, raw)
	}
	for name, p := range res.Discovery.Plugins {
		if p.Error != "" {
			t.Errorf("plugin %s: %s", name, p.Error)
		}
	}
	return res.Clusters
}

func TestOutOfTreePluginLoadsMergesAndSurvivesAKill(t *testing.T) {
	dashboard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/authentication_mode":
			_, _ = io.WriteString(w, `{"authentication_mode": "disabled"}`)
		case "/api/version":
			_, _ = io.WriteString(w, `{"version": "4", "ray_version": "2.60.0", "ray_commit": "x"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer dashboard.Close()
	u, _ := url.Parse(dashboard.URL)

	pluginDir := t.TempDir()
	newPlugin(t, pluginDir, "oot-a", "oot-b")
	block := func(name string) string {
		return fmt.Sprintf("plugin %q {\n  config {\n    hosts = [\"127.0.0.1\"]\n    ports = [%s]\n  }\n}\n", name, u.Port())
	}
	base := startDaemon(t, block("oot-a")+block("oot-b"), pluginDir)

	// Loaded: named after their binaries (the SDK's default), API v1.
	ps := plugins(t, base)
	for _, name := range []string{"oot-a", "oot-b"} {
		p := ps[name]
		if p.State != "healthy" || p.Kind != "discovery" || p.APIVersion != 1 || !slices.Equal(p.APIVersions, []int{1}) || len(p.Schema) != 2 {
			t.Fatalf("%s: %+v", name, p)
		}
	}

	// Merged: one cluster, found by both.
	check := func(when string) {
		t.Helper()
		clusters := discover(t, base)
		if len(clusters) != 1 {
			t.Fatalf("%s: %d clusters, want 1: %+v", when, len(clusters), clusters)
		}
		c := clusters[0]
		slices.Sort(c.Sources)
		if c.DashboardURL != dashboard.URL || c.Status != "active" || !slices.Equal(c.Sources, []string{"oot-a", "oot-b"}) {
			t.Errorf("%s: cluster %+v, want %s active from oot-a and oot-b", when, c, dashboard.URL)
		}
	}
	check("first round")

	// Killed: relaunched, and it finds the cluster again.
	before := ps["oot-a"]
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		after := plugins(t, base)["oot-a"]
		if after.State == "healthy" && after.Restarts == 1 && after.PID != before.PID && after.PID > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oot-a not relaunched: %+v", after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	check("after oot-a was killed and relaunched")
}
