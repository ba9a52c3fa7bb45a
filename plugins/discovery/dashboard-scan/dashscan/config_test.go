package dashscan

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

func TestInfoAndSchema(t *testing.T) {
	d := plugintest.Discovery(t, New(nil))
	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "dashboard-scan" || info.GetKind() != sdk.KindDiscovery || info.GetPluginVersion() != "0.1.0" ||
		!reflect.DeepEqual(info.GetApiVersions(), []uint32{sdk.APIVersion}) {
		t.Fatalf("info = %v", info)
	}
	s, err := d.ConfigSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range s.GetFields() {
		if f.GetType() == "" || f.GetDescription() == "" || f.GetDefaultJson() == "" {
			t.Errorf("field %s lacks type, description or default: %v", f.GetName(), f)
		}
		got[f.GetName()] = f.GetDefaultJson()
	}
	want := map[string]string{
		"hosts": `["127.0.0.1"]`, "ports": `[]`, "port_ranges": `["8265-8269"]`, "scheme": `"http"`,
		"concurrency": "32", "probe_timeout_ms": "1000", "detail_timeout_ms": "5000", "node_limit": "10000",
		"auth_token": `""`, "max_hosts": "256", "allow_wide_scan": "false", "tls_skip_verify": "false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schema defaults\n got %v\nwant %v", got, want)
	}
	// Every schema key is a Config key and the other way round: an empty
	// config with each key set to its default is accepted.
	var parts []string
	for k, v := range want {
		parts = append(parts, `"`+k+`":`+v)
	}
	if errs := configure(t, d, "{"+strings.Join(parts, ",")+"}"); errs != nil {
		t.Fatalf("defaults rejected: %v", errs)
	}
}

func configure(t *testing.T, d sdk.Discoverer, js string) []*sdk.ConfigError {
	t.Helper()
	errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(js), ApiVersion: sdk.APIVersion})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return errs
}

func TestConfigValidationNamesKeys(t *testing.T) {
	d := plugintest.Discovery(t, New(nil))
	cases := []struct {
		js   string
		keys []string
	}{
		{`{"bogus": 1}`, []string{"bogus"}},
		{`{"hosts": "127.0.0.1"}`, []string{"hosts"}},
		{`{"hosts": []}`, []string{"hosts"}},
		{`{"hosts": ["127.0.0.1", "http://x:8265"]}`, []string{"hosts[1]"}},
		{`{"hosts": ["127.0.0.1:8265"]}`, []string{"hosts[0]"}},
		{`{"hosts": ["bad host!"]}`, []string{"hosts[0]"}},
		{`{"hosts": ["10.0.0.0/16"]}`, []string{"hosts[0]"}},
		{`{"hosts": ["fd00::/64"]}`, []string{"hosts[0]"}},
		{`{"hosts": ["10.0.0.0/16"], "allow_wide_scan": true}`, []string{"hosts"}},
		{`{"hosts": ["10.0.0.0/24", "10.0.1.0/24"]}`, []string{"hosts"}},
		{`{"ports": [0, 8265, 70000]}`, []string{"ports[0]", "ports[2]"}},
		{`{"ports": [8265.5]}`, []string{"ports"}},
		{`{"port_ranges": ["8269-8265", "x", "1-65536"]}`, []string{"port_ranges[0]", "port_ranges[1]", "port_ranges[2]"}},
		{`{"ports": [], "port_ranges": []}`, []string{"ports"}},
		{`{"port_ranges": ["1000-2000"]}`, []string{"port_ranges"}},
		{`{"scheme": "ftp"}`, []string{"scheme"}},
		{`{"concurrency": 0}`, []string{"concurrency"}},
		{`{"probe_timeout_ms": 10}`, []string{"probe_timeout_ms"}},
		{`{"detail_timeout_ms": 0}`, []string{"detail_timeout_ms"}},
		{`{"node_limit": 10001}`, []string{"node_limit"}},
		{`{"max_hosts": 1024}`, []string{"max_hosts"}},
		{`{"max_hosts": 0}`, []string{"max_hosts"}},
		{`{"auth_token": "two words"}`, []string{"auth_token"}},
	}
	for _, c := range cases {
		errs := configure(t, d, c.js)
		var keys []string
		for _, e := range errs {
			keys = append(keys, e.GetKey())
			if e.GetMessage() == "" {
				t.Errorf("%s: empty message for %s", c.js, e.GetKey())
			}
		}
		if !reflect.DeepEqual(keys, c.keys) {
			t.Errorf("%s: error keys %v, want %v (%s)", c.js, keys, c.keys, sdk.ConfigErrorsString(errs))
		}
	}
	// A token never appears in an error message.
	for _, e := range configure(t, d, `{"auth_token": "sekrit value"}`) {
		if strings.Contains(e.GetMessage(), "sekrit") {
			t.Errorf("error message leaks the token: %v", e)
		}
	}
}

