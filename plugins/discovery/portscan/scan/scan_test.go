package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/castray/castray/plugins/discovery/portscan/scan"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// plugin returns the scanner behind the real gRPC path, configured.
func plugin(t *testing.T, cfg map[string]any) sdk.Discoverer {
	t.Helper()
	return pluginOf(t, scan.New(nil), cfg)
}

// pluginOf is plugin around a given Scanner.
func pluginOf(t *testing.T, s *scan.Scanner, cfg map[string]any) sdk.Discoverer {
	t.Helper()
	// No token from the test's environment or home.
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	t.Setenv("HOME", t.TempDir())
	d := plugintest.Discovery(t, s)
	raw, _ := json.Marshal(cfg)
	errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw})
	if err != nil || errs != nil {
		t.Fatalf("Configure: %v %v", errs, err)
	}
	return d
}

// hangGuard bounds waits for something that must happen; it only fails a
// test that would otherwise hang, never a slow machine.
const hangGuard = 60 * time.Second

// discover runs one Discover call. Its duration is for logs only; the call
// fails the test if it has not returned after hangGuard.
func discover(t *testing.T, d sdk.Discoverer, req *sdk.DiscoverRequest) (*collector, *sdk.DiscoverSummary, time.Duration) {
	t.Helper()
	c := &collector{}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	start := time.Now()
	sum, err := d.Discover(ctx, req, c)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return c, sum, time.Since(start)
}

func ports(ps ...int) []uint32 {
	var out []uint32
	for _, p := range ps {
		out = append(out, uint32(p))
	}
	return out
}

func addr(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }

func TestInfoAndSchema(t *testing.T) {
	d := plugin(t, nil)
	info, err := d.Info(context.Background())
	if err != nil || info.GetName() != "portscan" || info.GetKind() != sdk.KindDiscovery || info.GetPluginVersion() != "0.1.0" ||
		!slices.Equal(info.GetApiVersions(), []uint32{sdk.APIVersion}) {
		t.Fatalf("Info = %v, %v", info, err)
	}
	schema, err := d.ConfigSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range schema.GetFields() {
		keys = append(keys, f.GetName())
		if f.GetType() == "" || f.GetDescription() == "" || f.GetDefaultJson() == "" {
			t.Errorf("field %s incomplete: %v", f.GetName(), f)
		}
		if !json.Valid([]byte(f.GetDefaultJson())) {
			t.Errorf("field %s: default %q is not JSON", f.GetName(), f.GetDefaultJson())
		}
	}
	want := []string{"hosts", "gcs_ports", "extra_ports", "concurrency", "rate_per_second", "allow_wide_scan", "auth_token"}
	if !slices.Equal(keys, want) {
		t.Fatalf("schema keys = %v, want %v", keys, want)
	}
}

func TestConfigureErrorsNameKeys(t *testing.T) {
	d := plugintest.Discovery(t, scan.New(nil))
	cases := []struct {
		cfg  string
		keys []string
	}{
		{`{"hosts": ["10.0.0.0/23"]}`, []string{"hosts[0]"}},
		{`{"hosts": ["127.0.0.1", "10.0.0.0/8"], "allow_wide_scan": true}`, []string{"hosts[1]"}},
		{`{"hosts": []}`, []string{"hosts"}},
		{`{"hosts": ["127.0.0.1:6379"]}`, []string{"hosts[0]"}},
		{`{"gcs_ports": [6380, 0], "extra_ports": [70000]}`, []string{"gcs_ports[1]", "extra_ports[0]"}},
		{`{"concurrency": 0, "rate_per_second": -1}`, []string{"concurrency", "rate_per_second"}},
		{`{"concurrency": "many"}`, []string{"concurrency"}},
		{`{"portz": [1]}`, []string{"portz"}},
	}
	for _, c := range cases {
		errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(c.cfg)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range errs {
			keys = append(keys, e.GetKey())
		}
		if !slices.Equal(keys, c.keys) {
			t.Errorf("%s: error keys %v (%s), want %v", c.cfg, keys, sdk.ConfigErrorsString(errs), c.keys)
		}
	}
	ok := []string{``, `{}`, `{"hosts": ["10.0.0.0/23"], "allow_wide_scan": true}`, `{"hosts": ["localhost", "::1", "192.168.7.0/24"], "gcs_ports": [6380], "extra_ports": [9999], "concurrency": 8, "rate_per_second": 50.5, "auth_token": "x"}`}
	for _, cfg := range ok {
		if errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)}); err != nil || errs != nil {
			t.Errorf("%s: %v %v", cfg, errs, err)
		}
	}
}

