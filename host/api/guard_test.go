package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hostile page can neither rebind its name to the daemon (Host) nor send
// it state-changing requests or open /ws from its own origin; the daemon's
// own pages, allowed origins and clients without Origin (curl, the CLI)
// go on working.
func TestBrowserGuard(t *testing.T) {
	fs := newFileServer(t, func(d *Deps) {
		d.Guard = BrowserGuard{Hosts: LoopbackHosts, Origins: []string{"https://ops.example.com"}}
	})
	own := "http://127.0.0.1:8000"
	multipart := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.txt\"\r\n\r\nhello\r\n--b--\r\n"
	for _, tc := range []struct {
		method, path, body string
		header             []string
		code               int
		says               string
	}{
		// DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1.
		{"GET", "/api/files", "", []string{"Host", "evil.example:8000"}, 403, `Host "evil.example:8000" is not a name of this daemon`},
		{"GET", "/healthz", "", []string{"Host", "evil.example"}, 403, "DNS-rebinding"},
		{"GET", "/ws", "", []string{"Host", "evil.example:8000", "Origin", "http://evil.example:8000", "Upgrade", "websocket", "Connection", "Upgrade"}, 403, "not a name of this daemon"},
		// Cross-site requests from a page elsewhere.
		{"PUT", "/api/files/evil.txt", "x", []string{"Host", "127.0.0.1:8000", "Origin", "http://evil.example"}, 403, `cross-origin request from "http://evil.example" refused`},
		{"POST", "/api/upload", multipart, []string{"Host", "127.0.0.1:8000", "Origin", "http://evil.example", "Content-Type", "multipart/form-data; boundary=b"}, 403, "cross-origin"},
		{"POST", "/api/upload", multipart, []string{"Host", "localhost:8000", "Origin", "null", "Content-Type", "multipart/form-data; boundary=b"}, 403, "cross-origin"},
		{"DELETE", "/api/files/f.txt", "", []string{"Host", "127.0.0.1:8000", "Origin", "http://127.0.0.1:9999"}, 403, "cross-origin"},
		{"GET", "/ws", "", []string{"Host", "127.0.0.1:8000", "Origin", "http://evil.example", "Upgrade", "websocket", "Connection", "Upgrade"}, 403, "cross-origin"},
		// A foreign page may still not read anything (CORS), but a GET
		// changes nothing: it is not refused.
		{"GET", "/api/files", "", []string{"Host", "127.0.0.1:8000", "Origin", "http://evil.example"}, 200, ""},
		// The daemon's own page, an allowed origin, curl.
		{"PUT", "/api/files/own.txt", "x", []string{"Host", "127.0.0.1:8000", "Origin", own}, 201, ""},
		{"PUT", "/api/files/ops.txt", "x", []string{"Host", "[::1]:8000", "Origin", "https://ops.example.com"}, 201, ""},
		{"PUT", "/api/files/curl.txt", "x", []string{"Host", "localhost:8000"}, 201, ""},
	} {
		r := fs.do(t, tc.method, tc.path, []byte(tc.body), tc.header...)
		if r.code != tc.code {
			t.Errorf("%s %s %v: %d %s, want %d", tc.method, tc.path, tc.header, r.code, r.body, tc.code)
			continue
		}
		if tc.says != "" {
			if msg := r.errorMessage(t); !strings.Contains(msg, tc.says) {
				t.Errorf("%s %s %v: %q, want it to say %q", tc.method, tc.path, tc.header, msg, tc.says)
			}
		}
	}
	for _, name := range []string{"evil.txt", "up.txt"} {
		if _, err := os.Stat(filepath.Join(fs.dir, name)); err == nil {
			t.Errorf("a refused request stored %s", name)
		}
	}
}

// A JSON body must be sent as application/json: no Content-Type, or one a
// page may send cross-site without a preflight (text/plain), is a 415.
func TestJSONBodiesNeedTheJSONType(t *testing.T) {
	f := newSendFixture(t)
	body := []byte(`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["n1"]}`)
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		var h []string
		if ct != "" {
			h = []string{"Content-Type", ct}
		}
		r := f.fs.do(t, "POST", "/api/send", body, h...)
		if msg := r.errorMessage(t); r.code != 415 || !strings.Contains(msg, "application/json") {
			t.Errorf("Content-Type %q: %d %q, want 415", ct, r.code, msg)
		}
	}
	if got := f.messagesOf(t, "n1", ""); len(got) != 0 {
		t.Errorf("refused sends recorded %d messages", len(got))
	}
	if r := f.post(t, "/api/send", string(body)); r.code != 200 {
		t.Errorf("application/json: %d %s", r.code, r.body)
	}
}
