// Package portscan_test drives the portscan discovery plugin's logic
// (plugins/discovery/portscan/scan) through the real plugin gRPC path
// (sdk/plugintest) against real Ray heads started by e2e/raycluster: one
// with auth disabled, one in token mode. Two cluster starts in all.
package portscan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/plugins/discovery/portscan/scan"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

type collector struct {
	cands []*sdk.ClusterCandidate
	notes []*sdk.DiscoverNote
}

func (c *collector) Candidate(x *sdk.ClusterCandidate) error {
	c.cands = append(c.cands, x)
	return nil
}
func (c *collector) Note(n *sdk.DiscoverNote) error { c.notes = append(c.notes, n); return nil }

func newPlugin(t *testing.T, cfg map[string]any) sdk.Discoverer {
	t.Helper()
	// Only the token given on purpose: none from the environment or home.
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	t.Setenv("HOME", t.TempDir())
	d := plugintest.Discovery(t, scan.New(nil))
	raw, _ := json.Marshal(cfg)
	if errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw}); err != nil || errs != nil {
		t.Fatalf("Configure: %v %v", errs, err)
	}
	return d
}

// notRay are ports that are open but not Ray (a silent listener, a plain
// HTTP server) plus ports that refuse connections.
type notRay struct {
	silent, http int
	closed       []int
}

func startNotRay(t *testing.T) notRay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status": "ok"}`))
	}))
	t.Cleanup(hs.Close)
	var closed []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed = append(closed, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return notRay{silent: ln.Addr().(*net.TCPAddr).Port, http: hs.Listener.Addr().(*net.TCPAddr).Port, closed: closed}
}

// clusterID reads the cluster id from the raylet's command line
// (--cluster-id=<hex>), a source independent of the plugin.
func clusterID(t *testing.T, c *raycluster.Cluster) string {
	t.Helper()
	for _, p := range c.Processes() {
		for _, a := range p.Cmdline {
			if v, ok := strings.CutPrefix(a, "--cluster-id="); ok && p.Comm == "raylet" {
				return v
			}
		}
	}
	t.Fatal("no raylet with --cluster-id")
	return ""
}

// scanCluster scans exactly the cluster's ports plus the not-Ray ones.
func scanCluster(t *testing.T, d sdk.Discoverer, c *raycluster.Cluster, nr notRay) (*collector, *sdk.DiscoverSummary) {
	t.Helper()
	// raycluster.Start returns once the client server accepts connections
	// too (Ray opens it after the dashboard and GCS answer).
	ps := []uint32{uint32(c.GCSPort), uint32(c.DashboardPort), uint32(c.ClientServerPort), uint32(c.DashboardAgentListenPort),
		uint32(c.DashboardMetricPort), uint32(c.AutoscalerMetricPort), uint32(nr.silent), uint32(nr.http)}
	for _, p := range nr.closed {
		ps = append(ps, uint32(p))
	}
	col := &collector{}
	start := time.Now()
	sum, err := d.Discover(context.Background(), &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}, Ports: ps, ProbeTimeoutMs: 3000, TimeoutMs: 30000}, col)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	t.Logf("scan of %d ports took %v (plugin: %d ms, %d probes)", len(ps), time.Since(start).Round(time.Millisecond), sum.GetElapsedMs(), sum.GetProbes())
	for _, x := range col.cands {
		b, _ := json.Marshal(x)
		t.Logf("candidate: %s", b)
	}
	for _, n := range col.notes {
		t.Logf("note: %s %s %s", n.GetLevel(), n.GetTarget(), n.GetMessage())
	}
	if len(sum.GetErrors()) > 0 {
		t.Errorf("summary errors: %v", sum.GetErrors())
	}
	// Nothing that is not Ray shows up in a candidate.
	bad := map[int]bool{nr.silent: true, nr.http: true, c.DashboardMetricPort: true, c.AutoscalerMetricPort: true}
	for _, p := range nr.closed {
		bad[p] = true
	}
	for _, x := range col.cands {
		for _, p := range candidatePorts(x) {
			if bad[p] {
				t.Errorf("port %d (not Ray) in candidate %v", p, x)
			}
		}
	}
	return col, sum
}

// candidatePorts lists the ports a candidate names.
func candidatePorts(x *sdk.ClusterCandidate) []int {
	var out []int
	addrs := []string{x.GetGcsAddress(), strings.TrimPrefix(x.GetDashboardUrl(), "http://"), strings.TrimPrefix(x.GetClientAddress(), "ray://")}
	addrs = append(addrs, strings.Split(x.GetAttributes()["dashboard_agent"], ",")...)
	for _, a := range addrs {
		if _, p, err := net.SplitHostPort(a); err == nil {
			var n int
			fmt.Sscan(p, &n)
			out = append(out, n)
		}
	}
	return out
}