// findByAddr returns the candidate with that GCS address, dashboard URL or
// client address.
func findCand(cands []*sdk.ClusterCandidate, pred func(*sdk.ClusterCandidate) bool) *sdk.ClusterCandidate {
	for _, c := range cands {
		if pred(c) {
			return c
		}
	}
	return nil
}

func mentions(c *sdk.ClusterCandidate, port int) bool {
	s := fmt.Sprint(c.GetGcsAddress(), c.GetDashboardUrl(), c.GetClientAddress(), c.GetAttributes())
	return strings.Contains(s, fmt.Sprintf(":%d", port))
}

func noteFor(c *collector, port int) *sdk.DiscoverNote {
	for _, n := range c.Notes() {
		if n.GetTarget() == addr(port) {
			return n
		}
	}
	return nil
}

// A Ray head without auth, next to servers that are not Ray.
func TestFingerprintsRayAndNothingElse(t *testing.T) {
	agent := startFakeAgent(t)
	gcs := startFakeGCS(t, "", agent.port)
	dash := startFakeDashboard(t, "")
	client := startFakeClientServer(t, "")
	nonRayGRPC := startNonRayGRPC(t)
	plainHTTP := startHTTP(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok": true}`)) })
	silent := startSilent(t)
	closed := closedPorts(t, 3)

	d := plugin(t, map[string]any{"auth_token": "secret-token-never-sent"})
	all := append(ports(gcs.port, dash.port, client.port, agent.port, nonRayGRPC.port, plainHTTP.port, silent.port), closed...)
	c, sum, took := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: all, ProbeTimeoutMs: 5000})
	t.Logf("scan of %d ports took %v; summary %v", len(all), took, sum)

	if len(c.Candidates()) != 2 || sum.GetCandidates() != 2 || sum.GetProbes() != uint32(len(all)) {
		t.Fatalf("candidates = %d (summary %v): %v", len(c.Candidates()), sum, c.Candidates())
	}
	g := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() != "" })
	if g == nil {
		t.Fatal("no GCS candidate")
	}
	if g.GetSource() != "portscan" || g.GetGcsAddress() != addr(gcs.port) || g.GetClusterId() != liveClusterID ||
		g.GetRayVersion() != "2.60.0" || g.GetNodeCount() != 1 || g.GetStatus() != sdk.StatusActive || g.GetAuthRequired() {
		t.Errorf("GCS candidate: %v", g)
	}
	if g.GetSessionName() != liveSessionName || g.GetSessionDir() != liveSessionDir {
		t.Errorf("session: %q %q", g.GetSessionName(), g.GetSessionDir())
	}
	if g.GetDashboardUrl() != "http://"+addr(dash.port) {
		t.Errorf("dashboard not joined by session: %q", g.GetDashboardUrl())
	}
	if g.GetAttributes()["dashboard_agent"] != addr(agent.port) {
		t.Errorf("agent not joined: %v", g.GetAttributes())
	}
	rt := g.GetResourcesTotal()
	if rt["CPU"] != 1 || rt["memory"] <= 0 || rt["object_store_memory"] <= 0 || len(rt) != 3 {
		t.Errorf("resources: %v", rt)
	}
	if len(g.GetEvidence()) < 5 {
		t.Errorf("evidence: %v", g.GetEvidence())
	}
	cl := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetClientAddress() != "" })
	if cl == nil || cl.GetClientAddress() != "ray://"+addr(client.port) || cl.GetNodeCount() != -1 || cl.GetAuthRequired() || cl.GetStatus() != sdk.StatusActive {
		t.Errorf("client candidate: %v", cl)
	}

	// Not Ray: no candidate mentions them; each has a note.
	for _, p := range []int{nonRayGRPC.port, plainHTTP.port, silent.port} {
		for _, x := range c.Candidates() {
			if mentions(x, p) {
				t.Errorf("port %d (not Ray) in candidate %v", p, x)
			}
		}
		if n := noteFor(c, p); n == nil || !strings.Contains(n.GetMessage(), "not Ray") {
			t.Errorf("port %d: note %v", p, n)
		}
	}
	for _, p := range closed {
		if n := noteFor(c, int(p)); n != nil {
			t.Errorf("closed port %d has a note: %v", p, n)
		}
	}
	// Auth is off everywhere: the token was never sent to anyone.
	for name, seen := range map[string][]string{"gcs": gcs.auth.all(), "dashboard": dash.auth.all(), "client": client.auth.all(),
		"agent": agent.auth.all(), "non-Ray gRPC": nonRayGRPC.auth.all(), "plain HTTP": plainHTTP.auth.all()} {
		if len(seen) > 0 {
			t.Errorf("%s received credentials %v", name, seen)
		}
	}
	for _, n := range c.Notes() {
		if strings.Contains(n.GetMessage(), "secret-token") {
			t.Errorf("token in a note: %v", n)
		}
	}
	for _, x := range c.Candidates() {
		if strings.Contains(fmt.Sprint(x), "secret-token") {
			t.Errorf("token in a candidate: %v", x)
		}
	}
}

