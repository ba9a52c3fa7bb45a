package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/castray/castray/config"
	"github.com/spf13/pflag"
)

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, opts config.LoadOptions) *config.Config {
	t.Helper()
	cfg, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// loadErr loads and returns the error message, failing if there is none.
func loadErr(t *testing.T, opts config.LoadOptions) string {
	t.Helper()
	cfg, err := config.Load(opts)
	if err == nil {
		t.Fatalf("Load succeeded, want an error; got %+v", cfg)
	}
	if cfg != nil {
		t.Errorf("Load returned a config with an error")
	}
	return err.Error()
}

func loadHCL(t *testing.T, src string, env ...string) (*config.Config, error) {
	t.Helper()
	return config.Load(config.LoadOptions{Path: writeFile(t, "c.hcl", src), Env: env})
}

func wantContains(t *testing.T, msg string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q:\n%s", w, msg)
		}
	}
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("castray", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	fs.Bool("verbose", false, "a flag of the host, not a key")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestNoSourcesGivesDefaults(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{})
	if want := config.Default(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Load() = %+v\nwant %+v", cfg, want)
	}
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	d := config.Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"web_server.host", d.WebServer.Host, "127.0.0.1"},
		{"web_server.port", d.WebServer.Port, 8000},
		{"web_server.body_limit", d.WebServer.BodyLimit, int64(4 << 20)},
		{"ray_cluster.create_demo_nodes", d.RayCluster.CreateDemoNodes, true},
		{"external_cluster.connection_timeout", d.ExternalCluster.ConnectionTimeout, 10.0},
		{"external_cluster.discovery_interval", d.ExternalCluster.DiscoveryInterval, 0.0},
		{"external_cluster.sync_interval", d.ExternalCluster.SyncInterval, 5.0},
		{"file_transfer.chunk_size", d.FileTransfer.ChunkSize, 4 << 20},
		{"file_transfer.max_file_size", d.FileTransfer.MaxFileSize, int64(1 << 30)},
		{"file_transfer.timeout", d.FileTransfer.Timeout, 300.0},
		{"file_transfer.download_dir", d.FileTransfer.DownloadDir, ""},
		{"logging.level", d.Logging.Level, "info"},
		{"logging.format", d.Logging.Format, "text"},
		{"events.status_interval", d.Events.StatusInterval, 5.0},
		{"events.client_buffer", d.Events.ClientBuffer, 256},
		{"events.status_nodes", d.Events.StatusNodes, 1000},
		{"data_dir", d.DataDir, "castray-data"},
		{"plugin_dir", d.PluginDir, ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "c.hcl", "web_server {\n host = \"10.0.0.1\"\n port = 8100\n}\n")
	env := []string{"CASTRAY_WEB_SERVER__HOST=10.0.0.2", "CASTRAY_WEB_SERVER__PORT=8200"}
	flagArgs := []string{"--host=10.0.0.3", "--port=8300"}

	cases := []struct {
		name     string
		file     bool
		env      bool
		flags    bool
		wantHost string
		wantPort int
	}{
		{"defaults", false, false, false, "127.0.0.1", 8000},
		{"file over defaults", true, false, false, "10.0.0.1", 8100},
		{"env over file", true, true, false, "10.0.0.2", 8200},
		{"env over defaults", false, true, false, "10.0.0.2", 8200},
		{"flags over env", true, true, true, "10.0.0.3", 8300},
		{"flags over file", true, false, true, "10.0.0.3", 8300},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts config.LoadOptions
			if c.file {
				opts.Path = file
			}
			if c.env {
				opts.Env = env
			}
			if c.flags {
				opts.Flags = flags(t, flagArgs...)
			} else {
				opts.Flags = flags(t) // registered, not set: must not override
			}
			cfg := mustLoad(t, opts)
			if cfg.WebServer.Host != c.wantHost || cfg.WebServer.Port != c.wantPort {
				t.Fatalf("host, port = %q, %d; want %q, %d", cfg.WebServer.Host, cfg.WebServer.Port, c.wantHost, c.wantPort)
			}
		})
	}
}

func TestFlagsMapToKeys(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{Flags: flags(t,
		"--log-level=DEBUG", "--data-dir=/d", "--plugin-dir=/p", "--port=0", "--verbose")})
	if cfg.Logging.Level != "debug" || cfg.DataDir != "/d" || cfg.PluginDir != "/p" || cfg.WebServer.Port != 0 {
		t.Fatalf("got level %q data_dir %q plugin_dir %q port %d", cfg.Logging.Level, cfg.DataDir, cfg.PluginDir, cfg.WebServer.Port)
	}
	// A flag the user did not set keeps the file's value even though its
	// default differs.
	path := writeFile(t, "c.json", `{"data_dir": "from-file", "logging": {"level": "error"}}`)
	cfg = mustLoad(t, config.LoadOptions{Path: path, Flags: flags(t, "--port=1")})
	if cfg.DataDir != "from-file" || cfg.Logging.Level != "error" || cfg.WebServer.Port != 1 {
		t.Fatalf("got data_dir %q level %q port %d", cfg.DataDir, cfg.Logging.Level, cfg.WebServer.Port)
	}
}

func TestFlagValueProblemNamesFlag(t *testing.T) {
	msg := loadErr(t, config.LoadOptions{Flags: flags(t, "--port=70000")})
	wantContains(t, msg, "web_server.port: must be between 0 and 65535, got 70000 (from --port)")
}

