// Package tmpdir_test drives the tmpdir discovery plugin's logic over the real gRPC path
// (sdk/plugintest) against real Ray heads started by e2e/raycluster.
package tmpdir_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/plugins/discovery/tmpdir/sessions"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// discover runs one round and returns the candidates by session name.
func discover(t *testing.T, d sdk.Discoverer) map[string]*sdk.ClusterCandidate {
	t.Helper()
	s := &plugintest.Sink{}
	sum, err := d.Discover(context.Background(), &sdk.DiscoverRequest{TimeoutMs: 10000, ProbeTimeoutMs: 1000}, s)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	out := map[string]*sdk.ClusterCandidate{}
	for _, c := range s.Candidates() {
		if _, dup := out[c.GetSessionName()]; dup {
			t.Errorf("session %s reported twice", c.GetSessionName())
		}
		out[c.GetSessionName()] = c
	}
	for _, n := range s.Notes() {
		t.Logf("note: %s %s: %s", n.GetLevel(), n.GetTarget(), n.GetMessage())
	}
	if int(sum.GetCandidates()) != len(s.Candidates()) {
		t.Errorf("summary says %d candidates, %d streamed", sum.GetCandidates(), len(s.Candidates()))
	}
	return out
}

func evidence(c *sdk.ClusterCandidate, sub string) bool {
	for _, e := range c.GetEvidence() {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// checkCluster compares a candidate with what raycluster knows of the head.
func checkCluster(t *testing.T, what string, got *sdk.ClusterCandidate, c *raycluster.Cluster, want sdk.ClusterStatus) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: session %s not reported", what, c.SessionName)
	}
	t.Logf("%s: %s %s gcs=%s dashboard=%s client=%s cluster=%s evidence=%q", what, got.GetSessionName(), got.GetStatus(),
		got.GetGcsAddress(), got.GetDashboardUrl(), got.GetClientAddress(), got.GetClusterId(), got.GetEvidence())
	if got.GetStatus() != want {
		t.Errorf("%s: status %s, want %s", what, got.GetStatus(), want)
	}
	if got.GetSource() != "tmpdir" || got.GetSessionDir() != c.SessionDir || got.GetNodeCount() != -1 {
		t.Errorf("%s: source %q session dir %q (want %q) node count %d", what, got.GetSource(), got.GetSessionDir(), c.SessionDir, got.GetNodeCount())
	}
	if got.GetGcsAddress() != c.GCSAddress {
		t.Errorf("%s: GCS %q, want %q", what, got.GetGcsAddress(), c.GCSAddress)
	}
	if _, p, _ := net.SplitHostPort(got.GetGcsAddress()); p != strconv.Itoa(c.GCSPort) {
		t.Errorf("%s: GCS port %s, want %d", what, p, c.GCSPort)
	}
	if got.GetDashboardUrl() != c.DashboardURL {
		t.Errorf("%s: dashboard %q, want %q", what, got.GetDashboardUrl(), c.DashboardURL)
	}
	if want := "ray://" + net.JoinHostPort(c.NodeIP, strconv.Itoa(c.ClientServerPort)); got.GetClientAddress() != want {
		t.Errorf("%s: client %q, want %q", what, got.GetClientAddress(), want)
	}
	if got.GetRayVersion() != c.RayVersion || len(got.GetClusterId()) != 56 {
		t.Errorf("%s: ray version %q (want %q), cluster id %q", what, got.GetRayVersion(), c.RayVersion, got.GetClusterId())
	}
	if a := got.GetAttributes(); a["temp_dir"] != c.TempDir || a["node_ip"] != c.NodeIP {
		t.Errorf("%s: attributes %v", what, a)
	}
	switch want {
	case sdk.StatusActive:
		if !evidence(got, "live gcs_server pid") || !evidence(got, "live ") || !evidence(got, "→ accepted") {
			t.Errorf("%s: evidence %q", what, got.GetEvidence())
		}
	case sdk.StatusInactive:
		if !evidence(got, "no live Ray process names this session") || !evidence(got, "→ refused") {
			t.Errorf("%s: evidence %q", what, got.GetEvidence())
		}
	}
}

// TestLiveSessions starts a head with an explicit GCS port in a temp dir of its own, sees it
// active, stops it and sees the same session inactive; then starts a second head with
// --port=0 in the same temp dir and sees both sessions, each with its own status, and after
// the second stop both inactive.
func TestLiveSessions(t *testing.T) {
	root, err := os.MkdirTemp("/tmp", "crt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })

	d := plugintest.Discovery(t, sessions.New(hclog.NewNullLogger()))
	cfg, _ := json.Marshal(map[string]any{"dirs": []string{root}, "include_defaults": false})
	if problems, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: cfg, ApiVersion: sdk.APIVersion}); err != nil || problems != nil {
		t.Fatalf("Configure: %v %v", problems, err)
	}

	// 1. Explicit --port.
	c1 := raycluster.Start(t, raycluster.Options{TempDir: root})
	got := discover(t, d)
	if len(got) != 1 {
		t.Errorf("want 1 session, got %d: %v", len(got), got)
	}
	checkCluster(t, "first head running", got[c1.SessionName], c1, sdk.StatusActive)
	if a := got[c1.SessionName].GetAttributes(); a["session_latest"] != "true" || a["ray_current_cluster"] != "true" {
		t.Errorf("attributes %v", a)
	}
	c1.Stop()
	got = discover(t, d)
	checkCluster(t, "first head stopped", got[c1.SessionName], c1, sdk.StatusInactive)

	// 2. --port=0 in the same temp dir: Ray picks the GCS port.
	c2 := raycluster.Start(t, raycluster.Options{TempDir: root, GCSPort: -1})
	if c2.SessionName == c1.SessionName {
		t.Fatalf("same session name twice: %s", c2.SessionName)
	}
	got = discover(t, d)
	if len(got) != 2 {
		t.Errorf("want 2 sessions, got %d", len(got))
	}
	checkCluster(t, "second head (--port=0) running", got[c2.SessionName], c2, sdk.StatusActive)
	checkCluster(t, "first head, beside the second", got[c1.SessionName], c1, sdk.StatusInactive)
	if a := got[c2.SessionName].GetAttributes(); a["session_latest"] != "true" || a["ray_current_cluster"] != "true" {
		t.Errorf("second head attributes %v", a)
	}
	if a := got[c1.SessionName].GetAttributes(); a["session_latest"] != "" {
		t.Errorf("first head still session_latest: %v", a)
	}
	c2.Stop()
	got = discover(t, d)
	checkCluster(t, "second head stopped", got[c2.SessionName], c2, sdk.StatusInactive)
	checkCluster(t, "first head, still stopped", got[c1.SessionName], c1, sdk.StatusInactive)
}
