package api

import (
	"errors"
	"strings"
	"testing"
)

func TestRotateToken(t *testing.T) {
	saved := []string{}
	fs := newFileServer(t, func(d *Deps) {
		d.Token = "old-token"
		d.RotateToken = func() (string, error) {
			tok := "new-token-" + strings.Repeat("x", len(saved))
			saved = append(saved, tok)
			return tok, nil
		}
	})
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	if r := fs.do(t, "POST", "/api/token/rotate", nil); r.code != 401 {
		t.Fatalf("rotate without the token: %d", r.code)
	}
	r := fs.do(t, "POST", "/api/token/rotate", nil, bearer("old-token")...)
	if r.code != 200 || r.json(t)["token"] != "new-token-" || len(saved) != 1 {
		t.Fatalf("rotate: %d %s (saved %v)", r.code, r.body, saved)
	}
	if r := fs.do(t, "GET", "/api/files", nil, bearer("old-token")...); r.code != 401 {
		t.Errorf("the old token still works: %d", r.code)
	}
	if r := fs.do(t, "GET", "/api/files", nil, bearer("new-token-")...); r.code != 200 {
		t.Errorf("the new token: %d %s", r.code, r.body)
	}

	// A failing save keeps the token in force.
	failing := newFileServer(t, func(d *Deps) {
		d.Token = "kept"
		d.RotateToken = func() (string, error) { return "", errors.New("save API token: disk full") }
	})
	if r := failing.do(t, "POST", "/api/token/rotate", nil, bearer("kept")...); r.code != 500 {
		t.Errorf("failed rotation: %d %s", r.code, r.body)
	}
	if r := failing.do(t, "GET", "/api/files", nil, bearer("kept")...); r.code != 200 {
		t.Errorf("after a failed rotation the token changed: %d", r.code)
	}

	// A configured token and no token cannot rotate.
	for tok, says := range map[string]string{"from-config": "web_server.api_token", "": "requires no token"} {
		fs := newFileServer(t, func(d *Deps) { d.Token = tok })
		r := fs.do(t, "POST", "/api/token/rotate", nil, bearer(tok)...)
		if msg := r.errorMessage(t); r.code != 409 || !strings.Contains(msg, says) {
			t.Errorf("token %q: %d %q, want 409 saying %q", tok, r.code, msg, says)
		}
	}
}