func TestConfigPathSources(t *testing.T) {
	a := writeFile(t, "a.json", `{"data_dir": "a"}`)
	b := writeFile(t, "b.json", `{"data_dir": "b"}`)
	c := writeFile(t, "c.hcl", `data_dir = "c"`)
	env := []string{"CASTRAY_CONFIG=" + c}
	cases := []struct {
		name string
		opts config.LoadOptions
		want string
	}{
		{"CASTRAY_CONFIG", config.LoadOptions{Env: env}, "c"},
		{"--config over CASTRAY_CONFIG", config.LoadOptions{Env: env, Flags: flags(t, "--config", b)}, "b"},
		{"Path over both", config.LoadOptions{Path: a, Env: env, Flags: flags(t, "--config", b)}, "a"},
		{"unset --config", config.LoadOptions{Env: env, Flags: flags(t)}, "c"},
	}
	for _, tc := range cases {
		if got := mustLoad(t, tc.opts).DataDir; got != tc.want {
			t.Errorf("%s: data_dir = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHCLAndJSONEquivalent(t *testing.T) {
	for _, pair := range [][2]string{
		{"testdata/full.hcl", "testdata/full.json"},
		{"examples/castray.hcl", "examples/castray.json"},
	} {
		h := mustLoad(t, config.LoadOptions{Path: pair[0]})
		j := mustLoad(t, config.LoadOptions{Path: pair[1]})
		if !reflect.DeepEqual(h, j) {
			t.Errorf("%s and %s differ:\nhcl:  %+v\njson: %+v", pair[0], pair[1], h, j)
		}
	}
}

func TestFullFile(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{Path: "testdata/full.hcl"})
	if got := cfg.FileTransfer.MaxFileSize; got != 9007199254740993 {
		t.Errorf("max_file_size = %d, want 9007199254740993 (exact)", got)
	}
	if cfg.Logging.Level != "warn" || cfg.Logging.Format != "json" {
		t.Errorf("logging = %q/%q, want warn/json", cfg.Logging.Level, cfg.Logging.Format)
	}
	if cfg.WebServer.LogLevel != "debug" {
		t.Errorf("web_server.log_level = %q, want debug", cfg.WebServer.LogLevel)
	}
	if got := cfg.EffectiveLogLevel(); got != "warn" {
		t.Errorf("EffectiveLogLevel = %q, want warn (logging.level wins)", got)
	}
	if cfg.ExternalCluster.ConnectionTimeout != 2.5 || cfg.Events.StatusInterval != 0.5 {
		t.Errorf("floats: %v %v", cfg.ExternalCluster.ConnectionTimeout, cfg.Events.StatusInterval)
	}
	env := cfg.RayCluster.RuntimeEnv
	if env["working_dir"] != "/srv/app" || env["env_vars"].(map[string]any)["PYTHONPATH"] != "/srv/app" {
		t.Errorf("runtime_env = %#v", env)
	}
	if !reflect.DeepEqual(cfg.Networking.UDPPortRange, []int{9000, 9999}) {
		t.Errorf("udp_port_range = %v", cfg.Networking.UDPPortRange)
	}
}

func TestLegacyFilesLoadUnchanged(t *testing.T) {
	seed := mustLoad(t, config.LoadOptions{Path: "testdata/seed-external-cluster.json"})
	if seed.RayCluster.Address != "auto" || !seed.RayCluster.ExternalDiscovery || !seed.RayCluster.FallbackToLocal ||
		seed.WebServer.Host != "0.0.0.0" || seed.WebServer.Port != 8000 ||
		!seed.ExternalCluster.Enabled || !seed.ExternalCluster.AutoDiscover || seed.ExternalCluster.ConnectionTimeout != 10 {
		t.Errorf("seed example: %+v", seed)
	}
	if want := []string{"ray_cluster.external_discovery"}; !reflect.DeepEqual(seed.Unused, want) {
		t.Errorf("seed example: unused keys %q, want %q", seed.Unused, want)
	}

	orig := mustLoad(t, config.LoadOptions{Path: "testdata/original-linux.json"})
	want := config.Default()
	want.RayCluster.Namespace = "castray"
	want.RayCluster.CreateDemoNodes = false
	want.RayCluster.RuntimeEnv = map[string]any{
		"working_dir": "/opt/castray-system",
		"env_vars":    map[string]any{"PYTHONPATH": "/opt/castray-system", "RAY_DISABLE_IMPORT_WARNING": "1"},
	}
	want.WebServer.Host = "0.0.0.0"
	want.WebServer.LogLevel = "info"
	want.FileTransfer.ChunkSize, want.FileTransfer.DownloadDir = 65536, "/opt/castray-system/downloads"
	want.Networking = config.Networking{UDPPortRange: []int{9000, 9999}, MulticastGroup: "224.1.1.1", MulticastPort: 9999}
	want.Logging = config.Logging{Level: "info", File: "/opt/castray-system/logs/castray.log", MaxSize: 104857600, BackupCount: 5, Format: "text"}
	want.DemoFiles = config.DemoFiles{Enabled: true, Directory: "/opt/castray-system/demo_files", Files: []string{"config.json", "data.txt", "report.md"}}
	want.Unused = []string{"demo_files", "file_transfer.download_dir", "logging.backup_count", "logging.max_size",
		"networking", "ray_cluster.namespace", "ray_cluster.runtime_env"}
	if !reflect.DeepEqual(orig, want) {
		t.Errorf("original file:\n got %+v\nwant %+v", orig, want)
	}
}

// Every shipped example loads, and says what its name promises.
func TestExamples(t *testing.T) {
	entries, err := os.ReadDir("examples")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			cfg := mustLoad(t, config.LoadOptions{Path: filepath.Join("examples", name)})
			seen[name] = true
			if cfg.RayCluster.Address != "auto" || cfg.WebServer.Port != 8000 {
				t.Errorf("address %q port %d", cfg.RayCluster.Address, cfg.WebServer.Port)
			}
			switch name {
			case "castray.hcl", "castray.json":
				if cfg.WebServer.Host != "127.0.0.1" {
					t.Errorf("default config listens on %q, want 127.0.0.1", cfg.WebServer.Host)
				}
				if !cfg.RayCluster.CreateDemoNodes || cfg.DataDir != "castray-data" {
					t.Errorf("create_demo_nodes %v data_dir %q", cfg.RayCluster.CreateDemoNodes, cfg.DataDir)
				}
				if p, ok := cfg.Plugins["local"]; !ok || !p.IsEnabled() || p.Config == nil || len(p.Config) != 0 {
					t.Errorf("plugin local = %+v (present %v)", p, ok)
				}
				if !cfg.ExternalCluster.Enabled || !cfg.ExternalCluster.AutoDiscover || cfg.ExternalCluster.ConnectionTimeout != 10 ||
					!cfg.RayCluster.FallbackToLocal {
					t.Errorf("seed settings lost: %+v %+v", cfg.RayCluster, cfg.ExternalCluster)
				}
				if len(cfg.Unused) != 0 {
					t.Errorf("CastRay's own example sets keys it does not use: %q", cfg.Unused)
				}
			case "seed-external-cluster.json":
				if cfg.WebServer.Host != "0.0.0.0" || !cfg.ExternalCluster.Enabled {
					t.Errorf("%+v", cfg)
				}
			case "original-linux.json":
				if cfg.FileTransfer.ChunkSize != 65536 || cfg.Logging.Level != "info" || cfg.RayCluster.CreateDemoNodes {
					t.Errorf("%+v", cfg)
				}
			default:
				t.Errorf("no checks for example %s; add some", name)
			}
		})
	}
	for _, n := range []string{"castray.hcl", "castray.json", "seed-external-cluster.json", "original-linux.json"} {
		if !seen[n] {
			t.Errorf("examples/%s missing", n)
		}
	}
	// The shipped legacy examples are the test fixtures, unchanged.
	for _, n := range []string{"seed-external-cluster.json", "original-linux.json"} {
		a, _ := os.ReadFile(filepath.Join("examples", n))
		b, _ := os.ReadFile(filepath.Join("testdata", n))
		if string(a) != string(b) {
			t.Errorf("examples/%s differs from testdata/%s", n, n)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	_, err := loadHCL(t, `
web_server {
  hots = "0.0.0.0"
}
colour = "blue"
plugin "local" {
  enable = true
  config {
    anything = { goes = [1, 2] }   # free-form: accepted
  }
}
ray_cluster {
  runtime_env {
    whatever = "ok"                # free-form: accepted
  }
}
`)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	wantContains(t, msg,
		`unknown key "web_server.hots" (did you mean "web_server.host"?)`,
		`unknown key "colour"`,
		`unknown key "plugin.local.enable" (did you mean "plugin.local.enabled"?)`,
		"3 problems",
	)
	if strings.Contains(msg, "anything") || strings.Contains(msg, "whatever") {
		t.Errorf("free-form sections were checked:\n%s", msg)
	}
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, want *config.ValidationError", err)
	}
	var keys []string
	for _, p := range ve.Problems {
		keys = append(keys, p.Key)
	}
	if want := []string{"colour", "plugin.local.enable", "web_server.hots"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("problem keys = %v, want %v (sorted)", keys, want)
	}
}

