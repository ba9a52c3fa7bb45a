package dashscan

import (
	"context"
	"errors"
	"fmt"
	"github.com/castray/castray/sdk/raytoken"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// headBResources is the resources_total of head B's State API row.
var headBResources = map[string]float64{
	"CPU": 2, "memory": 17029740135, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7298460057,
}

func onlyCandidate(t *testing.T, rec *recorder) *sdk.ClusterCandidate {
	t.Helper()
	if len(rec.cands) != 1 {
		t.Fatalf("%d candidates, want 1: %v\nnotes:\n%s", len(rec.cands), rec.cands, rec.notesText())
	}
	return rec.cands[0]
}

// leaks fails if the token shows up anywhere in what the plugin reported.
func leaks(t *testing.T, rec *recorder, tok string) {
	t.Helper()
	all := fmt.Sprint(rec.cands) + rec.notesText()
	if strings.Contains(all, tok) {
		t.Fatalf("the token leaked into candidates or notes")
	}
}

// checkFull asserts everything head B's captures say.
func checkFull(t *testing.T, c *sdk.ClusterCandidate, base string) {
	t.Helper()
	if c.GetSource() != "dashboard-scan" || c.GetDashboardUrl() != base || c.GetRayVersion() != "2.60.0" ||
		c.GetSessionName() != headB.session || c.GetGcsAddress() != headB.gcs || c.GetClusterId() != headB.clusterID ||
		c.GetSessionDir() != headB.sessionDir || c.GetNodeCount() != 1 || c.GetStatus() != sdk.StatusActive || c.GetAuthRequired() {
		t.Fatalf("candidate %v", c)
	}
	if !reflect.DeepEqual(c.GetResourcesTotal(), headBResources) {
		t.Fatalf("resources_total %v", c.GetResourcesTotal())
	}
	// One of head B's two CPUs ran a job (entrypoint_num_cpus=1).
	wantUsed := map[string]float64{"CPU": 1, "memory": 0, "node:192.0.2.2": 0, "node:__internal_head__": 0, "object_store_memory": 0}
	if !reflect.DeepEqual(c.GetResourcesUsed(), wantUsed) {
		t.Fatalf("resources_used %v", c.GetResourcesUsed())
	}
	a := c.GetAttributes()
	if a["head_node_id"] != headB.nodeID || a["head_node_ip"] != "192.0.2.2" || a["node_count_source"] == "" || a["gcs_healthz"] != "success" {
		t.Fatalf("attributes %v", a)
	}
	if len(c.GetEvidence()) < 5 {
		t.Fatalf("evidence %v", c.GetEvidence())
	}
	for _, e := range c.GetEvidence() {
		if !strings.HasPrefix(e, "GET "+base+"/") {
			t.Errorf("evidence %q", e)
		}
	}
}

// TestTokenModeMatrix replays the captured 401/403 matrix: without a token
// the dashboard is still reported (auth_required, what the open endpoints
// said); with a wrong token likewise plus a warning; with the right token
// everything.
func TestTokenModeMatrix(t *testing.T) {
	f := newFakeRay(t, "token", testToken)
	base := f.srv.URL

	t.Run("no token", func(t *testing.T) {
		d := newTestDiscoverer(t, nil, "", "")
		rec, sum, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
		c := onlyCandidate(t, rec)
		if !c.GetAuthRequired() || c.GetDashboardUrl() != base || c.GetStatus() != sdk.StatusActive || c.GetNodeCount() != -1 ||
			c.GetRayVersion() != "" || c.GetSessionName() != "" || c.GetAttributes()["auth_mode"] != "token" {
			t.Fatalf("candidate %v", c)
		}
		if !strings.Contains(strings.Join(c.GetEvidence(), "\n"), "/api/version → 401 token required, none configured") {
			t.Fatalf("evidence %v", c.GetEvidence())
		}
		if sum.GetCandidates() != 1 || sum.GetProbes() != 1 {
			t.Fatalf("summary %v", sum)
		}
		for _, r := range f.requests() {
			if r.auth != "" {
				t.Fatalf("sent Authorization %q without a token", r.auth)
			}
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		before := len(f.requests())
		d := newTestDiscoverer(t, nil, "", `{"auth_token": "not-the-token"}`)
		rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
		c := onlyCandidate(t, rec)
		if !c.GetAuthRequired() || c.GetNodeCount() != -1 || c.GetStatus() != sdk.StatusActive {
			t.Fatalf("candidate %v", c)
		}
		if !strings.Contains(rec.notesText(), "rejected the Ray auth token from "+raytoken.SourceConfig+" (HTTP 403)") {
			t.Fatalf("notes:\n%s", rec.notesText())
		}
		leaks(t, rec, "not-the-token")
		for _, r := range f.requests()[before:] {
			if r.auth != "" && !strings.HasPrefix(r.path, "/api/version") {
				t.Errorf("token sent to %s", r.path)
			}
		}
	})

	t.Run("right token", func(t *testing.T) {
		d := newTestDiscoverer(t, nil, "", `{"auth_token": "`+testToken+`"}`)
		rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
		c := onlyCandidate(t, rec)
		checkFull(t, c, base)
		if c.GetAttributes()["token_source"] != raytoken.SourceConfig || c.GetAttributes()["node_count_source"] != "state_api" {
			t.Fatalf("attributes %v", c.GetAttributes())
		}
		leaks(t, rec, testToken)
	})

	t.Run("token from RAY_AUTH_TOKEN", func(t *testing.T) {
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, "", "")
		rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
		c := onlyCandidate(t, rec)
		checkFull(t, c, base)
		if c.GetAttributes()["token_source"] != raytoken.SourceEnv {
			t.Fatalf("attributes %v", c.GetAttributes())
		}
	})

	t.Run("token from ~/.ray/auth_token", func(t *testing.T) {
		home := t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte(testToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d := newTestDiscoverer(t, nil, home, "")
		rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
		checkFull(t, onlyCandidate(t, rec), base)
	})

	for _, r := range f.requests() {
		if r.ua != UserAgent || strings.Contains(r.ua, "Mozilla") {
			t.Fatalf("User-Agent %q on %s", r.ua, r.path)
		}
		if r.auth != "" && (r.path == "/api/authentication_mode" || r.path == "/api/gcs_healthz") {
			t.Fatalf("token sent to the open endpoint %s", r.path)
		}
	}
}

// TestDisabledAndOldRayGetNoToken: a dashboard that did not announce token
// auth never sees the token, and still gives full data.
func TestDisabledAndOldRayGetNoToken(t *testing.T) {
	dis := newFakeRay(t, "disabled", "")
	old := newFakeRay(t, "old", "")
	// An old Ray's version answer: the live one with an older version.
	old.version = []byte(strings.Replace(string(live(t, "api_ray_version.txt")), `"2.60.0"`, `"2.9.3"`, 1))
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, "", "")
	rec, sum, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{dis.port(), old.port()}})
	if len(rec.cands) != 2 || sum.GetCandidates() != 2 || sum.GetProbes() != 2 {
		t.Fatalf("%d candidates, summary %v\n%s", len(rec.cands), sum, rec.notesText())
	}
	for _, c := range rec.cands {
		switch c.GetDashboardUrl() {
		case dis.srv.URL:
			checkFull(t, c, dis.srv.URL)
			if c.GetAttributes()["auth_mode"] != "disabled" {
				t.Fatalf("attributes %v", c.GetAttributes())
			}
		case old.srv.URL:
			if c.GetRayVersion() != "2.9.3" || c.GetNodeCount() != 1 || c.GetAuthRequired() ||
				!strings.HasPrefix(c.GetAttributes()["auth_mode"], "none") {
				t.Fatalf("old ray: %v", c)
			}
		default:
			t.Fatalf("unexpected candidate %v", c)
		}
		if _, ok := c.GetAttributes()["token_source"]; ok {
			t.Fatalf("token_source on a dashboard without token auth: %v", c.GetAttributes())
		}
	}
	for _, f := range []*fakeRay{dis, old} {
		for _, r := range f.requests() {
			if r.auth != "" {
				t.Fatalf("%s (%s) got a token on %s", f.srv.URL, f.mode, r.path)
			}
		}
	}
}

