// Package raystatus_test drives the ray-status discovery plugin's logic
// (plugins/discovery/ray-status/raystatus) through the real plugin gRPC path
// (sdk/plugintest) against a real Ray head started by e2e/raycluster, in
// token-auth mode, with the pinned ray CLI. One cluster start in all.
package raystatus_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/plugins/discovery/ray-status/raystatus"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray/rayproc"
)

const numCPUs = 2

// collector is the SDK's collecting sink with a note lookup.
type collector struct{ plugintest.Sink }

func (c *collector) note(sub string) *sdk.DiscoverNote {
	for _, n := range c.Notes() {
		if strings.Contains(n.GetMessage(), sub) {
			return n
		}
	}
	return nil
}

// newPlugin serves a fresh plugin configured with cfg. Only tokens given on
// purpose count: none from the environment or the home directory.
func newPlugin(t *testing.T, cfg map[string]any) sdk.Discoverer {
	t.Helper()
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	t.Setenv("RAY_AUTH_MODE", "")
	t.Setenv("RAY_ADDRESS", "")
	t.Setenv("HOME", t.TempDir())
	d := plugintest.Discovery(t, raystatus.New(nil))
	raw, _ := json.Marshal(cfg)
	if errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw}); err != nil || errs != nil {
		t.Fatalf("Configure: %v %v", sdk.ConfigErrorsString(errs), err)
	}
	return d
}