func find(cands []*sdk.ClusterCandidate, pred func(*sdk.ClusterCandidate) bool) *sdk.ClusterCandidate {
	for _, x := range cands {
		if pred(x) {
			return x
		}
	}
	return nil
}

// checkFull asserts the full picture: one GCS candidate with the dashboard
// and agent joined, one client server candidate.
func checkFull(t *testing.T, col *collector, c *raycluster.Cluster, cid string) {
	t.Helper()
	if len(col.cands) != 2 {
		t.Fatalf("want 2 candidates (cluster, client server), got %d", len(col.cands))
	}
	g := find(col.cands, func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() != "" })
	if g == nil {
		t.Fatal("GCS not found")
	}
	want := map[string][2]any{
		"gcs_address":   {g.GetGcsAddress(), fmt.Sprintf("127.0.0.1:%d", c.GCSPort)},
		"cluster_id":    {g.GetClusterId(), cid},
		"ray_version":   {g.GetRayVersion(), c.RayVersion},
		"node_count":    {g.GetNodeCount(), int32(1)},
		"session_name":  {g.GetSessionName(), c.SessionName},
		"session_dir":   {g.GetSessionDir(), c.SessionDir},
		"dashboard_url": {g.GetDashboardUrl(), c.DashboardURL},
		"agent":         {g.GetAttributes()["dashboard_agent"], fmt.Sprintf("127.0.0.1:%d", c.DashboardAgentListenPort)},
		"cpu":           {g.GetResourcesTotal()["CPU"], float64(1)},
		"auth_required": {g.GetAuthRequired(), false},
		"status":        {g.GetStatus(), sdk.StatusActive},
		"source":        {g.GetSource(), "portscan"},
	}
	for k, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %v, want %v", k, v[0], v[1])
		}
	}
	cl := find(col.cands, func(x *sdk.ClusterCandidate) bool { return x.GetClientAddress() != "" })
	if cl == nil || cl.GetClientAddress() != fmt.Sprintf("ray://127.0.0.1:%d", c.ClientServerPort) || cl.GetAuthRequired() {
		t.Errorf("client server: %v", cl)
	}
}

func TestLiveAuthDisabled(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "disabled"})
	if c.AuthMode != "disabled" {
		t.Fatalf("auth mode %q", c.AuthMode)
	}
	cid := clusterID(t, c)
	nr := startNotRay(t)
	col, _ := scanCluster(t, newPlugin(t, nil), c, nr)
	checkFull(t, col, c, cid)
	g := find(col.cands, func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() != "" })
	if g != nil && g.GetAttributes()["auth_mode"] != "disabled" {
		t.Errorf("auth_mode attribute: %v", g.GetAttributes())
	}
}

func TestLiveTokenMode(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token"})
	if c.AuthMode != "token" || c.Token == "" {
		t.Fatalf("auth mode %q", c.AuthMode)
	}
	cid := clusterID(t, c)
	nr := startNotRay(t)

	t.Run("without token", func(t *testing.T) {
		col, _ := scanCluster(t, newPlugin(t, nil), c, nr)
		if len(col.cands) != 3 {
			t.Fatalf("want GCS, dashboard and client server candidates, got %d", len(col.cands))
		}
		for _, x := range col.cands {
			if !x.GetAuthRequired() || x.GetClusterId() != "" || x.GetStatus() != sdk.StatusActive {
				t.Errorf("candidate without token: %v", x)
			}
		}
		if find(col.cands, func(x *sdk.ClusterCandidate) bool { return x.GetGcsAddress() == fmt.Sprintf("127.0.0.1:%d", c.GCSPort) }) == nil ||
			find(col.cands, func(x *sdk.ClusterCandidate) bool { return x.GetDashboardUrl() == c.DashboardURL }) == nil ||
			find(col.cands, func(x *sdk.ClusterCandidate) bool {
				return x.GetClientAddress() == fmt.Sprintf("ray://127.0.0.1:%d", c.ClientServerPort)
			}) == nil {
			t.Errorf("GCS, dashboard or client server missing")
		}
	})

	t.Run("with token", func(t *testing.T) {
		col, _ := scanCluster(t, newPlugin(t, map[string]any{"auth_token": c.Token}), c, nr)
		checkFull(t, col, c, cid)
		for _, x := range col.cands {
			if strings.Contains(fmt.Sprint(x), c.Token) {
				t.Error("token in a candidate")
			}
		}
		for _, n := range col.notes {
			if strings.Contains(n.GetMessage(), c.Token) {
				t.Error("token in a note")
			}
		}
	})
}