// TestNotRay: HTTP servers that are not Ray are not reported.
func TestNotRay(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"html everywhere": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<!doctype html><html><body>It works!</body></html>")
		},
		"json without ray_version": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"version": "10.4.2", "commit": "abc", "database": "ok"}`)
		},
		"401 everywhere": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		},
		"404 everywhere": http.NotFound,
		"auth mode json everywhere": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"authentication_mode": "token"}`)
		},
		"redirect everywhere": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1:1/", http.StatusFound)
		},
	}
	var ports []uint32
	for _, h := range handlers {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		f := &fakeRay{srv: s}
		ports = append(ports, f.port())
	}
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, "", "")
	rec, sum, _ := discover(t, d, &sdk.DiscoverRequest{Ports: ports})
	if len(rec.cands) != 0 {
		t.Fatalf("reported non-Ray servers: %v", rec.cands)
	}
	if int(sum.GetProbes()) != len(handlers) {
		t.Fatalf("summary %v", sum)
	}
	notes := rec.notesText()
	if strings.Count(notes, "not a Ray dashboard") != len(handlers) || !strings.Contains(notes, fmt.Sprintf("%d other HTTP servers", len(handlers))) {
		t.Fatalf("notes:\n%s", notes)
	}
}

// TestRedirectToAnotherOriginRefused: a server that redirects to a real
// (fake) Ray on another port does not make the scanner follow it.
func TestRedirectToAnotherOriginRefused(t *testing.T) {
	ray := newFakeRay(t, "token", testToken)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ray.srv.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redir.Close)
	d := newTestDiscoverer(t, nil, "", `{"auth_token": "`+testToken+`"}`)
	rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{(&fakeRay{srv: redir}).port()}})
	if len(rec.cands) != 0 || len(ray.requests()) != 0 {
		t.Fatalf("followed a redirect to another origin: %v, ray saw %v", rec.cands, ray.requests())
	}
}

