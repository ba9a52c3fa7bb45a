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
// builds it into a temporary folder (e2e/daemontest).
package outoftree_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
)

func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{"castray": daemontest.Castray}))
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
	gen := exec.Command(daemontest.Bin("castray"), "plugin", "new", "oot", "--dir", src,
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

// startDaemon runs castray serve with config and pluginDir and waits for
// /healthz.
func startDaemon(t *testing.T, config, pluginDir string) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Options{Config: config, PluginDir: pluginDir})
}

type cluster struct {
	ID           string   `json:"id"`
	Sources      []string `json:"sources"`
	Status       string   `json:"status"`
	DashboardURL string   `json:"dashboard_url"`
}

// discover runs one round of the two plugins, without connecting.
func discover(t *testing.T, d *daemontest.Daemon) []cluster {
	t.Helper()
	code, raw, err := d.Raw("POST", "/api/cluster/discover-external",
		`{"connect": false, "plugins": ["oot-a", "oot-b"], "timeout_ms": 20000}`)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Success   bool      `json:"success"`
		Clusters  []cluster `json:"discovered_clusters"`
		Discovery struct {
			Plugins map[string]struct {
				Error string `json:"error"`
			} `json:"plugins"`
		} `json:"discovery"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || code != 200 || !res.Success {
		t.Fatalf("discover-external: %d %v\n%s", code, err, raw)
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
	d := startDaemon(t, block("oot-a")+block("oot-b"), pluginDir)

	// Loaded: named after their binaries (the SDK's default), API v1.
	ps := d.Plugins()
	for _, name := range []string{"oot-a", "oot-b"} {
		p := ps[name]
		if p.State != "healthy" || p.Kind != "discovery" || p.APIVersion != 1 || !slices.Equal(p.APIVersions, []int{1}) || len(p.Schema) != 2 {
			t.Fatalf("%s: %+v", name, p)
		}
	}

	// Merged: one cluster, found by both.
	check := func(when string) {
		t.Helper()
		clusters := discover(t, d)
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
	daemontest.PollUntil(t, 60*time.Second, "oot-a to be relaunched (healthy, 1 restart, a new pid)", func() bool {
		after := d.Plugins()["oot-a"]
		return after.State == "healthy" && after.Restarts == 1 && after.PID != before.PID && after.PID > 0
	})
	check("after oot-a was killed and relaunched")
}
