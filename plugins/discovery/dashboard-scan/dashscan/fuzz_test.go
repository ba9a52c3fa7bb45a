package dashscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/raytoken"
)

// The dashboard decoders' fuzz targets are sdk/ray's (fuzz_test.go there).

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