// TestStateAPIFallback: when the State API fails, /nodes?view=summary
// gives the node count and resources (names mapped back from camelCase).
func TestStateAPIFallback(t *testing.T) {
	f := newFakeRay(t, "token", testToken)
	f.v0Fail = true
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, "", "")
	rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{f.port()}})
	c := onlyCandidate(t, rec)
	checkFull(t, c, f.srv.URL)
	if c.GetAttributes()["node_count_source"] != "nodes_summary" {
		t.Fatalf("attributes %v", c.GetAttributes())
	}
	for _, r := range f.requests() {
		if strings.HasPrefix(r.path, "/nodes/") {
			t.Fatalf("asked %s although the summary had the head's command line", r.path)
		}
	}
}

// hangingListeners accepts TCP connections and never answers; it counts
// the connections the client has closed.
type hangingListeners struct {
	ports  []uint32
	open   atomic.Int64
	closed atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	hung  bool
}

// hangUp closes every connection, accepted so far or later.
func (h *hangingListeners) hangUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hung = true
	for _, c := range h.conns {
		c.Close()
	}
}

func newHanging(t *testing.T, n int) *hangingListeners {
	h := &hangingListeners{}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // registered first, so it runs after the listeners are closed
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.ports = append(h.ports, uint32(l.Addr().(*net.TCPAddr).Port))
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				h.open.Add(1)
				h.mu.Lock()
				h.conns = append(h.conns, c)
				if h.hung {
					c.Close()
				}
				h.mu.Unlock()
				wg.Go(func() {
					_, _ = io.Copy(io.Discard, c) // returns when either side closes
					h.closed.Add(1)
				})
			}
		})
		t.Cleanup(func() { l.Close() })
	}
	t.Cleanup(h.hangUp)
	return h
}