func TestDottedKeyInFile(t *testing.T) {
	msg := loadErr(t, config.LoadOptions{Path: writeFile(t, "c.json", `{"web_server.port": 9000}`)})
	wantContains(t, msg, `unknown key "web_server.port" (a key must not contain "."; nest it in a block or object instead)`)
}

func TestBadValues(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"port too big", `{"web_server": {"port": 70000}}`, "web_server.port: must be between 0 and 65535, got 70000"},
		{"port negative", `{"web_server": {"port": -1}}`, "web_server.port: must be between 0 and 65535, got -1"},
		{"port fractional", `{"web_server": {"port": 80.5}}`, "web_server.port: must be a whole number, got 80.5"},
		{"port string", `{"web_server": {"port": "abc"}}`, `web_server.port: cannot parse "abc" as a number`},
		{"port bool", `{"web_server": {"port": true}}`, "web_server.port: expected a number, got a boolean (true)"},
		{"host number", `{"web_server": {"host": 123}}`, "web_server.host: expected a string, got a number (123)"},
		{"host empty", `{"web_server": {"host": ""}}`, "web_server.host: must not be empty"},
		{"body limit", `{"web_server": {"body_limit": 0}}`, "web_server.body_limit: must be greater than 0, got 0"},
		{"web log level", `{"web_server": {"log_level": "chatty"}}`, `web_server.log_level: must be one of trace, debug, info, warn, error, got "chatty"`},
		{"section not object", `{"web_server": "0.0.0.0:80"}`, `web_server: expected a block/object, got a string ("0.0.0.0:80")`},
		{"level", `{"logging": {"level": "loud"}}`, `logging.level: must be one of trace, debug, info, warn, error, got "loud"`},
		{"format", `{"logging": {"format": "xml"}}`, `logging.format: must be "text" or "json", got "xml"`},
		{"max size", `{"logging": {"max_size": -1}}`, "logging.max_size: must not be negative, got -1"},
		{"backup count", `{"logging": {"backup_count": -2}}`, "logging.backup_count: must not be negative, got -2"},
		{"timeout zero", `{"external_cluster": {"connection_timeout": 0}}`, "external_cluster.connection_timeout: must be greater than 0 seconds, got 0"},
		{"timeout huge", `{"external_cluster": {"connection_timeout": 1e12}}`, "external_cluster.connection_timeout: must be at most 31536000 seconds"},
		{"discovery negative", `{"external_cluster": {"discovery_interval": -1}}`, "external_cluster.discovery_interval: must not be negative, got -1"},
		{"sync zero", `{"external_cluster": {"sync_interval": 0}}`, "external_cluster.sync_interval: must be greater than 0 seconds"},
		{"enabled string", `{"external_cluster": {"enabled": "maybe"}}`, `external_cluster.enabled: cannot parse "maybe" as a boolean`},
		{"enabled number", `{"external_cluster": {"enabled": 1}}`, "external_cluster.enabled: expected a boolean, got a number (1)"},
		{"chunk zero", `{"file_transfer": {"chunk_size": 0}}`, "file_transfer.chunk_size: must be between 4096 (4 KiB) and 268435456 (256 MiB), got 0"},
		{"chunk huge", `{"file_transfer": {"chunk_size": 1073741824}}`, "file_transfer.chunk_size: must be between 4096 (4 KiB) and 268435456"},
		{"max file size", `{"file_transfer": {"max_file_size": 0}}`, "file_transfer.max_file_size: must be greater than 0, got 0"},
		{"max file size overflow", `{"file_transfer": {"max_file_size": 1e30}}`, "file_transfer.max_file_size: 1e+30 is out of range"},
		{"transfer timeout", `{"file_transfer": {"timeout": -5}}`, "file_transfer.timeout: must be greater than 0 seconds, got -5"},
		{"status interval", `{"events": {"status_interval": 0}}`, "events.status_interval: must be greater than 0 seconds"},
		{"client buffer", `{"events": {"client_buffer": 0}}`, "events.client_buffer: must be greater than 0, got 0"},
		{"status nodes", `{"events": {"status_nodes": -1}}`, "events.status_nodes: must not be negative, got -1"},
		{"data dir", `{"data_dir": ""}`, "data_dir: must not be empty"},
		{"udp range not list", `{"networking": {"udp_port_range": 9000}}`, "networking.udp_port_range: expected a list, got a number (9000)"},
		{"udp range item", `{"networking": {"udp_port_range": [9000, "x"]}}`, `networking.udp_port_range[1]: cannot parse "x" as a number`},
		{"demo files item", `{"demo_files": {"files": ["a", 2]}}`, "demo_files.files[1]: expected a string, got a number (2)"},
		{"runtime_env not object", `{"ray_cluster": {"runtime_env": []}}`, "ray_cluster.runtime_env: expected a block/object, got a list"},
		{"sha256 short", `{"plugin": {"local": {"sha256": "abc"}}}`, `plugin.local.sha256: must be 64 hex characters, got "abc"`},
		{"sha256 not hex", `{"plugin": {"local": {"sha256": "` + strings.Repeat("zz", 32) + `"}}}`, "plugin.local.sha256: must be 64 hex characters"},
		{"plugin enabled", `{"plugin": {"local": {"enabled": "nope"}}}`, `plugin.local.enabled: cannot parse "nope" as a boolean`},
		{"plugin config", `{"plugin": {"local": {"config": "x"}}}`, `plugin.local.config: expected a block/object, got a string ("x")`},
		{"plugin not object", `{"plugin": {"local": true}}`, "plugin.local: expected a block/object, got a boolean (true)"},
		{"plugin name", `{"plugin": {"../evil": {}}}`, `plugin.../evil: invalid plugin name "../evil"`},
		{"plugin config huge number", `{"plugin": {"local": {"config": {"n": 1e999}}}}`, "plugin.local.config.n: must be a finite number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := loadErr(t, config.LoadOptions{Path: writeFile(t, "c.json", c.json)})
			wantContains(t, msg, c.want)
		})
	}
}

