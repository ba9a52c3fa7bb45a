package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/raytoken"
)

func TestConfigDefaults(t *testing.T) {
	for _, raw := range []string{"", "{}"} {
		cfg, errs := applyConfig(defaultConfig(), []byte(raw))
		if errs != nil || len(cfg.Clusters) != 0 || cfg.TimeoutMS != 5000 || cfg.Concurrency != 8 || !cfg.ReportUnverified {
			t.Fatalf("%q: %+v %v", raw, cfg, sdk.ConfigErrorsString(errs))
		}
	}
	cfg, errs := applyConfig(defaultConfig(), []byte(`{"clusters": [
		{"name": " a ", "dashboard_url": " http://ray-head.example:8265/ray/ ", "auth_token": " tok "},
		{"gcs_address": "10.0.0.5:6379", "auth_token_file": "/etc/castray/token", "timeout_ms": 20000},
		{"dashboard_url": "[::1]:8265"}
	], "timeout_ms": 1000, "concurrency": 3, "report_unverified": false}`))
	if errs != nil {
		t.Fatal(sdk.ConfigErrorsString(errs))
	}
	if c := cfg.Clusters[0]; c.Name != "a" || c.DashboardURL != "http://ray-head.example:8265/ray/" || c.AuthToken != "tok" {
		t.Fatalf("%+v", c)
	}
	if cfg.TimeoutMS != 1000 || cfg.Concurrency != 3 || cfg.ReportUnverified || cfg.Clusters[1].TimeoutMS != 20000 {
		t.Fatalf("%+v", cfg)
	}
	if a, err := parseDashboard(cfg.Clusters[2].DashboardURL); err != nil || a.String() != "http://[::1]:8265" {
		t.Fatalf("bare dashboard address: %v %v", a, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ raw, key, msg string }{
		{`{"clusters": [{"dashboard_url": "http://a:1"}, {"dashbord_url": "http://b:1"}]}`, "clusters[1].dashbord_url", "unknown key"},
		{`{"cluster": []}`, "cluster", "unknown key"},
		{`{"clusters": [{}]}`, "clusters[0]", "needs dashboard_url, gcs_address or both"},
		{`{"clusters": [{"dashboard_url": "ray://head:10001"}]}`, "clusters[0].dashboard_url", "Ray client server address"},
		{`{"clusters": [{"dashboard_url": "auto"}]}`, "clusters[0].dashboard_url", "not a dashboard URL"},
		{`{"clusters": [{"dashboard_url": "ftp://head:21"}]}`, "clusters[0].dashboard_url", "unsupported scheme"},
		{`{"clusters": [{"gcs_address": "http://head:8265"}]}`, "clusters[0].gcs_address", "a GCS address is a bare host:port"},
		{`{"clusters": [{"gcs_address": "head"}]}`, "clusters[0].gcs_address", "missing port"},
		{`{"clusters": [{"gcs_address": "a:1"}, {"gcs_address": "a:1"}]}`, "clusters[1].gcs_address", "already clusters[0]'s"},
		{`{"clusters": [{"dashboard_url": "http://a:1/"}, {"dashboard_url": "http://a:1"}]}`, "clusters[1].dashboard_url", "already clusters[0]'s"},
		{`{"clusters": [{"name": "x", "gcs_address": "a:1"}, {"name": "x", "gcs_address": "b:1"}]}`, "clusters[1].name", "already clusters[0]'s name"},
		{`{"clusters": [{"gcs_address": "a:1", "auth_token": "t", "auth_token_file": "/f"}]}`, "clusters[0].auth_token", "not both"},
		{`{"clusters": [{"gcs_address": "a:1", "auth_token_file": "token.txt"}]}`, "clusters[0].auth_token_file", "absolute path"},
		{`{"clusters": [{"gcs_address": "a:1", "timeout_ms": 10}]}`, "clusters[0].timeout_ms", "between 50 and 120000"},
		{`{"timeout_ms": 0}`, "timeout_ms", "between 50 and 120000"},
		{`{"concurrency": 65}`, "concurrency", "between 1 and 64"},
		{`{"clusters": "http://a:1"}`, "clusters", "expected"},
	} {
		_, errs := applyConfig(defaultConfig(), []byte(tc.raw))
		found := false
		for _, e := range errs {
			if e.GetKey() == tc.key && strings.Contains(e.GetMessage(), tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: got %q, want %s: …%s…", tc.raw, sdk.ConfigErrorsString(errs), tc.key, tc.msg)
		}
	}
}

// A bad token is refused without being echoed.
func TestConfigNeverEchoesTheToken(t *testing.T) {
	d := New(nil)
	errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{
		ConfigJson: []byte(`{"clusters": [{"gcs_address": "a:1", "auth_token": "secret part"}]}`)})
	if err != nil || len(errs) != 1 || errs[0].GetKey() != "clusters[0].auth_token" || strings.Contains(sdk.ConfigErrorsString(errs), "secret") {
		t.Fatalf("%v %v", sdk.ConfigErrorsString(errs), err)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v, err := raytoken.ReadFile(write("ok", "  abc  \nrest\n")); err != nil || v != "abc" {
		t.Fatalf("%q %v", v, err)
	}
	for _, tc := range []struct{ content, msg string }{
		{"", "holds no token"},
		{"\nabc\n", "holds no token"},
		{"a b\n", "not a token"},
	} {
		p := write("bad", tc.content)
		if _, err := raytoken.ReadFile(p); err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "a b") {
			t.Errorf("%q: %v", tc.content, err)
		}
	}
	if _, err := raytoken.ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file read")
	}
}