// closedPorts returns n distinct ports with nothing listening (all are
// held at once while picked, so the kernel cannot hand one out twice).
func closedPorts(t *testing.T, n int) []uint32 {
	var out []uint32
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, uint32(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// TestConcurrentProbes: 20 servers that never answer are probed all at
// once with the default concurrency, not one after another; with
// concurrency 4, four at a time (the bound holds). Each probe ends at its
// timeout. 20 closed ports are refused at once, without waiting for the
// probe timeout.
func TestConcurrentProbes(t *testing.T) {
	h := newHanging(t, 20)
	d := newTestDiscoverer(t, nil, "", "")

	rec, sum, _ := discover(t, d, &sdk.DiscoverRequest{Ports: h.ports, ProbeTimeoutMs: 200})
	if len(rec.cands) != 0 || sum.GetProbes() != 20 || !strings.Contains(rec.notesText(), "20 timed out") {
		t.Fatalf("summary %v notes:\n%s", sum, rec.notesText())
	}
	h.waitClosed(t)

	// The servers hold every connection and the probe timeout is past the
	// hang guard: the probes in flight together are the connections the
	// servers accepted.
	inFlight := func(cfg string, want int64) {
		t.Helper()
		base := h.open.Load()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := d.Discover(ctx, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: h.ports,
				ProbeTimeoutMs: 600000, TimeoutMs: 600000, ConfigJson: []byte(cfg)}, &recorder{})
			done <- err
		}()
		if !waitFor(func() bool { return h.open.Load()-base >= want }) {
			t.Fatalf("config %s: %d probes in flight together, want %d", cfg, h.open.Load()-base, want)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Fatalf("config %s: Discover did not return after the cancellation", cfg)
		}
		if n := h.open.Load() - base; n != want {
			t.Errorf("config %s: %d probes, want %d (no more while %d are in flight)", cfg, n, want, want)
		}
		h.waitClosed(t)
	}
	inFlight(`{"concurrency": 4}`, 4)
	inFlight(`{}`, 20)

	cp := closedPorts(t, 20)
	rec, sum, _ = discover(t, d, &sdk.DiscoverRequest{Ports: cp, ProbeTimeoutMs: 600000})
	if sum.GetProbes() != 20 || !strings.Contains(rec.notesText(), "20 closed") {
		t.Fatalf("closed ports: %v, notes:\n%s", sum, rec.notesText())
	}
}

// hangGuard bounds waits for something that must happen; it only fails a
// test that would otherwise hang, never a slow machine.
const hangGuard = 60 * time.Second

// waitFor polls cond until it holds (true) or hangGuard passes (false).
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitClosed waits until every connection the servers accepted is closed.
func (h *hangingListeners) waitClosed(t *testing.T) {
	t.Helper()
	if !waitFor(func() bool { return h.closed.Load() == h.open.Load() }) {
		t.Fatalf("%d connections opened, %d closed", h.open.Load(), h.closed.Load())
	}
}

// TestSlowServer: a server slower than the probe timeout is given up on
// after one probe timeout and not reported. The server answers only when
// the client hangs up (or at the test's end), so only the probe timeout
// can end the probe.
func TestSlowServer(t *testing.T) {
	var requests, gaveUp atomic.Int64
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-r.Context().Done():
			gaveUp.Add(1)
		case <-release:
		}
		_, _ = io.WriteString(w, `{"authentication_mode": "disabled"}`)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(slow.CloseClientConnections)
	t.Cleanup(func() { close(release) })
	d := newTestDiscoverer(t, nil, "", "")
	rec, _, _ := discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{(&fakeRay{srv: slow}).port()}, ProbeTimeoutMs: 200})
	if len(rec.cands) != 0 || !strings.Contains(rec.notesText(), "1 timed out") {
		t.Fatalf("candidates %v, notes:\n%s", rec.cands, rec.notesText())
	}
	if !waitFor(func() bool { return gaveUp.Load() == 1 }) || requests.Load() != 1 {
		t.Fatalf("%d requests, %d given up on; want one, given up on", requests.Load(), gaveUp.Load())
	}
}

// TestCancel: cancelling the call returns promptly (the probe timeout is
// past the hang guard) and closes every connection the probes had open.
func TestCancel(t *testing.T) {
	h := newHanging(t, 20)
	d := newTestDiscoverer(t, nil, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := d.Discover(ctx, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: h.ports, ProbeTimeoutMs: 600000, TimeoutMs: 600000}, &recorder{})
		done <- err
	}()
	if !waitFor(func() bool { return h.open.Load() == 20 }) {
		t.Fatalf("only %d of 20 probes started", h.open.Load())
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the cancelled Discover returned no error")
		}
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return after the cancellation")
	}
	h.waitClosed(t)
}

// TestTimeBudget: the call's budget ends the round with a summary that
// says so, before the daemon's deadline. The probe timeout is past the
// hang guard, so only the budget can end the round.
func TestTimeBudget(t *testing.T) {
	h := newHanging(t, 4)
	d := newTestDiscoverer(t, nil, "", "")
	rec, sum, took := discover(t, d, &sdk.DiscoverRequest{Ports: h.ports, ProbeTimeoutMs: 600000, TimeoutMs: 600})
	t.Logf("budget 600ms: returned after %v", took)
	if len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "time budget") {
		t.Fatalf("summary %v notes:\n%s", sum, rec.notesText())
	}
}

