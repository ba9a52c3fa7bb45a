package dashscan

import (
	"github.com/castray/castray/sdk/raytoken"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedAll adds every live capture (testdata/live-2.60.0) as a seed: each
// parser meets the other endpoints' answers too.
func seedAll(f *testing.F) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "live-2.60.0", "*"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, n := range names {
		f.Add(live(f, filepath.Base(n)))
	}
	f.Add([]byte(`{"result": true, "data": null}`))
	f.Add([]byte(`{"result": true, "data": {"result": {"total": 1e308, "result": [{"state": "ALIVE", "resources_total": {"CPU": 1e308}}]}}}`))
}

func FuzzParseAuthMode(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseAuthMode(b)
		if err == nil && (m == "" || len(m) > 64) {
			t.Fatalf("accepted %q", m)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersion(b)
		if err == nil && (!plausibleVersion(v.RayVersion) || (v.SessionName != "" && !validSessionName(v.SessionName))) {
			t.Fatalf("accepted %+v", v)
		}
	})
}

func FuzzParseNodesV0(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseNodesV0(b)
		if err != nil {
			return
		}
		if l.Alive() > len(l.Rows) || l.Total < len(l.Rows) {
			t.Fatalf("alive %d rows %d total %d", l.Alive(), len(l.Rows), l.Total)
		}
		_ = l.ResourcesTotal()
		_, _ = l.HeadNode()
	})
}

func FuzzParseNodesSummary(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseNodesSummary(b)
		if err == nil {
			_ = l.ResourcesTotal()
		}
	})
}

func FuzzParseNodeDetail(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		row, facts, err := parseNodeDetail(b)
		if err != nil {
			return
		}
		if facts.GCSAddress != "" && !validHostPort(facts.GCSAddress) {
			t.Fatalf("gcs %q", facts.GCSAddress)
		}
		if facts.ClusterID != "" && !validClusterID(facts.ClusterID) {
			t.Fatalf("cluster id %q", facts.ClusterID)
		}
		_ = row
	})
}

func FuzzParseClusterStatus(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _, err := parseClusterStatus(b)
		if err != nil {
			return
		}
		if cs.ActiveNodes < 0 || cs.IdleNodes < 0 || cs.PendingNodes < 0 || cs.PendingDemands < 0 {
			t.Fatalf("negative counts %+v", cs)
		}
		used, total := cs.resources(map[string]float64{"object_store_memory": 1, "my_res": 2})
		if len(used) != len(total) {
			t.Fatalf("used %v total %v", used, total)
		}
	})
}

func FuzzParseClusterID(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseClusterID(b)
		if err == nil && !validClusterID(id) {
			t.Fatalf("accepted %q", id)
		}
	})
}

// FuzzParseRayletCmdline takes the argv joined by NUL bytes.
func FuzzParseRayletCmdline(f *testing.F) {
	f.Add("/x/ray/raylet\x00--gcs-address=192.0.2.2:34703\x00--cluster-id=e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3\x00--session-name=session_2026-11-25_20-22-06_905902_14150\x00--session_dir=/tmp/x\x00--static_resource_list=CPU,1,memory,2\x00--head")
	f.Add("raylet\x00--static_resource_list=,,,\x00--gcs-address=[::1]:1")
	f.Fuzz(func(t *testing.T, s string) {
		facts := parseRayletCmdline(strings.Split(s, "\x00"))
		if facts.GCSAddress != "" && !validHostPort(facts.GCSAddress) {
			t.Fatalf("gcs %q", facts.GCSAddress)
		}
		if facts.SessionName != "" && !validSessionName(facts.SessionName) {
			t.Fatalf("session %q", facts.SessionName)
		}
	})
}

// FuzzConfig covers the config parser: JSON decoding, host, CIDR and port
// range parsing and the expansion guard.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"hosts": ["127.0.0.1", "10.0.0.0/24", "::1", "fd00::/120", "localhost"]}`,
		`{"hosts": ["0.0.0.0/0"], "allow_wide_scan": true, "max_hosts": 65536}`,
		`{"ports": [8265], "port_ranges": ["8265-8269", "1-65535"], "allow_wide_scan": true}`,
		`{"scheme": "https", "auth_token": "abc", "concurrency": 1024}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, errs := applyConfig(defaultConfig(), b)
		if errs != nil {
			return
		}
		hosts, err := expandHosts(cfg.Hosts, cfg.MaxHosts, cfg.AllowWideScan)
		if err != nil {
			t.Fatalf("validated config does not expand: %v", err)
		}
		if len(hosts) == 0 || len(hosts) > cfg.MaxHosts {
			t.Fatalf("%d hosts, max %d", len(hosts), cfg.MaxHosts)
		}
		ports := cfg.portList()
		if len(ports) == 0 || (!cfg.AllowWideScan && len(ports) > narrowMaxPorts) {
			t.Fatalf("%d ports", len(ports))
		}
	})
}

// FuzzDashboardTarget covers the parsing of the request's addresses.
func FuzzDashboardTarget(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8265", "https://[fe80::1%25eth0]:8443/", "127.0.0.1:8265", "ray://h:1", "http://h:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, ok := dashboardTarget(s)
		if ok && !strings.HasPrefix(tg.base, "http") {
			t.Fatalf("%q → %q", s, tg.base)
		}
	})
}

// FuzzTokenFile covers the token file's first-line rule.
func FuzzTokenFile(f *testing.F) {
	f.Add([]byte("0123456789abcdef\n"))
	f.Add([]byte(" \r\n\x00tok"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "tok")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := raytoken.FindIn("", raytoken.Env{Getenv: func(k string) string {
			if k == "RAY_AUTH_TOKEN_PATH" {
				return p
			}
			return ""
		}})
		if tok := got.Value; strings.ContainsAny(tok, " \t\r\n\x00") {
			t.Fatalf("token %q has whitespace or NUL", tok)
		}
	})
}
