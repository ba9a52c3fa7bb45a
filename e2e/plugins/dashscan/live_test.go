// Package dashscan_test drives the dashboard-scan discovery plugin through
// the real gRPC path (sdk/plugintest) against real Ray 2.60.0 heads started
// by e2e/raycluster.
//
// Two heads are started: one in token mode, one with auth disabled. Each
// puts its dashboard on a port inside the plugin's default range
// 8265-8269 (the first free of 8266, 8267, 8268, 8269, 8265), so the plugin
// runs with its default scope; when none is free the head gets a free port
// and the request names it.
package dashscan_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"github.com/castray/castray/sdk/raytoken"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/plugins/discovery/dashboard-scan/dashscan"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

const numCPUs = 2

// isolateToken keeps the developer's token sources out of the test: no
// RAY_AUTH_TOKEN, no RAY_AUTH_TOKEN_PATH, and a HOME without .ray/.
func isolateToken(t *testing.T) {
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	t.Setenv("HOME", t.TempDir())
}

// dashboardPort returns a free port of the default range, preferring the
// non-default ones, or 0 when all five are taken.
func dashboardPort(t *testing.T) int {
	for _, p := range []int{8266, 8267, 8268, 8269, 8265} {
		ok := true
		for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(p), ":" + strconv.Itoa(p)} {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Logf("ports 8265-8269 are all taken; the head gets a free port and the request names it")
	return 0
}

type recorder struct {
	cands []*sdk.ClusterCandidate
	notes []*sdk.DiscoverNote
}

func (r *recorder) Candidate(c *sdk.ClusterCandidate) error { r.cands = append(r.cands, c); return nil }
func (r *recorder) Note(n *sdk.DiscoverNote) error          { r.notes = append(r.notes, n); return nil }

// round configures a fresh plugin with cfg and runs one discovery round;
// it returns the candidate for the cluster's dashboard (nil if none).
func round(t *testing.T, c *raycluster.Cluster, cfg string, inRange bool) (*sdk.ClusterCandidate, *sdk.DiscoverSummary, *recorder) {
	t.Helper()
	d := plugintest.Discovery(t, dashscan.New(nil))
	if errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg), ApiVersion: sdk.APIVersion}); err != nil || errs != nil {
		t.Fatalf("Configure(%s): %v %s", cfg, err, sdk.ConfigErrorsString(errs))
	}
	req := &sdk.DiscoverRequest{TimeoutMs: 20000, ProbeTimeoutMs: 1000}
	if !inRange {
		req.Hosts = []string{"127.0.0.1"}
		req.Ports = []uint32{8265, 8266, 8267, 8268, 8269, uint32(c.DashboardPort)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &recorder{}
	start := time.Now()
	sum, err := d.Discover(ctx, req, rec)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var mine *sdk.ClusterCandidate
	for _, cand := range rec.cands {
		if cand.GetDashboardUrl() == c.DashboardURL {
			mine = cand
		}
	}
	el := int64(-1)
	if mine != nil {
		el = int64(mine.GetElapsedMs())
	}
	t.Logf("round: %d probes, %d candidates, %v (summary %d ms); this dashboard's probe %d ms", sum.GetProbes(), sum.GetCandidates(),
		time.Since(start).Round(time.Millisecond), sum.GetElapsedMs(), el)
	if mine != nil {
		t.Logf("evidence:\n  %s", strings.Join(mine.GetEvidence(), "\n  "))
	}
	for _, n := range rec.notes {
		t.Logf("note %s %s: %s", n.GetLevel(), n.GetTarget(), n.GetMessage())
	}
	return mine, sum, rec
}

// checkFull asserts what a dashboard reports with access.
func checkFull(t *testing.T, c *raycluster.Cluster, cand *sdk.ClusterCandidate) {
	t.Helper()
	if cand == nil {
		t.Fatalf("dashboard %s not found", c.DashboardURL)
	}
	if cand.GetAuthRequired() || cand.GetStatus() != sdk.StatusActive || cand.GetNodeCount() != 1 ||
		cand.GetRayVersion() != "2.60.0" || cand.GetRayVersion() != c.RayVersion || cand.GetSessionName() != c.SessionName {
		t.Fatalf("candidate %v\nwant 1 node, active, ray %s, session %s", cand, c.RayVersion, c.SessionName)
	}
	if got := cand.GetResourcesTotal()["CPU"]; got != numCPUs {
		t.Fatalf("CPU total %v, want --num-cpus=%d (resources %v)", got, numCPUs, cand.GetResourcesTotal())
	}
	for _, k := range []string{"memory", "object_store_memory"} {
		if cand.GetResourcesTotal()[k] <= 0 {
			t.Fatalf("resources_total lacks %s: %v", k, cand.GetResourcesTotal())
		}
		if _, ok := cand.GetResourcesUsed()[k]; !ok {
			t.Fatalf("resources_used lacks %s: %v", k, cand.GetResourcesUsed())
		}
	}
	// Identifiers the other strategies report too, so the daemon can merge.
	if cand.GetGcsAddress() != c.GCSAddress || cand.GetSessionDir() != c.SessionDir {
		t.Fatalf("gcs %q session dir %q, want %q %q", cand.GetGcsAddress(), cand.GetSessionDir(), c.GCSAddress, c.SessionDir)
	}
	if id := cand.GetClusterId(); len(id) != 56 {
		t.Fatalf("cluster id %q", id)
	} else if _, err := hex.DecodeString(id); err != nil {
		t.Fatalf("cluster id %q: %v", id, err)
	}
	if cand.GetAttributes()["auth_mode"] != c.AuthMode {
		t.Fatalf("auth_mode %q, cluster says %q", cand.GetAttributes()["auth_mode"], c.AuthMode)
	}
}

func noLeak(t *testing.T, rec *recorder, tok string) {
	t.Helper()
	if tok != "" && strings.Contains(fmt.Sprint(rec.cands, rec.notes), tok) {
		t.Fatal("the token leaked into candidates or notes")
	}
}

func TestLiveTokenMode(t *testing.T) {
	isolateToken(t)
	port := dashboardPort(t)
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token", NumCPUs: numCPUs, DashboardPort: port})
	inRange := port != 0
	if c.Token == "" {
		t.Fatalf("token mode head without a token")
	}

	t.Run("no token", func(t *testing.T) {
		cand, _, rec := round(t, c, `{}`, inRange)
		if cand == nil {
			t.Fatalf("dashboard %s not reported without a token", c.DashboardURL)
		}
		if !cand.GetAuthRequired() || cand.GetStatus() != sdk.StatusActive || cand.GetNodeCount() != -1 ||
			cand.GetAttributes()["auth_mode"] != "token" || cand.GetRayVersion() != "" {
			t.Fatalf("candidate %v", cand)
		}
		noLeak(t, rec, c.Token)
	})

	t.Run("wrong token", func(t *testing.T) {
		cand, _, rec := round(t, c, `{"auth_token": "0000000000000000000000000000000000000000000000000000000000000000"}`, inRange)
		if cand == nil || !cand.GetAuthRequired() || cand.GetNodeCount() != -1 {
			t.Fatalf("candidate %v", cand)
		}
		noLeak(t, rec, "0000000000000000000000000000000000000000000000000000000000000000")
	})

	t.Run("token in config", func(t *testing.T) {
		cand, _, rec := round(t, c, `{"auth_token": "`+c.Token+`"}`, inRange)
		checkFull(t, c, cand)
		if cand.GetAttributes()["token_source"] != raytoken.SourceConfig {
			t.Fatalf("attributes %v", cand.GetAttributes())
		}
		noLeak(t, rec, c.Token)
	})

	t.Run("token from RAY_AUTH_TOKEN_PATH", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(p, []byte(c.Token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("RAY_AUTH_TOKEN_PATH", p)
		cand, _, rec := round(t, c, `{}`, inRange)
		checkFull(t, c, cand)
		noLeak(t, rec, c.Token)
	})

	t.Run("resources used", func(t *testing.T) {
		t.Setenv("RAY_AUTH_TOKEN", c.Token)
		// A job whose entrypoint holds one CPU.
		if out, err := c.Ray("job", "submit", "--no-wait", "--entrypoint-num-cpus=1", "--", "sleep", "60"); err != nil {
			t.Fatalf("ray job submit: %v\n%s", err, out)
		}
		deadline := time.Now().Add(45 * time.Second)
		for {
			cand, _, _ := round(t, c, `{}`, inRange)
			checkFull(t, c, cand)
			used := cand.GetResourcesUsed()["CPU"]
			if used == 1 {
				t.Logf("resources used %v of %v", cand.GetResourcesUsed(), cand.GetResourcesTotal())
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("CPU used %v after 45 s, want 1 (resources_used %v)", used, cand.GetResourcesUsed())
			}
			time.Sleep(2 * time.Second)
		}
	})
}

func TestLiveAuthDisabled(t *testing.T) {
	isolateToken(t)
	port := dashboardPort(t)
	c := raycluster.Start(t, raycluster.Options{AuthMode: "disabled", NumCPUs: numCPUs, DashboardPort: port})
	// A configured token is not needed and not sent (the dashboard did not
	// announce token auth); the data is complete either way.
	cand, sum, _ := round(t, c, `{"auth_token": "0000000000000000000000000000000000000000000000000000000000000000"}`, port != 0)
	checkFull(t, c, cand)
	if _, ok := cand.GetAttributes()["token_source"]; ok {
		t.Fatalf("a token was used on a dashboard without token auth: %v", cand.GetAttributes())
	}
	if sum.GetProbes() < 5 {
		t.Fatalf("summary %v: want the whole default range probed", sum)
	}
}
