package raycluster

import (
	"os"
	"path/filepath"
	"testing"
)

// SessionPort on the ports_by_node.json of releases before the per-port
// files (live 2.9.3, 2.30.0 and 2.53.0, explicit --port: no gcs_server_port there).
func TestSessionPortFromPortsByNode(t *testing.T) {
	for _, tc := range []struct {
		release string
		agent   int
	}{{"2.9.3", 39109}, {"2.30.0", 40563}, {"2.53.0", 39269}} {
		b, err := os.ReadFile(filepath.Join("testdata", "live-"+tc.release, "ports_by_node.json"))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "ports_by_node.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if p, err := SessionPort(dir, "dashboard_agent_listen_port"); err != nil || p != tc.agent {
			t.Errorf("%s: dashboard_agent_listen_port %d %v, want %d", tc.release, p, err, tc.agent)
		}
		if p, err := SessionPort(dir, "gcs_server_port"); err == nil {
			t.Errorf("%s: gcs_server_port %d, want an error (not cached with an explicit --port)", tc.release, p)
		}
	}
	// A per-port file wins over the JSON (2.60 writes only those).
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "ports_by_node.json"), []byte(`{"n": {"gcs_server_port": 1}}`), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "gcs_server_port_ab12"), []byte("6379"), 0o644)
	if p, err := SessionPort(dir, "gcs_server_port"); err != nil || p != 6379 {
		t.Errorf("per-port file: %d %v", p, err)
	}
}
