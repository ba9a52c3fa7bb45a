package config_test

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/config"
)

func TestPluginIsEnabled(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		p    config.Plugin
		want bool
	}{{config.Plugin{}, true}, {config.Plugin{Enabled: &yes}, true}, {config.Plugin{Enabled: &no}, false}} {
		if got := c.p.IsEnabled(); got != c.want {
			t.Errorf("%+v.IsEnabled() = %v", c.p, got)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{Path: "testdata/full.hcl"})
	cfg.Plugins["dashboard-scan"].Config["auth"].(map[string]any)["Password"] = "hunter2"
	cfg.RayCluster.RuntimeEnv["env_vars"].(map[string]any)["AWS_SECRET_ACCESS_KEY"] = "xyz"
	before := cfg.Clone()

	r := cfg.Redacted()
	if r.WebServer.APIToken != "<redacted>" {
		t.Errorf("api_token = %q", r.WebServer.APIToken)
	}
	if got := r.Plugins["dashboard-scan"].Config["auth"].(map[string]any)["Password"]; got != "<redacted>" {
		t.Errorf("plugin password = %v", got)
	}
	if got := r.Plugins["dashboard-scan"].Config["auth"].(map[string]any)["user"]; got != "ray" {
		t.Errorf("plugin user = %v, should be kept", got)
	}
	if got := r.RayCluster.RuntimeEnv["env_vars"].(map[string]any)["AWS_SECRET_ACCESS_KEY"]; got != "<redacted>" {
		t.Errorf("runtime_env secret = %v", got)
	}
	if !reflect.DeepEqual(cfg, before) {
		t.Error("Redacted modified the original")
	}
	if got := config.Default().Redacted().WebServer.APIToken; got != "" {
		t.Errorf("unset token shown as %q", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{Path: "testdata/full.hcl"})
	c := cfg.Clone()
	if !reflect.DeepEqual(cfg, c) {
		t.Fatal("clone differs")
	}
	*c.Plugins["dashboard-scan"].Enabled = true
	c.Plugins["dashboard-scan"].Config["hosts"].([]any)[0] = "changed"
	c.Networking.UDPPortRange[0] = 1
	c.DemoFiles.Files[0] = "changed"
	c.RayCluster.RuntimeEnv["env_vars"].(map[string]any)["PYTHONPATH"] = "changed"
	if !reflect.DeepEqual(cfg, mustLoad(t, config.LoadOptions{Path: "testdata/full.hcl"})) {
		t.Fatal("changing the clone changed the original")
	}
}

func TestValidate(t *testing.T) {
	c := config.Default()
	c.WebServer.Port = 70000
	c.Logging.Level = "DEBUG"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "web_server.port: must be between 0 and 65535, got 70000") {
		t.Fatalf("Validate = %v", err)
	}
	if strings.Contains(err.Error(), "logging.level") {
		t.Errorf("upper-case level rejected: %v", err)
	}
	if c.Logging.Level != "DEBUG" {
		t.Error("Validate modified its receiver")
	}
	c.Plugins = map[string]config.Plugin{"a/b": {}}
	c.WebServer.Port = 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "plugin.a/b: invalid plugin name") {
		t.Errorf("Validate = %v", err)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[float64]time.Duration{
		0: 0, -1: 0, 1.5: 1500 * time.Millisecond, 300: 5 * time.Minute, 1e300: time.Duration(1<<63 - 1),
	} {
		if got := config.Seconds(in); got != want {
			t.Errorf("Seconds(%v) = %v, want %v", in, got, want)
		}
	}
}

// The configuration package sits below the daemon: it must not import the
// host, the SDK or plugins.
func TestConfigDoesNotImportDaemonPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/castray/castray/"
	var checked int
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		checked++
		rel := strings.TrimPrefix(pkg, module)
		for _, banned := range []string{"host", "sdk", "plugins"} {
			if rel == banned || strings.HasPrefix(rel, banned+"/") {
				t.Errorf("config depends on %s", pkg)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list found no config package; the test ran in the wrong directory")
	}
}