func TestTokenMode(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	agent := startFakeAgent(t)
	gcs := startFakeGCS(t, token, agent.port)
	dash := startFakeDashboard(t, token)
	client := startFakeClientServer(t, token)
	nonRayGRPC := startNonRayGRPC(t)
	plainHTTP := startHTTP(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	all := ports(gcs.port, dash.port, client.port, agent.port, nonRayGRPC.port, plainHTTP.port)
	req := &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: all, ProbeTimeoutMs: 5000}

	t.Run("no token", func(t *testing.T) {
		c, _, _ := discover(t, plugin(t, nil), req)
		if len(c.Candidates()) != 3 {
			t.Fatalf("want GCS, dashboard and client candidates, got %v", c.Candidates())
		}
		for _, x := range c.Candidates() {
			if !x.GetAuthRequired() || x.GetClusterId() != "" || x.GetStatus() != sdk.StatusActive {
				t.Errorf("candidate without token: %v", x)
			}
		}
		g := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() == addr(gcs.port) })
		if g == nil || g.GetAttributes()["auth_mode"] != "token" || g.GetNodeCount() != -1 {
			t.Errorf("GCS: %v", g)
		}
		dc := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetDashboardUrl() != "" })
		if dc == nil || dc.GetGcsAddress() != "" || dc.GetAttributes()["auth_mode"] != "token" {
			t.Errorf("dashboard: %v", dc)
		}
		// The agent cannot be tied to a cluster without the node list.
		if n := noteFor(c, agent.port); n == nil || !strings.Contains(n.GetMessage(), "dashboard agent") {
			t.Errorf("agent note: %v", n)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		c, _, _ := discover(t, plugin(t, map[string]any{"auth_token": "wrong"}), req)
		for _, x := range c.Candidates() {
			if !x.GetAuthRequired() || x.GetClusterId() != "" {
				t.Errorf("candidate with a wrong token: %v", x)
			}
		}
		g := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() != "" })
		if g == nil || g.GetAttributes()["auth"] != "token rejected" {
			t.Errorf("GCS: %v", g)
		}
	})

	for _, how := range []string{"config", "env", "file"} {
		t.Run("token from "+how, func(t *testing.T) {
			var d sdk.Discoverer
			switch how {
			case "config":
				d = plugin(t, map[string]any{"auth_token": token})
			case "env":
				d = plugin(t, nil)
				t.Setenv("RAY_AUTH_TOKEN", token)
			case "file":
				d = plugin(t, nil)
				p := t.TempDir() + "/token"
				if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("RAY_AUTH_TOKEN_PATH", p)
			}
			c, _, _ := discover(t, d, req)
			if len(c.Candidates()) != 2 {
				t.Fatalf("want the joined GCS candidate and the client, got %v", c.Candidates())
			}
			g := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() != "" })
			if g == nil || g.GetAuthRequired() || g.GetClusterId() != liveClusterID || g.GetNodeCount() != 1 || g.GetRayVersion() != "2.60.0" ||
				g.GetDashboardUrl() != "http://"+addr(dash.port) || g.GetSessionName() != liveSessionName || g.GetAttributes()["dashboard_agent"] != addr(agent.port) {
				t.Errorf("GCS with token: %v", g)
			}
			cl := findCand(c.Candidates(), func(x *sdk.ClusterCandidate) bool { return x.GetClientAddress() != "" })
			if cl == nil || cl.GetAuthRequired() {
				t.Errorf("client with token: %v", cl)
			}
			for _, x := range c.Candidates() {
				if strings.Contains(fmt.Sprint(x), token) {
					t.Errorf("token in a candidate: %v", x)
				}
			}
		})
	}
	// Whatever the token source, the servers that are not Ray never saw it.
	if seen := append(nonRayGRPC.auth.all(), plainHTTP.auth.all()...); len(seen) > 0 {
		t.Errorf("non-Ray servers received credentials: %v", seen)
	}
	// The agent never needs the token either.
	if seen := agent.auth.all(); len(seen) > 0 {
		t.Errorf("agent received credentials: %v", seen)
	}
}