func discover(t *testing.T, d sdk.Discoverer, req *sdk.DiscoverRequest) (*collector, *sdk.DiscoverSummary, time.Duration) {
	t.Helper()
	var got collector
	begin := time.Now()
	s, err := d.Discover(context.Background(), req, &got)
	el := time.Since(begin)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	t.Logf("Discover took %v: summary %v", el.Round(time.Millisecond), s)
	for _, n := range got.Notes() {
		t.Logf("note %s %s: %s", n.GetLevel(), n.GetTarget(), n.GetMessage())
	}
	return &got, s, el
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// leftovers lists live processes running `ray status` against addr.
func leftovers(addr string) []string {
	var out []string
	ps, _ := rayproc.Lister{}.Processes(context.Background())
	for _, p := range ps {
		if cmd := strings.Join(p.Argv, " "); strings.Contains(cmd, "status --address "+addr) {
			out = append(out, strconv.Itoa(p.PID)+": "+cmd)
		}
	}
	return out
}

func TestRayStatusLive(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token", NumCPUs: numCPUs})
	if c.Token == "" {
		t.Fatal("token mode without a token")
	}
	bin := c.RayBin
	cliVersion := raycluster.CLIVersion(t, bin)

	// The reference figure: `ray status` alone, through the test helper.
	for i := 0; i < 2; i++ {
		begin := time.Now()
		if _, err := c.Ray("status"); err != nil {
			t.Fatalf("ray status: %v", err)
		}
		t.Logf("TIMING `ray status` alone (raycluster.Ray): %v", time.Since(begin).Round(time.Millisecond))
	}

	t.Run("token supplied", func(t *testing.T) {
		d := newPlugin(t, map[string]any{"ray_path": bin, "local": false, "auth_token": c.Token})
		for round := 1; round <= 2; round++ {
			got, s, el := discover(t, d, &sdk.DiscoverRequest{Addresses: []string{c.GCSAddress}, TimeoutMs: 60000, ProbeTimeoutMs: 1000})
			t.Logf("TIMING plugin Discover, one `ray status --address` (round %d, round 1 includes `ray --version`): %v", round, el.Round(time.Millisecond))
			if len(got.Candidates()) != 1 || s.GetCandidates() != 1 || len(s.GetErrors()) != 0 {
				t.Fatalf("candidates %d, summary %v", len(got.Candidates()), s)
			}
			cand := got.Candidates()[0]
			if cand.GetSource() != "ray-status" || cand.GetGcsAddress() != c.GCSAddress || cand.GetNodeCount() != 1 ||
				cand.GetStatus() != sdk.StatusActive || cand.GetAuthRequired() {
				t.Errorf("candidate %v", cand)
			}
			if cpu := cand.GetResourcesTotal()["CPU"]; cpu != numCPUs {
				t.Errorf("CPU total %v, want --num-cpus=%d", cpu, numCPUs)
			}
			if _, ok := cand.GetResourcesTotal()["memory"]; !ok {
				t.Errorf("no memory total: %v", cand.GetResourcesTotal())
			}
			if cand.GetRayVersion() != cliVersion {
				t.Errorf("ray version %q, want %q", cand.GetRayVersion(), cliVersion)
			}
			if ids := cand.GetAttributes()["node_ids"]; len(ids) != 56 {
				t.Errorf("node_ids %q", ids)
			}
			t.Logf("evidence %q attributes %v", cand.GetEvidence(), cand.GetAttributes())
			raw, _ := json.Marshal([]any{got.Candidates(), got.Notes(), s})
			if strings.Contains(string(raw), c.Token) {
				t.Fatal("the token leaked into the plugin's output")
			}
		}
	})

	t.Run("plain ray status via RAY_ADDRESS", func(t *testing.T) {
		d := newPlugin(t, map[string]any{"ray_path": bin, "auth_token": c.Token})
		t.Setenv("RAY_ADDRESS", c.GCSAddress)
		got, s, el := discover(t, d, &sdk.DiscoverRequest{TimeoutMs: 60000})
		t.Logf("TIMING plugin Discover, plain `ray status`: %v", el.Round(time.Millisecond))
		if len(got.Candidates()) != 1 || s.GetProbes() != 1 {
			t.Fatalf("candidates %v summary %v", got.Candidates(), s)
		}
		cand := got.Candidates()[0]
		if cand.GetGcsAddress() != c.GCSAddress || cand.GetNodeCount() != 1 || cand.GetResourcesTotal()["CPU"] != numCPUs ||
			!strings.Contains(strings.Join(cand.GetEvidence(), "\n"), "env RAY_ADDRESS") {
			t.Errorf("candidate %v", cand)
		}
	})

	t.Run("no token", func(t *testing.T) {
		d := newPlugin(t, map[string]any{"ray_path": bin, "local": false})
		got, s, _ := discover(t, d, &sdk.DiscoverRequest{Addresses: []string{c.GCSAddress}, TimeoutMs: 60000})
		if len(got.Candidates()) != 1 {
			t.Fatalf("candidates %v summary %v", got.Candidates(), s)
		}
		cand := got.Candidates()[0]
		if !cand.GetAuthRequired() || cand.GetGcsAddress() != c.GCSAddress || cand.GetNodeCount() != -1 {
			t.Errorf("candidate %v", cand)
		}
		if n := got.note("authentication"); n == nil {
			t.Errorf("no note about authentication: %v", got.Notes())
		}
	})

	t.Run("dead address", func(t *testing.T) {
		dead := closedPort(t)
		d := newPlugin(t, map[string]any{"ray_path": bin, "local": false, "auth_token": c.Token})
		got, s, el := discover(t, d, &sdk.DiscoverRequest{Addresses: []string{dead}, TimeoutMs: 60000, ProbeTimeoutMs: 1000})
		if len(got.Candidates()) != 0 || len(s.GetErrors()) != 0 || got.note("no GCS answered at "+dead) == nil {
			t.Errorf("candidates %v summary %v", got.Candidates(), s)
		}
		if el > 10*time.Second {
			t.Errorf("the precheck should have skipped the CLI, took %v", el)
		}
		// Without the precheck the CLI hangs (~40 s in Ray 2.60): it is
		// killed at timeout_ms, with everything it started.
		d = newPlugin(t, map[string]any{"ray_path": bin, "local": false, "precheck": false, "timeout_ms": 3000})
		got, s, el = discover(t, d, &sdk.DiscoverRequest{Addresses: []string{dead}, TimeoutMs: 60000})
		if len(got.Candidates()) != 0 || len(s.GetErrors()) != 1 || !strings.Contains(s.GetErrors()[0], "timed out") {
			t.Errorf("candidates %v summary %v", got.Candidates(), s)
		}
		if el > 20*time.Second {
			t.Errorf("a 3 s timeout took %v", el)
		}
		if left := leftovers(dead); len(left) > 0 {
			t.Errorf("processes left running: %v", left)
		}
	})

	t.Run("no CLI", func(t *testing.T) {
		d := newPlugin(t, map[string]any{"ray_path": filepath.Join(t.TempDir(), "nowhere", "ray")})
		got, s, _ := discover(t, d, &sdk.DiscoverRequest{Addresses: []string{c.GCSAddress}})
		if len(got.Candidates()) != 0 || s.GetCandidates() != 0 || len(s.GetErrors()) != 0 || got.note("ray CLI not found") == nil {
			t.Errorf("candidates %v notes %v summary %v", got.Candidates(), got.Notes(), s)
		}
	})

	if left := leftovers(c.GCSAddress); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}
