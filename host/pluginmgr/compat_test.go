package pluginmgr_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// repoRoot is the directory of the castray module.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildOutOfTree builds the Go files of src as a module of its own that
// requires github.com/castray/castray, replaced by this checkout, the way a
// third party builds a plugin. It works offline: the checkout's go.sum
// vouches for the dependencies, which come from the module cache.
func buildOutOfTree(t *testing.T, src, out string) {
	t.Helper()
	root := repoRoot(t)
	mod := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "*.go"))
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", src)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomod := "module example.com/outoftree\n\ngo 1.24\n\nrequire github.com/castray/castray v0.0.0\n\nreplace github.com/castray/castray => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of %s as an out-of-tree module: %v\n%s", src, err, b)
	}
}

// API v1 is a promise: a plugin written against it (kept verbatim in
// sdk/testdata/v1plugin) still compiles against this SDK, out of tree, and
// loads in this daemon with API version 1.
func TestV1PluginStillBuildsAndLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := t.TempDir()
	buildOutOfTree(t, filepath.Join(repoRoot(t), "sdk", "testdata", "v1plugin"), filepath.Join(dir, "castray-discovery-v1plugin"))
	m := load(t, pluginmgr.Options{Dir: dir, Settings: map[string]pluginmgr.Settings{
		"v1plugin": {Enabled: true, Config: map[string]any{"hosts": []any{"10.0.0.1"}}},
	}})
	st := byName(m)["v1plugin"]
	if st.State != pluginmgr.StateHealthy || st.Kind != "discovery" || st.APIVersion != 1 || st.Version != "0.1.0" {
		t.Fatalf("status %+v", st)
	}
	ds := m.Discoverers()
	if len(ds) != 1 {
		t.Fatalf("Discoverers = %v", ds)
	}
	for _, d := range ds {
		sink := &plugintest.Sink{}
		if _, err := d.Discover(context.Background(), &sdk.DiscoverRequest{}, sink); err != nil {
			t.Fatal(err)
		}
		if c := sink.Candidates(); len(c) != 1 || c[0].GetDashboardUrl() != "http://10.0.0.1:8265" || c[0].GetSource() != "v1plugin" {
			t.Errorf("candidates %v", c)
		}
	}
}