// TestScopeCIDRAndAddresses: a CIDR block in the request is expanded; a
// dashboard URL among the request's addresses is probed too.
func TestScopeCIDRAndAddresses(t *testing.T) {
	f := newFakeRay(t, "disabled", "")
	d := newTestDiscoverer(t, nil, "", "")
	rec, sum, _ := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.0/30"}, Ports: []uint32{f.port()}})
	if sum.GetProbes() != 2 || len(rec.cands) != 1 || rec.cands[0].GetDashboardUrl() != f.srv.URL {
		t.Fatalf("summary %v candidates %v", sum, rec.cands)
	}
	other := closedPorts(t, 1)
	rec, sum, _ = discover(t, d, &sdk.DiscoverRequest{Ports: other, Addresses: []string{f.srv.URL, "127.0.0.1:6379", "ray://127.0.0.1:10001"}})
	if sum.GetProbes() != 2 || len(rec.cands) != 1 || rec.cands[0].GetDashboardUrl() != f.srv.URL {
		t.Fatalf("addresses: summary %v candidates %v", sum, rec.cands)
	}
}

func TestScopeErrors(t *testing.T) {
	d := newTestDiscoverer(t, nil, "", "")
	for _, req := range []*sdk.DiscoverRequest{
		{Hosts: []string{"10.0.0.0/16"}},
		{Hosts: []string{"http://127.0.0.1:8265"}},
		{Ports: []uint32{0}},
		{Ports: []uint32{70000}},
		{ConfigJson: []byte(`{"concurrency": -1}`)},
		{ConfigJson: []byte(`{"nope": 1}`)},
	} {
		_, err := d.Discover(context.Background(), req, &recorder{})
		if err == nil {
			t.Errorf("%v: no error", req)
		}
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("  from-file  \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	_ = os.MkdirAll(filepath.Join(home, ".ray"), 0o700)
	_ = os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte("from-home\n"), 0o600)
	homeFn := func() (string, error) { return home, nil }
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cases := []struct {
		cfg        string
		env        map[string]string
		value, org string
		problem    bool
	}{
		{"from-config", map[string]string{"RAY_AUTH_TOKEN": "from-env"}, "from-config", raytoken.SourceConfig, false},
		{"", map[string]string{"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": file}, "from-env", raytoken.SourceEnv, false},
		{"", map[string]string{"RAY_AUTH_TOKEN_PATH": file}, "from-file", raytoken.SourceEnvPath, false},
		{"", map[string]string{"RAY_AUTH_TOKEN_PATH": filepath.Join(dir, "missing")}, "", "", true},
		{"", nil, "from-home", raytoken.SourceHomeFile, false},
	}
	for i, c := range cases {
		tok, problem := resolveToken(c.cfg, env(c.env), homeFn)
		if tok.value != c.value || tok.origin != c.org || (problem != "") != c.problem {
			t.Errorf("case %d: %+v %q", i, tok, problem)
		}
	}
	tok, _ := resolveToken("", env(nil), func() (string, error) { return "", errors.New("no home") })
	if tok.value != "" {
		t.Fatalf("token without any source: %+v", tok)
	}
}

// TestStreamsAsFound: a dashboard's candidate is streamed while other
// probes are still waiting. The silent servers hang up only when the sink
// has received the candidate, and the probe timeout is past the hang
// guard, so a plugin that sent its candidates at the end would never
// finish (the guard's deadline fails the call).
func TestStreamsAsFound(t *testing.T) {
	f := newFakeRay(t, "disabled", "")
	h := newHanging(t, 3)
	d := newTestDiscoverer(t, nil, "", "")
	rec := &recorder{onCandidate: h.hangUp}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	start := time.Now()
	sum, err := d.Discover(ctx, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: append([]uint32{f.port()}, h.ports...),
		ProbeTimeoutMs: 600000, TimeoutMs: 600000}, rec)
	if err != nil {
		t.Fatalf("%v: the candidate was not streamed before the other probes ended", err)
	}
	c := onlyCandidate(t, rec)
	t.Logf("candidate arrived after %v (its probe took %d ms); round took %v", rec.first.Sub(start), c.GetElapsedMs(), time.Since(start))
	if sum.GetProbes() != 4 || !strings.Contains(rec.notesText(), " 0 timed out") {
		t.Fatalf("summary %v notes:\n%s", sum, rec.notesText())
	}
}
