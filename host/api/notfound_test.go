package api

import (
	"strings"
	"testing"
)

// A path served under other methods is a 405 naming them (and in Allow);
// an unknown path is a 404.
func TestWrongMethodIs405WithAllow(t *testing.T) {
	fs := newFileServer(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"PATCH", "/api/files/x.txt", 405, "DELETE, GET, HEAD, PUT"},
		{"POST", "/api/files", 405, "GET, HEAD"},
		{"GET", "/api/upload", 405, "POST"},
		{"DELETE", "/api/transfers", 405, "GET, HEAD, POST"},
		{"GET", "/api/nope", 404, ""},
		{"GET", "/api/files/a/b", 404, ""},
	} {
		r := fs.do(t, tc.method, tc.path, nil)
		msg := r.errorMessage(t)
		if r.code != tc.code || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q (%s), want %d Allow %q", tc.method, tc.path, r.code, r.header.Get("Allow"), msg, tc.code, tc.allow)
		}
		if tc.code == 405 && !strings.Contains(msg, "allowed: "+tc.allow) {
			t.Errorf("%s %s: %q does not name the allowed methods", tc.method, tc.path, msg)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/api/nodes/:id", "/api/nodes/n1", true},
		{"/api/nodes/:id", "/api/nodes/", false},
		{"/api/nodes/:id", "/api/nodes/n1/files", false},
		{"/api/nodes/:id/files/:name", "/api/nodes/n1/files/a.txt", true},
		{"/ui/*", "/ui/js/app.js", true},
		{"/ui/*", "/ui", true},
		{"/", "/", true},
		{"/healthz", "/healthz/", true},
	} {
		if got := matchPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

// Path parameters are percent-decoded like any path, and errors show
// Unicode as it is.
func TestPathParamsDecodedAndUnicodeShown(t *testing.T) {
	f := newSendFixture(t)
	if r := f.fs.do(t, "GET", "/api/nodes/n%31", nil); r.code != 200 {
		t.Errorf("GET /api/nodes/n%%31 (n1): %d %s", r.code, r.body)
	}
	for path, says := range map[string]string{
		"/api/nodes/n%C3%B6de":           `node "nöde" not found`,
		"/api/nodes/%C3%A9t%C3%A9/files": `node "été" not found`,
		"/api/transfers/tr-%C3%A9":       `"tr-é"`,
		"/api/nodes/%zz":                 "invalid percent-encoding",
	} {
		r := f.fs.do(t, "GET", path, nil)
		if msg := r.errorMessage(t); !strings.Contains(msg, says) {
			t.Errorf("GET %s: %d %q, want it to say %q", path, r.code, msg, says)
		}
	}
	r := f.post(t, "/api/nodes", `{"node_id": "nöde"}`)
	if msg := r.errorMessage(t); r.code != 400 || !strings.Contains(msg, `character 'ö' not allowed`) {
		t.Errorf("POST /api/nodes nöde: %d %q", r.code, msg)
	}
}
