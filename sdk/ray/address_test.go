package ray

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Address
	}{
		{"http://127.0.0.1:8265", Address{Kind: KindDashboard, Scheme: "http", Host: "127.0.0.1", Port: 8265}},
		{"  https://ray.example.com/ray/ ", Address{Kind: KindDashboard, Scheme: "https", Host: "ray.example.com", Port: 443, Path: "/ray"}},
		{"HTTP://host:80/", Address{Kind: KindDashboard, Scheme: "http", Host: "host", Port: 80}},
		{"http://[::1]:8265", Address{Kind: KindDashboard, Scheme: "http", Host: "::1", Port: 8265}},
		{"ray://10.0.0.1:10001", Address{Kind: KindClientServer, Scheme: "ray", Host: "10.0.0.1", Port: 10001}},
		{"ray://head:10001/", Address{Kind: KindClientServer, Scheme: "ray", Host: "head", Port: 10001}},
		{"192.0.2.2:6379", Address{Kind: KindUnknown, Host: "192.0.2.2", Port: 6379}},
		{"[::1]:8265", Address{Kind: KindUnknown, Host: "::1", Port: 8265}},
		{"[fe80::1%eth0]:6379", Address{Kind: KindUnknown, Host: "fe80::1%eth0", Port: 6379}},
		{"ray-head.ns.svc.cluster.local:6379", Address{Kind: KindUnknown, Host: "ray-head.ns.svc.cluster.local", Port: 6379}},
		{"auto", Address{Kind: KindLocal}},
		{"LOCAL", Address{Kind: KindLocal}},
	} {
		got, err := ParseAddress(tc.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tc.in, err)
			continue
		}
		got.Raw = ""
		if got != tc.want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if a, _ := ParseAddress("http://[::1]:8265/x/"); a.String() != "http://[::1]:8265/x" || a.HostPort() != "[::1]:8265" {
		t.Errorf("String/HostPort = %q %q", a.String(), a.HostPort())
	}
	if a, _ := ParseAddress("auto"); a.String() != "auto" || a.HostPort() != "" {
		t.Errorf("auto: %q %q", a.String(), a.HostPort())
	}
}

func TestParseAddressErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "empty",
		"   ":                       "empty",
		"host":                      "missing port",
		"ray://host":                "missing port",
		"host:":                     "empty port",
		":6379":                     "missing host",
		"host:0":                    "out of range",
		"host:65536":                "out of range",
		"host:-1":                   "not a number",
		"host:12ab":                 "not a number",
		"ftp://host:21":             "unsupported scheme",
		"gcs://host:6379":           "unsupported scheme",
		"://host:1":                 "missing scheme",
		"http://ho st:1":            "white space",
		"host:6379\n":               "",
		"host:63\x0079":             "control",
		"::1:8265":                  "brackets",
		"[::1:8265":                 "unclosed",
		"[1.2.3.4]:80":              "not an IPv6",
		"http://user:pw@host:8265":  "user info",
		"http://host:8265/?x=1":     "query",
		"http://host:8265/#f":       "fragment",
		"ray://host:1/path":         "no path",
		"host:1/path":               "scheme",
		"bad_host!:1":               "invalid host",
		"-host:1":                   "invalid host",
		"http://[::1]x:1":           "invalid port",
		"[::1]x:1":                  "unexpected text",
		"ray://u@host:1":            "user info",
		strings.Repeat("a", 3000):   "longer",
		"http://" + "host:99999999": "out of range",
	} {
		a, err := ParseAddress(in)
		if want == "" { // trailing newline is trimmed
			if err != nil {
				t.Errorf("ParseAddress(%q): %v", in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddress(%q) = %+v, want an error with %q", in, a, want)
			continue
		}
		if !errors.Is(err, ErrInvalidAddress) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAddress(%q) error %q, want ErrInvalidAddress mentioning %q", in, err, want)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8265", "ray://h:10001", "[::1]:8265", "auto", "192.0.2.2:40519", "https://x/y/", "host", "[fe80::1%25eth0]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("error %v is not ErrInvalidAddress", err)
			}
			return
		}
		if a.Kind == KindLocal {
			return
		}
		if a.Port < 1 || a.Port > 65535 || a.Host == "" {
			t.Fatalf("%q → %+v", s, a)
		}
		// The canonical form parses to the same address.
		b, err := ParseAddress(a.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse again: %v", s, a.String(), err)
		}
		a.Raw, b.Raw = "", ""
		if a != b {
			t.Fatalf("%q → %+v → %q → %+v", s, a, a.String(), b)
		}
	})
}