func TestProblemsCollectedAndSorted(t *testing.T) {
	msg := loadErr(t, config.LoadOptions{Path: writeFile(t, "c.hcl", `
web_server {
  port = 70000
  hots = "x"
}
logging { level = "loud" }
data_dir = ""
`)})
	lines := strings.Split(msg, "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "4 problems") || !strings.Contains(lines[0], "c.hcl") {
		t.Fatalf("want a header and 4 problem lines, got:\n%s", msg)
	}
	want := []string{
		"  data_dir: must not be empty",
		`  logging.level: must be one of trace, debug, info, warn, error, got "loud"`,
		`  unknown key "web_server.hots" (did you mean "web_server.host"?)`,
		"  web_server.port: must be between 0 and 65535, got 70000",
	}
	if !reflect.DeepEqual(lines[1:], want) {
		t.Fatalf("problem lines:\n%s\nwant:\n%s", strings.Join(lines[1:], "\n"), strings.Join(want, "\n"))
	}
}

func TestEnvMapping(t *testing.T) {
	path := writeFile(t, "c.hcl", `
plugin "local" {
  enabled = true
}
plugin "dashboard-scan" {
  config { hosts = ["a"] }
}
ray_cluster {
  runtime_env {
    env_vars { PYTHONPATH = "/old" }
  }
}
`)
	env := []string{
		"HOME=/root",
		"CASTRAY_CONFIG=/nonexistent/ignored-because-Path-is-set.hcl",
		"CASTRAY_DATA_DIR=/var/lib/castray",
		"CASTRAY_WEB_SERVER__PORT=9000",
		"CASTRAY_WEB_SERVER__API_TOKEN=s3cret",
		"CASTRAY_PLUGIN__LOCAL__ENABLED=false",
		"CASTRAY_PLUGIN__DASHBOARD_SCAN__SHA256=" + strings.Repeat("AB", 32),
		"CASTRAY_PLUGIN__NEW_ONE__CONFIG__SOME_KEY=v",
		"CASTRAY_RAY_CLUSTER__RUNTIME_ENV__ENV_VARS__PYTHONPATH=/new",
		"CASTRAY_RAY_CLUSTER__CREATE_DEMO_NODES=0",
		"CASTRAY_EXTERNAL_CLUSTER__CONNECTION_TIMEOUT=2.5",
		"CASTRAY_FILE_TRANSFER__MAX_FILE_SIZE=10737418240",
		"CASTRAY_NETWORKING__UDP_PORT_RANGE=9000, 9999",
		"CASTRAY_DEMO_FILES__FILES=a.txt,b.txt",
		"CASTRAY_LOGGING__LEVEL=DEBUG",
		"CASTRAY_BIN_DIR=/somewhere", // another program's variable: ignored
		"CASTRAY_RAY_BIN=/somewhere/ray",
	}
	cfg := mustLoad(t, config.LoadOptions{Path: path, Env: env})
	if cfg.DataDir != "/var/lib/castray" || cfg.WebServer.Port != 9000 || cfg.WebServer.APIToken != "s3cret" {
		t.Errorf("data_dir %q port %d token %q", cfg.DataDir, cfg.WebServer.Port, cfg.WebServer.APIToken)
	}
	if cfg.Plugins["local"].IsEnabled() {
		t.Error("plugin.local.enabled: env false did not apply")
	}
	if ds := cfg.Plugins["dashboard-scan"]; ds.SHA256 != strings.Repeat("ab", 32) || !reflect.DeepEqual(ds.Config["hosts"], []any{"a"}) {
		t.Errorf("dashboard-scan = %+v", ds)
	}
	if _, ok := cfg.Plugins["dashboard_scan"]; ok {
		t.Error("env created plugin dashboard_scan instead of matching dashboard-scan")
	}
	if got := cfg.Plugins["new_one"].Config["some_key"]; got != "v" {
		t.Errorf("plugin.new_one.config.some_key = %v; plugins = %+v", got, cfg.Plugins)
	}
	envVars := cfg.RayCluster.RuntimeEnv["env_vars"].(map[string]any)
	if !reflect.DeepEqual(envVars, map[string]any{"PYTHONPATH": "/new"}) {
		t.Errorf("env_vars = %v, want PYTHONPATH (case kept) = /new", envVars)
	}
	if cfg.RayCluster.CreateDemoNodes || cfg.ExternalCluster.ConnectionTimeout != 2.5 || cfg.FileTransfer.MaxFileSize != 10<<30 {
		t.Errorf("create_demo_nodes %v connection_timeout %v max_file_size %d",
			cfg.RayCluster.CreateDemoNodes, cfg.ExternalCluster.ConnectionTimeout, cfg.FileTransfer.MaxFileSize)
	}
	if !reflect.DeepEqual(cfg.Networking.UDPPortRange, []int{9000, 9999}) || !reflect.DeepEqual(cfg.DemoFiles.Files, []string{"a.txt", "b.txt"}) {
		t.Errorf("lists: %v %v", cfg.Networking.UDPPortRange, cfg.DemoFiles.Files)
	}
	if cfg.Logging.Level != "debug" {
		t.Errorf("logging.level = %q", cfg.Logging.Level)
	}

	if got, want := config.IgnoredEnv(env), []string{"CASTRAY_BIN_DIR", "CASTRAY_RAY_BIN"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IgnoredEnv = %v, want %v", got, want)
	}
}

