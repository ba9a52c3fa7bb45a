package openapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// fakeTB records what Watch reports.
type fakeTB struct {
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }

// answer is what the fake daemon answers on one path.
type answer struct {
	status int
	ct     string
	body   string
	header map[string]string
}

func fakeDaemon(t *testing.T, answers map[string]answer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(500)
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		if a.ct != "" {
			w.Header().Set("Content-Type", a.ct)
		}
		w.WriteHeader(a.status)
		if r.Method != http.MethodHead {
			io.WriteString(w, a.body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadValidatesTheEmbeddedDocument(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Load()
	if s != again {
		t.Error("Load parsed the document twice")
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:39999/api/nodes/node_1", nil)
	if path, method, ok := s.Operation(req); !ok || path != "/api/nodes/{id}" || method != "GET" {
		t.Errorf("GET /api/nodes/node_1 routed to %q %q %v", method, path, ok)
	}
	req = httptest.NewRequest("HEAD", "http://localhost/api/files/a.bin", nil)
	if path, method, ok := s.Operation(req); !ok || path != "/api/files/{name}" || method != "GET" {
		t.Errorf("HEAD /api/files/a.bin routed to %q %q %v", method, path, ok)
	}
}

// Each kind of drift the transport must catch, and answers it must let pass.
func TestTransportRecordsWhatDoesNotMatch(t *testing.T) {
	const errJSON = `{"success": false, "error": "no"}`
	srv := fakeDaemon(t, map[string]answer{
		// Match.
		"GET /healthz":          {200, "application/json", `{"status": "ok", "version": "1"}`, nil},
		"GET /api/nodes/node_9": {404, "application/json; charset=utf-8", errJSON, nil},
		"GET /no/such/path":     {404, "application/json", errJSON, nil},
		"GET /metrics":          {200, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", "not checked {", nil},
		"GET /api/files/a.bin":  {200, "application/octet-stream", strings.Repeat("x", 1<<16), map[string]string{"ETag": `"abc"`}},
		"HEAD /api/files/a.bin": {200, "application/octet-stream", "", nil},
		// Drift.
		"GET /api/status":          {418, "application/json", errJSON, nil},                                              // undocumented status
		"GET /api/config":          {200, "text/html", "<html>", nil},                                                    // wrong content type
		"GET /api/plugins":         {200, "application/json", `{"plugins": "none"}`, nil},                                // schema
		"GET /api/openapi.yaml":    {500, "application/json", errJSON, nil},                                              // undocumented status
		"POST /no/such/path":       {200, "application/json", `{}`, nil},                                                 // unknown route
		"GET /api/files":           {200, "application/json", `{"success": true, "files": [], "count": 0, "x": 1}`, nil}, // extra field
		"GET /api/clusters":        {200, "", "", nil},                                                                   // no content type
		"DELETE /api/nodes/node_1": {200, "application/json", `{"success": true}`, nil},                                  // missing field
	})
	ftb := &fakeTB{}
	tr := Watch(ftb, nil)
	client := &http.Client{Transport: tr}
	for _, mp := range []string{
		"GET /healthz", "GET /api/nodes/node_9", "GET /no/such/path", "GET /metrics", "GET /api/files/a.bin", "HEAD /api/files/a.bin",
		"GET /api/status", "GET /api/config", "GET /api/plugins", "GET /api/openapi.yaml", "POST /no/such/path",
		"GET /api/files", "GET /api/clusters", "DELETE /api/nodes/node_1",
	} {
		method, path, _ := strings.Cut(mp, " ")
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The test still sees the whole body, JSON or not.
		if path == "/api/files/a.bin" && method == "GET" && len(body) != 1<<16 {
			t.Errorf("%s: the test got %d bytes of the body", mp, len(body))
		}
		if path == "/api/plugins" && string(body) != `{"plugins": "none"}` {
			t.Errorf("%s: the test got %q", mp, body)
		}
	}

	got := map[string]string{}
	for _, m := range tr.Mismatches() {
		got[m.Method+" "+m.URL] = m.Problem
	}
	for mp, want := range map[string]string{
		"GET /api/status":          "status 418 is not documented",
		"GET /api/config":          `Content-Type "text/html" is not documented`,
		"GET /api/plugins":         "the body does not match",
		"GET /api/openapi.yaml":    "status 500 is not documented",
		"POST /no/such/path":       "no operation in the document",
		"GET /api/files":           "the body does not match",
		"GET /api/clusters":        "has no Content-Type",
		"DELETE /api/nodes/node_1": "the body does not match",
	} {
		if p, ok := got[mp]; !ok || !strings.Contains(p, want) {
			t.Errorf("%s: recorded %q (recorded %v), want a mismatch saying %q", mp, p, ok, want)
		}
		delete(got, mp)
	}
	for mp, p := range got {
		t.Errorf("%s: recorded %q, want no mismatch", mp, p)
	}
	if n := tr.Checked(); n != 14 {
		t.Errorf("checked %d responses, want 14", n)
	}

	if len(ftb.cleanups) != 1 {
		t.Fatalf("Watch registered %d cleanups", len(ftb.cleanups))
	}
	ftb.cleanups[0]()
	if len(ftb.errors) != 1 || !strings.Contains(ftb.errors[0], "8 of 14 response(s) do not match") ||
		!strings.Contains(ftb.errors[0], "POST /no/such/path → 200") {
		t.Errorf("at cleanup the test was failed with %q", ftb.errors)
	}
}

// A clean run fails nothing.
func TestWatchPassesMatchingTraffic(t *testing.T) {
	srv := fakeDaemon(t, map[string]answer{
		"GET /healthz": {200, "application/json", `{"status": "ok", "version": "1"}`, nil},
	})
	ftb := &fakeTB{}
	tr := Watch(ftb, nil)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range ftb.cleanups {
		c()
	}
	if len(ftb.errors) != 0 || tr.Checked() != 1 {
		t.Errorf("errors %q, checked %d", ftb.errors, tr.Checked())
	}
}

// Closing objects keeps composition working: DiscoveredCluster is
// DiscoveryCluster (closed where used alone) plus source; both together
// pass, and a property neither lists is refused, in both.
func TestClosedObjectsAndComposition(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cluster := map[string]any{"id": "c1", "sources": []any{"static"}, "evidence": []any{}, "nodes": float64(-1),
		"resources": map[string]any{}, "status": "active", "auth_required": false}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range cluster {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		schema string
		value  map[string]any
		ok     bool
	}{
		{"DiscoveryCluster", cluster, true},
		{"DiscoveryCluster", with(map[string]any{"source": "static"}), false},
		{"DiscoveredCluster", with(map[string]any{"source": "static"}), true},
		{"DiscoveredCluster", cluster, false}, // source is required
		{"DiscoveredCluster", with(map[string]any{"source": "static", "surprise": 1.0}), false},
	} {
		err := s.Doc.Components.Schemas[c.schema].Value.VisitJSON(c.value, openapi3.EnableJSONSchema2020())
		if (err == nil) != c.ok {
			t.Errorf("%s %v: error %v, want ok %v", c.schema, c.value, err, c.ok)
		}
	}
}

// BenchmarkCheckResponse is the cost of checking one typical JSON answer.
func BenchmarkCheckResponse(b *testing.B) {
	s, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:1/api/plugins", nil)
	header := http.Header{"Content-Type": {"application/json"}}
	var plugins []string
	for _, name := range []string{"local", "ray", "static"} {
		plugins = append(plugins, fmt.Sprintf(`{"name": %q, "kind": "transfer", "path": "/x", "sha256": "ab", "version": "1",
			"api_version": 1, "state": "healthy", "restarts": 0}`, name))
	}
	body := []byte(`{"success": true, "count": 3, "plugins": [` + strings.Join(plugins, ",") + `]}`)
	if err := s.CheckResponse(req, 200, header, body); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := s.CheckResponse(req, 200, header, body); err != nil {
			b.Fatal(err)
		}
	}
}

// Every JSON response schema of the document compiles, so that a schema
// the validator cannot read fails here rather than in an e2e run.
func TestEveryJSONResponseSchemaCompiles(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range s.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			for key, ref := range op.Responses.Map() {
				for mt := range ref.Value.Content {
					if !IsJSON(mt) {
						continue
					}
					pointer, _ := bodySchema(path, method, key, ref, mt)
					if _, err := s.schema(pointer); err != nil {
						t.Errorf("%s %s %s: %v", method, path, key, err)
					}
					n++
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("compiled %d schemas; the document has more", n)
	}
}

// The proxy checks the API's answers it passes on, leaves the others alone,
// and the client gets every answer unchanged.
func TestProxyChecksTheAPIOnly(t *testing.T) {
	srv := fakeDaemon(t, map[string]answer{
		"GET /api/status": {200, "application/json", `{"surprise": true}`, nil},
		"GET /healthz":    {200, "application/json", `{"status": "ok", "version": "1"}`, nil},
		"GET /ui/app.js":  {200, "text/javascript", "console.log(1)", nil},
	})
	ftb := &fakeTB{}
	tr := Watch(ftb, nil)
	proxy := Proxy(ftb, srv.URL, tr)
	for _, p := range []string{"/api/status", "/healthz", "/ui/app.js"} {
		resp, err := http.Get(proxy + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s through the proxy: %d %q", p, resp.StatusCode, body)
		}
	}
	for i := len(ftb.cleanups) - 1; i >= 0; i-- {
		ftb.cleanups[i]()
	}
	ms := tr.Mismatches()
	if tr.Checked() != 2 || len(ms) != 1 || ms[0].URL != "/api/status" {
		t.Errorf("checked %d, mismatches %v; want /api/status's alone of 2", tr.Checked(), ms)
	}
}