// A gRPC server that refuses every method without credentials cannot be
// told from Ray: it is not reported as a cluster, and gets no token.
func TestGRPCServerRefusingEverything(t *testing.T) {
	deny := grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(codes.Unauthenticated, "no")
	})
	nr := startNonRayGRPC(t, deny, grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return nil, status.Error(codes.Unauthenticated, "no")
	}))
	c, _, _ := discover(t, plugin(t, map[string]any{"auth_token": "tok"}), &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ports(nr.port)})
	if len(c.Candidates()) != 0 {
		t.Fatalf("candidates: %v", c.Candidates())
	}
	if n := noteFor(c, nr.port); n == nil || !strings.Contains(n.GetMessage(), "cannot tell") {
		t.Errorf("note: %v", n)
	}
	if seen := nr.auth.all(); len(seen) > 0 {
		t.Errorf("received credentials: %v", seen)
	}
}

// TestClosedPortsAreCheap: a refused connection ends its port's probe at
// once: neither the probe timeout (ten minutes here, past the hang guard)
// nor the rate limiter (burst 64 at the default 500/s) is waited for.
func TestClosedPortsAreCheap(t *testing.T) {
	s := scan.New(nil)
	clock := scan.UseFakeLimiterClock(s)
	d := pluginOf(t, s, nil)
	closed := closedPorts(t, 20)
	c, sum, took := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: closed, ProbeTimeoutMs: 600000})
	t.Logf("20 closed ports on 127.0.0.1: %v (plugin says %d ms), default concurrency 64 and rate 500/s", took, sum.GetElapsedMs())
	if len(c.Candidates()) != 0 || len(c.Notes()) != 0 || sum.GetProbes() != 20 || len(sum.GetErrors()) != 0 {
		t.Fatalf("closed ports: %v %v %v", c.Candidates(), c.Notes(), sum)
	}
	if clock.Slept() != 0 {
		t.Fatalf("20 closed ports waited %v for the rate limiter", clock.Slept())
	}
}

// TestRateLimit: 10/s with a burst of min(concurrency, rate) = 10: 15
// ports need half a second of the limiter's (fake) clock.
func TestRateLimit(t *testing.T) {
	s := scan.New(nil)
	clock := scan.UseFakeLimiterClock(s)
	d := pluginOf(t, s, map[string]any{"rate_per_second": 10})
	_, sum, _ := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: closedPorts(t, 15)})
	t.Logf("15 closed ports at 10/s: the limiter waited %v", clock.Slept())
	if clock.Slept() < 490*time.Millisecond || sum.GetProbes() != 15 {
		t.Fatalf("rate limit not applied: waited %v, %v", clock.Slept(), sum)
	}
}

// TestConcurrencyBound: with concurrency 1 one port is probed at a time;
// with concurrency 4 the four are probed at once. The silent listeners
// hold every connection until the probe gives up (a probe timeout far
// past the hang guard), so: with concurrency 4 all four ports get their
// connections while none has given up; with concurrency 1 only one port
// has been reached when the call is cancelled.
func TestConcurrencyBound(t *testing.T) {
	var ps []uint32
	var ls []*silentListener
	for range 4 {
		s := startSilent(t)
		ls = append(ls, s)
		ps = append(ps, uint32(s.port))
	}
	req := &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ps, ProbeTimeoutMs: 600000}
	reached := func() (n int) {
		for _, s := range ls {
			// The probe's TCP check, then its held gRPC connection.
			if _, all := s.counts(); all >= 2 {
				n++
			}
		}
		return n
	}
	run := func(concurrency, want int) {
		t.Helper()
		before := make([]int, len(ls))
		for i, s := range ls {
			_, before[i] = s.counts()
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		d := plugin(t, map[string]any{"concurrency": concurrency})
		go func() {
			_, err := d.Discover(ctx, req, &collector{})
			done <- err
		}()
		if !waitFor(func() bool { return reached() >= want }) {
			t.Fatalf("concurrency %d: %d of %d ports reached together", concurrency, reached(), want)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Fatalf("concurrency %d: Discover did not return after the cancellation", concurrency)
		}
		if n := reached(); n != want {
			t.Errorf("concurrency %d: %d ports were probed at once, want %d", concurrency, n, want)
		}
		for _, s := range ls {
			waitClosed(t, s)
		}
	}
	run(4, 4)
	for _, s := range ls {
		s.reset()
	}
	run(1, 1)
}

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