func TestEnvBadValue(t *testing.T) {
	msg := loadErr(t, config.LoadOptions{Env: []string{
		"CASTRAY_WEB_SERVER__PORT=abc",
		"CASTRAY_PLUGIN__LOCAL__ENABLED=perhaps",
		"CASTRAY_WEB_SERVER__PROT=1",
	}})
	wantContains(t, msg,
		`web_server.port: cannot parse "abc" as a number (from CASTRAY_WEB_SERVER__PORT)`,
		`plugin.local.enabled: cannot parse "perhaps" as a boolean (use true or false) (from CASTRAY_PLUGIN__LOCAL__ENABLED)`,
		`unknown key "web_server.prot" (did you mean "web_server.port"?) (from CASTRAY_WEB_SERVER__PROT)`,
	)
	msg = loadErr(t, config.LoadOptions{Env: []string{"CASTRAY_WEB_SERVER__PORT=70000"}})
	wantContains(t, msg, "web_server.port: must be between 0 and 65535, got 70000 (from CASTRAY_WEB_SERVER__PORT)")
}

func TestEnvConversions(t *testing.T) {
	good := map[string]func(*config.Config) bool{
		"CASTRAY_WEB_SERVER__PORT= 42 ":                         func(c *config.Config) bool { return c.WebServer.Port == 42 },
		"CASTRAY_WEB_SERVER__PORT=1e3":                          func(c *config.Config) bool { return c.WebServer.Port == 1000 },
		"CASTRAY_FILE_TRANSFER__TIMEOUT=7":                      func(c *config.Config) bool { return c.FileTransfer.Timeout == 7 },
		"CASTRAY_FILE_TRANSFER__TIMEOUT=0.25":                   func(c *config.Config) bool { return c.FileTransfer.Timeout == 0.25 },
		"CASTRAY_EXTERNAL_CLUSTER__ENABLED=TRUE":                func(c *config.Config) bool { return c.ExternalCluster.Enabled },
		"CASTRAY_EXTERNAL_CLUSTER__ENABLED=1":                   func(c *config.Config) bool { return c.ExternalCluster.Enabled },
		"CASTRAY_WEB_SERVER__API_TOKEN=":                        func(c *config.Config) bool { return c.WebServer.APIToken == "" },
		"CASTRAY_NETWORKING__UDP_PORT_RANGE=":                   func(c *config.Config) bool { return len(c.Networking.UDPPortRange) == 0 },
		"castray_web_server__port=1":                            func(c *config.Config) bool { return c.WebServer.Port == 8000 }, // prefix is case-sensitive
		"CASTRAY_Web_Server__Port=5":                            func(c *config.Config) bool { return c.WebServer.Port == 5 },
		"CASTRAY_PLUGIN__LOCAL__CONFIG__HOSTS=a,b":              func(c *config.Config) bool { return c.Plugins["local"].Config["hosts"] == "a,b" },
		"CASTRAY_FILE_TRANSFER__MAX_FILE_SIZE=9007199254740993": func(c *config.Config) bool { return c.FileTransfer.MaxFileSize == 9007199254740993 },
	}
	for kv, ok := range good {
		cfg, err := config.Load(config.LoadOptions{Env: []string{kv}})
		if err != nil || !ok(cfg) {
			t.Errorf("%s: err %v, config %+v", kv, err, cfg)
		}
	}
	bad := map[string]string{
		"CASTRAY_WEB_SERVER__PORT=1.5":                              "web_server.port: must be a whole number, got 1.5",
		"CASTRAY_WEB_SERVER__PORT=":                                 `web_server.port: cannot parse "" as a number`,
		"CASTRAY_FILE_TRANSFER__MAX_FILE_SIZE=99999999999999999999": "file_transfer.max_file_size: 1e+20 is out of range",
		"CASTRAY_FILE_TRANSFER__TIMEOUT=soon":                       `file_transfer.timeout: cannot parse "soon" as a number`,
		"CASTRAY_FILE_TRANSFER__TIMEOUT=NaN":                        "file_transfer.timeout: must be a finite number, got NaN",
		"CASTRAY_FILE_TRANSFER__TIMEOUT=1e999":                      "file_transfer.timeout: must be a finite number, got +Inf",
		"CASTRAY_EVENTS__CLIENT_BUFFER=many":                        `events.client_buffer: cannot parse "many" as a number`,
		"CASTRAY_NETWORKING__UDP_PORT_RANGE=9000,x":                 `networking.udp_port_range[1]: cannot parse "x" as a number`,
		"CASTRAY_WEB_SERVER=0.0.0.0":                                `web_server: expected a block/object, got a string ("0.0.0.0") (from CASTRAY_WEB_SERVER)`,
	}
	for kv, want := range bad {
		msg := loadErr(t, config.LoadOptions{Env: []string{kv}})
		wantContains(t, msg, want)
	}
}