func TestConfigAccepts(t *testing.T) {
	d := plugintest.Discovery(t, New(nil))
	for _, js := range []string{
		``, `{}`,
		`{"hosts": ["127.0.0.1", "localhost", "::1", "192.168.1.0/25", "ray-head.example.com"]}`,
		`{"hosts": ["10.0.0.0/16"], "allow_wide_scan": true, "max_hosts": 65536}`,
		`{"ports": [8265, 18265], "port_ranges": ["8265-8269", "9000"]}`,
		`{"scheme": "https", "tls_skip_verify": true}`,
		`{"port_ranges": ["1-65535"], "allow_wide_scan": true}`,
	} {
		if errs := configure(t, d, js); errs != nil {
			t.Errorf("%s rejected: %s", js, sdk.ConfigErrorsString(errs))
		}
	}
}

func TestPortsReplaceDefaultRange(t *testing.T) {
	for _, c := range []struct {
		js   string
		want []int
	}{
		{`{}`, []int{8265, 8266, 8267, 8268, 8269}},
		{`{"ports": [9000]}`, []int{9000}},
		{`{"port_ranges": ["9000-9001"]}`, []int{9000, 9001}},
		{`{"ports": [8266, 9000], "port_ranges": ["8265-8266"]}`, []int{8265, 8266, 9000}},
	} {
		cfg, errs := applyConfig(defaultConfig(), []byte(c.js))
		if errs != nil {
			t.Fatalf("%s: %s", c.js, sdk.ConfigErrorsString(errs))
		}
		if got := cfg.portList(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: ports %v, want %v", c.js, got, c.want)
		}
	}
	// A per-call override that names ports replaces the configured range.
	base, _ := applyConfig(defaultConfig(), []byte(`{"port_ranges": ["8265-8269"], "concurrency": 4}`))
	cfg, errs := applyConfig(base, []byte(`{"ports": [1234]}`))
	if errs != nil || !reflect.DeepEqual(cfg.portList(), []int{1234}) || cfg.Concurrency != 4 {
		t.Fatalf("override: %v %v concurrency %d", errs, cfg.portList(), cfg.Concurrency)
	}
}

func TestExpandHosts(t *testing.T) {
	cases := []struct {
		in   []string
		max  int
		wide bool
		want []string
		err  string
	}{
		{[]string{"127.0.0.1", "127.0.0.1", "localhost"}, 256, false, []string{"127.0.0.1", "localhost"}, ""},
		{[]string{"192.168.7.0/30"}, 256, false, []string{"192.168.7.1", "192.168.7.2"}, ""},
		{[]string{"192.168.7.9/32"}, 256, false, []string{"192.168.7.9"}, ""},
		{[]string{"192.168.7.8/31"}, 256, false, []string{"192.168.7.8", "192.168.7.9"}, ""},
		{[]string{"192.168.7.5/30"}, 256, false, []string{"192.168.7.5", "192.168.7.6"}, ""}, // masked to .4/30
		{[]string{"fd00::/126"}, 256, false, []string{"fd00::", "fd00::1", "fd00::2", "fd00::3"}, ""},
		{[]string{"[::1]"}, 256, false, []string{"::1"}, ""},
		{[]string{"10.0.0.0/24"}, 10, false, nil, "max_hosts"},
		{[]string{"10.0.0.0/8"}, 65536, true, nil, "max_hosts"},
		{[]string{"0.0.0.0/0"}, 65536, true, nil, "max_hosts"},
		{[]string{"::/0"}, 65536, true, nil, "max_hosts"},
		{[]string{"10.0.0.0/23"}, 256, false, nil, "allow_wide_scan"},
	}
	for _, c := range cases {
		got, err := expandHosts(c.in, c.max, c.wide)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	full, err := expandHosts([]string{"10.1.2.0/24"}, 256, false)
	if err != nil || len(full) != 254 || full[0] != "10.1.2.1" || full[253] != "10.1.2.254" {
		t.Fatalf("/24: %d hosts, first %v, err %v", len(full), full[:1], err)
	}
}

func TestDashboardTarget(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8265":   "http://127.0.0.1:8265",
		"http://127.0.0.1:8265/":  "http://127.0.0.1:8265",
		"https://[::1]:8443":      "https://[::1]:8443",
		"127.0.0.1:8265":          "",
		"ray://127.0.0.1:10001":   "",
		"http://127.0.0.1":        "",
		"http://u:p@127.0.0.1:80": "",
		"http://h:1/api/version":  "",
	} {
		tg, ok := dashboardTarget(in)
		if got := tg.base; (ok && got != want) || (!ok && want != "") {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
}