func waitClosed(t *testing.T, s *silentListener) {
	t.Helper()
	if !waitFor(func() bool { open, _ := s.counts(); return open == 0 }) {
		open, all := s.counts()
		t.Fatalf("silent listener on %d: %d of %d connections still open", s.port, open, all)
	}
}

func TestWideScanGuard(t *testing.T) {
	d := plugin(t, nil)
	c, sum, _ := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"10.0.0.0/16"}, Ports: ports(6379)})
	if sum.GetProbes() != 0 || len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "allow_wide_scan") {
		t.Fatalf("wide request scanned: %v", sum)
	}
	if len(c.Notes()) != 1 || c.Notes()[0].GetLevel() != "error" || c.Notes()[0].GetTarget() != "10.0.0.0/16" {
		t.Fatalf("notes: %v", c.Notes())
	}
	// A narrow loopback block is scanned: 127.0.0.1 and 127.0.0.2.
	closed := closedPorts(t, 2)
	_, sum, _ = discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.0/30", "10.0.0.0/8"}, Ports: closed})
	if sum.GetProbes() != 4 || len(sum.GetErrors()) != 1 {
		t.Fatalf("/30: %v", sum)
	}
	// allow_wide_scan lets a /23 through (but nothing over a /16).
	wide := plugin(t, map[string]any{"allow_wide_scan": true, "rate_per_second": 100000, "concurrency": 256})
	_, sum, took := discover(t, wide, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.0/23", "127.0.0.0/15"}, Ports: closedPorts(t, 1), ProbeTimeoutMs: 200})
	t.Logf("127.0.0.0/23, one closed port: %v, %v", took, sum)
	if sum.GetProbes() != 510 || len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "65536") {
		t.Fatalf("allow_wide_scan: %v", sum)
	}
}

// TestCancelReturnsPromptly: cancelling the call ends every probe at once
// (the probe timeout is past the hang guard), closes their connections and
// leaves no goroutine behind.
func TestCancelReturnsPromptly(t *testing.T) {
	var ps []uint32
	var ls []*silentListener
	for range 5 {
		s := startSilent(t)
		ls = append(ls, s)
		ps = append(ps, uint32(s.port))
	}
	d := plugin(t, nil)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := d.Discover(ctx, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ps, ProbeTimeoutMs: 600000}, &collector{})
		done <- err
	}()
	// Every port is being probed (its gRPC connection is held) when the
	// call is cancelled.
	if !waitFor(func() bool {
		for _, s := range ls {
			if _, all := s.counts(); all < 2 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not every port was probed")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("cancelled Discover returned no error")
		}
	case <-time.After(hangGuard):
		t.Fatal("cancelled Discover did not return")
	}
	for _, s := range ls {
		waitClosed(t, s)
	}
	// The scan's goroutines are gone (a little slack for the gRPC path).
	if !waitFor(func() bool { return runtime.NumGoroutine() <= before+5 }) {
		t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
	}
}

// TestTimeBudget: the request's budget ends the scan, which says so. The
// probe timeout is past the hang guard, so only the budget can end it.
func TestTimeBudget(t *testing.T) {
	var ps []uint32
	for range 3 {
		ps = append(ps, uint32(startSilent(t).port))
	}
	d := plugin(t, map[string]any{"concurrency": 1})
	_, sum, _ := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ps, TimeoutMs: 300, ProbeTimeoutMs: 600000})
	if len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "time budget") {
		t.Fatalf("budget: %v", sum)
	}
}