func TestEnvFirstDuplicateWins(t *testing.T) {
	// As os.Getenv does with a repeated variable.
	cfg := mustLoad(t, config.LoadOptions{Env: []string{"CASTRAY_WEB_SERVER__PORT=1", "NOEQUALS", "CASTRAY_WEB_SERVER__PORT=2"}})
	if cfg.WebServer.Port != 1 {
		t.Fatalf("port = %d, want 1", cfg.WebServer.Port)
	}
}

func TestEnvIsNotReadFromProcess(t *testing.T) {
	t.Setenv("CASTRAY_WEB_SERVER__PORT", "1234")
	t.Setenv("RAY_ADDRESS", "10.9.9.9:6379")
	cfg := mustLoad(t, config.LoadOptions{})
	if cfg.WebServer.Port != 8000 || cfg.RayCluster.Address != "auto" {
		t.Fatalf("Load read the process environment: port %d address %q", cfg.WebServer.Port, cfg.RayCluster.Address)
	}
}

func TestRayAddress(t *testing.T) {
	file := writeFile(t, "c.json", `{"ray_cluster": {"address": "file:6379"}}`)
	cases := []struct {
		name string
		path string
		env  []string
		want string
	}{
		{"default", "", nil, "auto"},
		{"RAY_ADDRESS", "", []string{"RAY_ADDRESS=10.0.0.5:6379"}, "10.0.0.5:6379"},
		{"RAY_ADDRESS over file", file, []string{"RAY_ADDRESS=10.0.0.5:6379"}, "10.0.0.5:6379"},
		{"empty RAY_ADDRESS ignored", file, []string{"RAY_ADDRESS="}, "file:6379"},
		{"CASTRAY_ wins", file, []string{"CASTRAY_RAY_CLUSTER__ADDRESS=ray://head:10001", "RAY_ADDRESS=10.0.0.5:6379"}, "ray://head:10001"},
		{"CASTRAY_ wins, either order", "", []string{"RAY_ADDRESS=10.0.0.5:6379", "CASTRAY_RAY_CLUSTER__ADDRESS=ray://head:10001"}, "ray://head:10001"},
		{"similar names ignored", "", []string{"RAY_ADDRESSES=x", "XRAY_ADDRESS=y"}, "auto"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mustLoad(t, config.LoadOptions{Path: c.path, Env: c.env}).RayCluster.Address; got != c.want {
				t.Fatalf("address = %q, want %q", got, c.want)
			}
		})
	}
}

