package ui

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func get(t *testing.T, app *fiber.App, path string) (*http.Response, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func newApp(o Options) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	Register(app, o)
	return app
}

func TestRoutes(t *testing.T) {
	app := newApp(Options{Version: "1.2.3"})

	resp, _ := get(t, app, "/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui" {
		t.Fatalf("GET /: %d Location %q, want 302 to /ui", resp.StatusCode, resp.Header.Get("Location"))
	}

	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/ui", "/ui/", "/ui/index.html", "/ui/topology", "/ui/some/deep/link"} {
		resp, body := get(t, app, p)
		if resp.StatusCode != 200 || body != string(index) {
			t.Errorf("GET %s: %d, %d bytes; want index.html", p, resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: content type %q", p, ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
	}

	for p, ct := range map[string]string{"/ui/js/main.js": "javascript", "/ui/app.css": "text/css"} {
		resp, body := get(t, app, p)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ct) || body == "" {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	// An unknown asset is a 404, and nothing outside static/ is reachable.
	for _, p := range []string{"/ui/nope.js", "/ui/js/nope.js", "/ui/../ui.go", "/ui/%2e%2e/ui.go", "/ui/..%2fui.go"} {
		if resp, _ := get(t, app, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestConfigSaysWhetherATokenIsNeeded(t *testing.T) {
	for _, want := range []bool{false, true} {
		resp, body := get(t, newApp(Options{AuthRequired: want, Version: "v"}), "/ui/config.json")
		var c struct {
			AuthRequired bool   `json:"auth_required"`
			Version      string `json:"version"`
		}
		if err := json.Unmarshal([]byte(body), &c); err != nil || resp.StatusCode != 200 || c.AuthRequired != want || c.Version != "v" {
			t.Fatalf("config.json with AuthRequired=%v: %d %s", want, resp.StatusCode, body)
		}
	}
}

// Every asset index.html and the modules name is embedded, so the page
// never asks for a file the binary lacks.
func TestEveryReferencedAssetIsEmbedded(t *testing.T) {
	ref := regexp.MustCompile(`(?:src|href)="/ui/([^"]+)"|from '\.{1,2}/([^']+)'`)
	seen := map[string]bool{}
	err := fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".js")) {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		dir := p[:strings.LastIndex(p, "/")+1]
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if target == "" {
				// Relative import of a module: resolve against its folder.
				rel := strings.TrimPrefix(m[0][len("from '"):len(m[0])-1], "./")
				target = cleanJoin(dir, rel)
			}
			seen[target] = true
			if _, err := fs.Stat(assets, target); err != nil {
				t.Errorf("%s references %s, which is not embedded", p, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seen["js/main.js"] || !seen["app.css"] || !seen["js/pages/topology.js"] {
		t.Fatalf("references found: %v", seen)
	}
}

func cleanJoin(dir, rel string) string {
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	if dir == "" {
		parts = nil
	}
	for _, s := range strings.Split(rel, "/") {
		switch s {
		case "..":
			parts = parts[:len(parts)-1]
		case ".":
		default:
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}