func TestRequestConfigOverride(t *testing.T) {
	d := plugin(t, nil)
	_, err := d.Discover(context.Background(), &sdk.DiscoverRequest{ConfigJson: []byte(`{"concurrency": 0}`)}, &collector{})
	if err == nil || !strings.Contains(err.Error(), "concurrency") {
		t.Fatalf("bad override: %v", err)
	}
	_, err = d.Discover(context.Background(), &sdk.DiscoverRequest{ConfigJson: []byte(`{"hosts": ["10.0.0.0/20"]}`)}, &collector{})
	if err == nil || !strings.Contains(err.Error(), "hosts[0]") {
		t.Fatalf("wide override: %v", err)
	}
	// A good override applies to this call only.
	closed := closedPorts(t, 1)
	_, sum, _ := discover(t, d, &sdk.DiscoverRequest{Ports: closed, ConfigJson: []byte(`{"hosts": ["127.0.0.1", "127.0.0.2"]}`)})
	if sum.GetProbes() != 2 {
		t.Fatalf("override: %v", sum)
	}
	_, sum, _ = discover(t, d, &sdk.DiscoverRequest{Ports: closed})
	if sum.GetProbes() != 1 {
		t.Fatalf("override leaked into the next call: %v", sum)
	}
}

// Known addresses (e.g. RAY_ADDRESS) are probed exactly, besides the scan.
func TestKnownAddresses(t *testing.T) {
	gcs := startFakeGCS(t, "", 0)
	closed := closedPorts(t, 1)
	c, sum, _ := discover(t, plugin(t, nil), &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: closed, Addresses: []string{addr(gcs.port), "auto"}})
	if sum.GetProbes() != 2 || len(c.Candidates()) != 1 || c.Candidates()[0].GetGcsAddress() != addr(gcs.port) {
		t.Fatalf("addresses: %v %v", sum, c.Candidates())
	}
	// The captured agent port (38947) is not open here: no agent joined.
	if _, ok := c.Candidates()[0].GetAttributes()["dashboard_agent"]; ok {
		t.Errorf("agent attribute without an agent: %v", c.Candidates()[0].GetAttributes())
	}
}

// Default scope: loopback, Ray's well-known ports. Whatever runs there on
// this machine, the scan finishes well within the default budget.
func TestDefaultScope(t *testing.T) {
	_, sum, took := discover(t, plugin(t, nil), &sdk.DiscoverRequest{ProbeTimeoutMs: 500})
	t.Logf("default scope (127.0.0.1, %d ports): %v", sum.GetProbes(), took)
	if sum.GetProbes() != 8 {
		t.Fatalf("default ports: %v", sum)
	}
}

// A GCS that answers CheckAlive but not the detail calls still yields a
// candidate, with warn notes and an unknown node count.
func TestGCSPartialAnswers(t *testing.T) {
	g := startFakeRay(t, "", "", map[string]func([]byte) ([]byte, error){
		"/ray.rpc.NodeInfoGcsService/CheckAlive":   replay(grpcCapture(t, "check_alive_reply.pb")),
		"/ray.rpc.NodeInfoGcsService/GetClusterId": replay([]byte{0x12, 0xff}), // truncated bytes field
	})
	c, _, _ := discover(t, plugin(t, nil), &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ports(g.port)})
	if len(c.Candidates()) != 1 || c.Candidates()[0].GetNodeCount() != -1 || c.Candidates()[0].GetRayVersion() != "2.60.0" || c.Candidates()[0].GetClusterId() != "" {
		t.Fatalf("candidates: %v", c.Candidates())
	}
	warns := 0
	for _, n := range c.Notes() {
		if n.GetLevel() == "warn" && n.GetTarget() == addr(g.port) {
			warns++
		}
	}
	if warns != 2 {
		t.Errorf("want 2 warn notes (GetClusterId, GetAllNodeInfo), got %v", c.Notes())
	}
}

// A host that cannot be reached at all is one info note, not one per port.
func TestUnreachableHost(t *testing.T) {
	c, sum, _ := discover(t, plugin(t, nil), &sdk.DiscoverRequest{Hosts: []string{"castray-portscan-test.invalid"}, Ports: ports(6379, 8265), ProbeTimeoutMs: 500})
	if len(c.Candidates()) != 0 || sum.GetProbes() != 2 || len(c.Notes()) != 1 || c.Notes()[0].GetLevel() != "info" ||
		c.Notes()[0].GetTarget() != "castray-portscan-test.invalid" || !strings.Contains(c.Notes()[0].GetMessage(), "not reachable") {
		t.Fatalf("unreachable host: %v %v %v", c.Candidates(), c.Notes(), sum)
	}
}