func TestPluginBlocks(t *testing.T) {
	cfg, err := loadHCL(t, `
plugin "local" {
  enabled = true
  config {}
}

plugin "dashboard-scan" {
  enabled = false
  sha256  = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF"
  config {
    hosts = ["127.0.0.1", "10.0.0.2"]
    port  = 8265
    probe {
      path     = "/api/version"
      interval = 2.5
      headers {
        Accept = "application/json"
      }
    }
    ranges = [[1, 2], [3, 4]]
    rules  = [{ match = "a" }, { match = "b", deny = true }]
    one    = [{ x = 1 }]
  }
}

plugin "bare" {}

plugin "k8s_discovery" {
  config {
    namespaces = []
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 4 {
		t.Fatalf("plugins = %v, want 4", cfg.Plugins)
	}
	local := cfg.Plugins["local"]
	if !local.IsEnabled() || local.Enabled == nil || !reflect.DeepEqual(local.Config, map[string]any{}) {
		t.Errorf("local = %+v", local)
	}
	ds := cfg.Plugins["dashboard-scan"]
	if ds.IsEnabled() || ds.SHA256 != "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("dashboard-scan enabled %v sha256 %q", ds.IsEnabled(), ds.SHA256)
	}
	wantConfig := map[string]any{
		"hosts": []any{"127.0.0.1", "10.0.0.2"},
		"port":  8265,
		"probe": map[string]any{
			"path":     "/api/version",
			"interval": 2.5,
			"headers":  map[string]any{"Accept": "application/json"},
		},
		"ranges": []any{[]any{1, 2}, []any{3, 4}},
		"rules":  []any{map[string]any{"match": "a"}, map[string]any{"match": "b", "deny": true}},
		"one":    []any{map[string]any{"x": 1}},
	}
	if !reflect.DeepEqual(ds.Config, wantConfig) {
		t.Errorf("dashboard-scan config:\n got %#v\nwant %#v", ds.Config, wantConfig)
	}
	if bare := cfg.Plugins["bare"]; !bare.IsEnabled() || bare.Enabled != nil || bare.Config != nil {
		t.Errorf("bare = %+v", bare)
	}
	if got := cfg.Plugins["k8s_discovery"].Config["namespaces"]; !reflect.DeepEqual(got, []any{}) {
		t.Errorf("namespaces = %#v", got)
	}
}

func TestPluginBlocksJSONEquivalent(t *testing.T) {
	h, err := loadHCL(t, `
plugin "a" { config { x { y = [1, "two", 3.5] } } }
plugin "b" { enabled = false }
`)
	if err != nil {
		t.Fatal(err)
	}
	j := mustLoad(t, config.LoadOptions{Path: writeFile(t, "c.json",
		`{"plugin": {"a": {"config": {"x": {"y": [1, "two", 3.5]}}}, "b": {"enabled": false}}}`)})
	if !reflect.DeepEqual(h.Plugins, j.Plugins) {
		t.Fatalf("hcl %#v\njson %#v", h.Plugins, j.Plugins)
	}
}

func TestRepeatedBlocks(t *testing.T) {
	// Blocks of the same name merge...
	cfg, err := loadHCL(t, `
web_server { host = "0.0.0.0" }
web_server { port = 9000 }
plugin "a" { enabled = true }
plugin "a" { config { k = 1 } }
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebServer.Host != "0.0.0.0" || cfg.WebServer.Port != 9000 || cfg.Plugins["a"].Config["k"] != 1 || !cfg.Plugins["a"].IsEnabled() {
		t.Fatalf("merged blocks: %+v %+v", cfg.WebServer, cfg.Plugins)
	}
	// ...but may not set the same key twice.
	_, err = loadHCL(t, `
plugin "a" { enabled = true }
plugin "a" { enabled = false }
`)
	if err == nil || !strings.Contains(err.Error(), "plugin.a.enabled: set in more than one block") {
		t.Fatalf("err = %v", err)
	}
}

func TestPluginWithTwoLabels(t *testing.T) {
	_, err := loadHCL(t, `plugin "transfer" "local" { enabled = true }`)
	if err == nil || !strings.Contains(err.Error(), `unknown key "plugin.transfer.local"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.hcl")
	_, err := config.Load(config.LoadOptions{Path: path})
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want a not-found error naming %s", err, path)
	}
	_, err = config.Load(config.LoadOptions{Env: []string{"CASTRAY_CONFIG=" + path}})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("via CASTRAY_CONFIG: err = %v", err)
	}
}

func TestDirectoryAsFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf.hcl")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	msg := loadErr(t, config.LoadOptions{Path: dir})
	wantContains(t, msg, dir, "is a directory")
}

func TestUnsupportedExtension(t *testing.T) {
	for _, name := range []string{"c.yaml", "c.toml", "config"} {
		path := writeFile(t, name, "web_server: {}")
		msg := loadErr(t, config.LoadOptions{Path: path})
		wantContains(t, msg, path, "unsupported extension", ".hcl or .json")
	}
	// Extensions are case-insensitive.
	mustLoad(t, config.LoadOptions{Path: writeFile(t, "C.JSON", `{}`)})
	mustLoad(t, config.LoadOptions{Path: writeFile(t, "C.HCL", ``)})
}

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		"bad.hcl":       "web_server {",
		"bad.json":      `{"web_server": `,
		"array.json":    `[1, 2]`,
		"null.json":     `null`,
		"trailing.json": `{} {}`,
	}
	for name, src := range cases {
		path := writeFile(t, name, src)
		msg := loadErr(t, config.LoadOptions{Path: path})
		wantContains(t, msg, path)
		if name == "syntax.json" {
			wantContains(t, msg, "line 2, column 8")
		}
	}
}

func TestNullKeepsDefault(t *testing.T) {
	cfg := mustLoad(t, config.LoadOptions{Path: writeFile(t, "c.json",
		`{"web_server": {"port": null, "api_token": null}, "logging": null, "plugin": {"x": null}}`)})
	d := config.Default()
	if cfg.WebServer.Port != d.WebServer.Port || cfg.Logging != d.Logging {
		t.Fatalf("nulls did not keep defaults: %+v %+v", cfg.WebServer, cfg.Logging)
	}
	if p, ok := cfg.Plugins["x"]; !ok || !p.IsEnabled() {
		t.Fatalf("plugin x: null should be an empty block: %+v", cfg.Plugins)
	}
}

func TestQuotedNumbersInFiles(t *testing.T) {
	cfg, err := loadHCL(t, `
web_server { port = "9001" }
external_cluster { enabled = "true" }
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebServer.Port != 9001 || !cfg.ExternalCluster.Enabled {
		t.Fatalf("%+v %+v", cfg.WebServer, cfg.ExternalCluster)
	}
}

func TestLogLevelFolding(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"neither", `{}`, "info"},
		{"web_server only", `{"web_server": {"log_level": "DEBUG"}}`, "debug"},
		{"web_server error", `{"web_server": {"log_level": "error"}}`, "error"},
		{"logging only", `{"logging": {"level": "ERROR"}}`, "error"},
		{"both: logging wins", `{"web_server": {"log_level": "debug"}, "logging": {"level": "warning"}}`, "warn"},
		{"explicit info still wins", `{"web_server": {"log_level": "trace"}, "logging": {"level": "info"}}`, "info"},
		{"critical alias", `{"logging": {"level": "CRITICAL"}}`, "error"},
	}
	for _, c := range cases {
		cfg := mustLoad(t, config.LoadOptions{Path: writeFile(t, "c.json", c.json)})
		if cfg.Logging.Level != c.want || cfg.EffectiveLogLevel() != c.want {
			t.Errorf("%s: logging.level %q effective %q, want %q", c.name, cfg.Logging.Level, cfg.EffectiveLogLevel(), c.want)
		}
	}
	// A bad web_server.log_level is reported once, under its own key.
	msg := loadErr(t, config.LoadOptions{Path: writeFile(t, "c.json", `{"web_server": {"log_level": "chatty"}}`)})
	if strings.Contains(msg, "logging.level") || !strings.Contains(msg, "web_server.log_level") {
		t.Errorf("bad web_server.log_level: %s", msg)
	}
	// A flag counts as the user setting logging.level.
	cfg := mustLoad(t, config.LoadOptions{
		Path:  writeFile(t, "c.json", `{"web_server": {"log_level": "debug"}}`),
		Flags: flags(t, "--log-level=info"),
	})
	if cfg.Logging.Level != "info" {
		t.Errorf("--log-level=info lost to web_server.log_level: %q", cfg.Logging.Level)
	}
	// By hand.
	c := &config.Config{WebServer: config.WebServer{LogLevel: "WARNING"}}
	if got := c.EffectiveLogLevel(); got != "warn" {
		t.Errorf("hand-built EffectiveLogLevel = %q", got)
	}
	if got := (&config.Config{}).EffectiveLogLevel(); got != "info" {
		t.Errorf("empty EffectiveLogLevel = %q", got)
	}
}
