//go:build capture

package raycluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCaptureLiveTestdata refreshes testdata/live-<ray version>/ from a real head: the small
// text files of a live session, the dashboard answers and CLI output that later parser tests
// use. It is built only with the capture tag, so it is never part of a normal run:
//
//	go test -tags capture -count=1 -run TestCaptureLiveTestdata ./e2e/raycluster/
//
// Nothing secret is kept: the cluster's token is random, dies with the cluster and is replaced
// by <TOKEN> wherever it would appear.
func TestCaptureLiveTestdata(t *testing.T) {
	pinned := CLIVersion(t, RayBin(t))
	// Everything is written to a staging dir first and copied over the old data at the end,
	// while the cluster (and so the machine lock) is still held: two capture runs at once
	// (e.g. two capture runs at once) cannot mix files.
	final := filepath.Join("testdata", "live-"+pinned)
	out := t.TempDir()
	// Token mode where the release has it (its CLI has `ray get-auth-token`); older
	// releases are captured as they run, open.
	tokens := cliHasTokenAuth(t, RayBin(t))
	auth := ""
	if tokens {
		auth = "token"
	}
	c := Start(t, Options{AuthMode: auth})
	scrub := func(b []byte) []byte {
		if c.Token == "" {
			return b
		}
		return bytes.ReplaceAll(b, []byte(c.Token), []byte("<TOKEN>"))
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(out, name), scrub(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	head := func(path string, lines int) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ls := strings.SplitAfter(string(b), "\n")
		if len(ls) > lines {
			ls = ls[:lines]
		}
		return []byte(strings.Join(ls, ""))
	}

	// Let the agent report physical stats once, so /nodes?view=summary is complete.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body, err := c.HTTPGet("/nodes?view=summary")
		if err == nil && bytes.Contains(body, []byte(`"hostname"`)) && bytes.Contains(body, []byte(`"raylet"`)) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Dashboard answers, pretty-printed when they are JSON.
	for name, path := range map[string]string{
		"api_version.json":                   "/api/version",
		"cluster_id.json":                    "/cluster_id",
		"api_v0_actors_detail.json":          "/api/v0/actors?detail=true",
		"api_authentication_mode.json":       "/api/authentication_mode",
		"api_v0_nodes_detail.json":           "/api/v0/nodes?detail=true",
		"nodes_view_summary.json":            "/nodes?view=summary",
		"api_cluster_status.json":            "/api/cluster_status",
		"api_cluster_status_format1.json":    "/api/cluster_status?format=1",
		"api_jobs.json":                      "/api/jobs/",
		"api_gcs_healthz.txt":                "/api/gcs_healthz",
		"api_version_401_without_token.txt":  "/api/version#none",
		"api_version_403_with_bad_token.txt": "/api/version#bad",
	} {
		path, who, _ := strings.Cut(path, "#")
		if who != "" && !tokens {
			continue
		}
		tok := c.Token
		switch who {
		case "none":
			tok = ""
		case "bad":
			tok = "0123456789abcdef0123456789abcdef"
		}
		st, body, err := c.HTTPGetAs(path, tok)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if strings.HasSuffix(name, ".json") && st != http.StatusOK && !tokens {
			// e.g. /api/authentication_mode, which releases without token auth lack.
			name = strings.TrimSuffix(name, ".json") + fmt.Sprintf("_%d.txt", st)
		}
		if strings.HasSuffix(name, ".json") {
			if st != http.StatusOK {
				t.Fatalf("%s: %d %s", path, st, body)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			body, _ = json.MarshalIndent(v, "", "  ")
			body = append(body, '\n')
		} else {
			body = []byte(fmt.Sprintf("HTTP %d\n%s\n", st, body))
		}
		write(name, body)
	}

	// Which endpoints need the token (dashboard and agent), as status codes; without token
	// auth, which exist.
	var m strings.Builder
	m.WriteString("# GET status codes on a token-auth head: no token / right token (Authorization: Bearer) / wrong token / right token as X-Ray-Authorization / right token as cookie\n")
	if !tokens {
		m.Reset()
		m.WriteString("# GET status codes on a head of a release without token auth: no token / a made-up Authorization: Bearer token / the same as X-Ray-Authorization / as cookie\n")
	}
	agent := fmt.Sprintf("http://127.0.0.1:%d", c.DashboardAgentListenPort)
	for _, u := range []string{
		c.DashboardURL + "/", c.DashboardURL + "/api/authentication_mode", c.DashboardURL + "/api/gcs_healthz",
		c.DashboardURL + "/api/healthz", c.DashboardURL + "/-/healthz", c.DashboardURL + "/api/version",
		c.DashboardURL + "/api/cluster_status", c.DashboardURL + "/nodes?view=summary",
		c.DashboardURL + "/api/v0/nodes", c.DashboardURL + "/api/jobs/", c.DashboardURL + "/api/serve/applications/",
		agent + "/api/local_raylet_healthz", agent + "/api/healthz",
	} {
		codes := []string{}
		hows := []string{"none", "bearer", "bad", "x-ray", "cookie"}
		if !tokens {
			hows = []string{"none", "bad", "x-ray-bad", "cookie-bad"}
		}
		for _, how := range hows {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("User-Agent", UserAgent)
			switch how {
			case "bearer":
				req.Header.Set("Authorization", "Bearer "+c.Token)
			case "bad":
				req.Header.Set("Authorization", "Bearer 0123456789abcdef0123456789abcdef")
			case "x-ray":
				req.Header.Set("X-Ray-Authorization", "Bearer "+c.Token)
			case "cookie":
				req.Header.Set("Cookie", "ray-authentication-token="+c.Token)
			case "x-ray-bad":
				req.Header.Set("X-Ray-Authorization", "Bearer 0123456789abcdef0123456789abcdef")
			case "cookie-bad":
				req.Header.Set("Cookie", "ray-authentication-token=0123456789abcdef0123456789abcdef")
			}
			resp, err := c.client.Do(req)
			if err != nil {
				codes = append(codes, "ERR")
				continue
			}
			resp.Body.Close()
			codes = append(codes, fmt.Sprint(resp.StatusCode))
		}
		u = strings.Replace(u, c.DashboardURL, "dashboard", 1)
		u = strings.Replace(u, agent, "agent", 1)
		fmt.Fprintf(&m, "%-40s %s\n", u, strings.Join(codes, " "))
	}
	write("http_auth_matrix.txt", []byte(m.String()))

	// CLI output.
	write("ray_start_output.txt", []byte(c.StartOutput))
	st, err := c.Ray("status")
	if err != nil {
		t.Fatal(err)
	}
	write("ray_status.txt", []byte(st))

	// Session files.
	write("ray_current_cluster", mustRead(t, filepath.Join(c.TempDir, "ray_current_cluster")))
	// Older releases (2.9.3) keep it in the temp dir only, not in the session.
	for _, dir := range []string{c.SessionDir, c.TempDir} {
		if b, err := os.ReadFile(filepath.Join(dir, "prom_metrics_service_discovery.json")); err == nil {
			write("prom_metrics_service_discovery.json", b)
			break
		}
	}
	if b, err := os.ReadFile(filepath.Join(c.SessionDir, "ports_by_node.json")); err == nil {
		write("ports_by_node.json", b) // releases before the per-port files
	}
	var ports strings.Builder
	entries, _ := os.ReadDir(c.SessionDir)
	var listing []string
	for _, e := range entries {
		n := e.Name()
		if strings.Contains(n, "_port_") {
			fmt.Fprintf(&ports, "%s\t%s\n", n, bytes.TrimSpace(mustRead(t, filepath.Join(c.SessionDir, n))))
		}
	}
	write("session_port_files.tsv", []byte(ports.String()))
	_ = filepath.WalkDir(c.TempDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(c.TempDir, p)
		kind := ""
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			kind = " -> " + target
		case d.Type()&os.ModeSocket != 0:
			kind = " (socket)"
		case d.IsDir():
			kind = "/"
		}
		if strings.HasPrefix(rel, "home") {
			return nil
		}
		listing = append(listing, rel+kind)
		return nil
	})
	sort.Strings(listing)
	write("temp_dir_listing.txt", []byte(strings.Join(listing, "\n")+"\n"))
	logs := filepath.Join(c.SessionDir, "logs")
	write("gcs_server.out.head", head(filepath.Join(logs, "gcs_server.out"), 60))
	write("raylet.out.head", head(filepath.Join(logs, "raylet.out"), 60))
	write("dashboard.log.head", head(filepath.Join(logs, "dashboard.log"), 200))

	// The processes and the markers that tie them to the cluster.
	var ps strings.Builder
	ps.WriteString("# pid\tppid\tcomm\tmarkers (pgid/cwd/cmdline/env)\tcmdline (first 400 bytes)\n")
	for _, p := range c.Processes() {
		var marks []string
		if p.PGID == c.own.pgid {
			marks = append(marks, "pgid")
		}
		if p.Cwd == c.TempDir {
			marks = append(marks, "cwd")
		}
		for _, a := range p.Cmdline {
			if mentions(a, c.TempDir) {
				marks = append(marks, "cmdline")
				break
			}
		}
		if p.env[envClusterMarker] == c.TempDir {
			marks = append(marks, "env")
		}
		cmd := strings.TrimSpace(strings.Join(p.Cmdline, " "))
		if len(cmd) > 400 {
			cmd = cmd[:400] + "…"
		}
		fmt.Fprintf(&ps, "%d\t%d\t%s\t%s\t%s\n", p.PID, p.PPID, p.Comm, strings.Join(marks, ","), cmd)
	}
	write("processes.tsv", []byte(ps.String()))

	authNote := "The head ran with RAY_AUTH_MODE=token (token replaced by <TOKEN>)"
	if !tokens {
		authNote = "This release has no token auth (no `ray get-auth-token`); the head ran open"
	}
	readme := fmt.Sprintf(`Live data from a real Ray %s head, captured by TestCaptureLiveTestdata
(go test -tags capture -count=1 -run TestCaptureLiveTestdata ./e2e/raycluster/)
on %s. %s, temp dir %s,
GCS %s, dashboard %s. ray start took %v until the dashboard and the cluster status answered.
The cached ports are in session_port_files.tsv (per-port files, 2.60) or ports_by_node.json
(older releases); see docs/ray-behaviour.md and docs/compat.md.
`, pinned, time.Now().UTC().Format(time.RFC3339), authNote, c.TempDir, c.GCSAddress, c.DashboardURL, c.StartupTime.Round(time.Millisecond))
	write("README.md", []byte(readme))

	if err := os.RemoveAll(final); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(final, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(out)
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(final, f.Name()), mustRead(t, filepath.Join(out, f.Name())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stopAndCheck(t, c)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cliHasTokenAuth asks the release itself whether it has token auth: its CLI has the
// get-auth-token command from the release that introduced tokens on.
func cliHasTokenAuth(t *testing.T, rayBin string) bool {
	t.Helper()
	out, err := exec.Command(rayBin, "get-auth-token", "--help").CombinedOutput()
	if err != nil {
		t.Logf("%s get-auth-token --help: %v (%s): capturing without token auth", rayBin, err, bytes.TrimSpace(out))
		return false
	}
	return true
}
