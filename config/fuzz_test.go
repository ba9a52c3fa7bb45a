package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/castray/castray/config"
)

// fuzzLoad writes data to a file with the given extension and loads it:
// whatever the input, Load must return (a config xor an error) and not panic.
func fuzzLoad(t *testing.T, ext string, data []byte) {
	path := filepath.Join(t.TempDir(), "c"+ext)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{Path: path, Env: []string{"CASTRAY_PLUGIN__X__ENABLED=false"}})
	if (cfg == nil) == (err == nil) {
		t.Fatalf("Load returned config %v and error %v", cfg, err)
	}
	if cfg != nil {
		_ = cfg.Redacted()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
	}
}

func addSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

func FuzzLoadHCL(f *testing.F) {
	addSeeds(f, "testdata/*.hcl", "examples/*.hcl")
	f.Add([]byte(`plugin "a" { config { x = [{ y { z = 1 } }] } }`))
	f.Add([]byte("web_server { port = 1e400 }"))
	f.Add([]byte("x = <<EOF\nhello\nEOF\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, ".hcl", data) })
}

func FuzzLoadJSON(f *testing.F) {
	addSeeds(f, "testdata/*.json", "examples/*.json")
	f.Add([]byte(`{"plugin": {"a": {"config": {"n": 1e999, "m": -0}}}}`))
	f.Add([]byte(`{"web_server": {"port": 9223372036854775808}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, ".json", data) })
}
