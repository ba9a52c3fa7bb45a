package discovery

import (
	"testing"

	"github.com/castray/castray/sdk"
)

// auth_required is "a plugin lacked the token"; auth_mode says the cluster
// uses tokens, whoever had one.
func TestAuthRequiredAndAuthMode(t *testing.T) {
	m := &merger{norm: newNormalizer("192.0.2.9")}
	m.add(&sdk.ClusterCandidate{Source: "dashboard-scan", DashboardUrl: "http://127.0.0.1:8265", SessionName: "session_a",
		Status: sdk.StatusActive, NodeCount: 2, Attributes: map[string]string{"auth_mode": "token"}})
	m.add(&sdk.ClusterCandidate{Source: "tmpdir", SessionName: "session_a", Status: sdk.StatusActive, NodeCount: -1})
	m.add(&sdk.ClusterCandidate{Source: "portscan", DashboardUrl: "http://127.0.0.1:8266", SessionName: "session_b",
		Status: sdk.StatusActive, NodeCount: -1, AuthRequired: true, Attributes: map[string]string{"auth_mode": "token"}})
	m.add(&sdk.ClusterCandidate{Source: "dashboard-scan", DashboardUrl: "http://127.0.0.1:8267", SessionName: "session_c",
		Status: sdk.StatusActive, NodeCount: 1, Attributes: map[string]string{"auth_mode": "disabled"}})
	got := map[string]Cluster{}
	for _, c := range m.clusters() {
		got[c.SessionName] = *c
	}
	for session, want := range map[string]struct {
		required bool
		mode     string
	}{"session_a": {false, "token"}, "session_b": {true, "token"}, "session_c": {false, "disabled"}} {
		if c := got[session]; c.AuthRequired != want.required || c.AuthMode != want.mode {
			t.Errorf("%s: auth_required %v auth_mode %q, want %v %q", session, c.AuthRequired, c.AuthMode, want.required, want.mode)
		}
	}
}

// The exact resources of the State API win over the rounded ones of
// `ray status`, whichever plugin reported first.
func TestExactResourcesWinOverRounded(t *testing.T) {
	rounded := &sdk.ClusterCandidate{Source: "ray-status", GcsAddress: "10.0.0.1:6379", SessionName: "session_r", Status: sdk.StatusActive,
		NodeCount: 1, ResourcesTotal: map[string]float64{"CPU": 2, "memory": 1.5 * (1 << 30)}, ResourcesUsed: map[string]float64{"CPU": 1},
		Attributes: map[string]string{sdk.AttrResourcesApprox: "true"}}
	exact := &sdk.ClusterCandidate{Source: "dashboard-scan", DashboardUrl: "http://10.0.0.1:8265", SessionName: "session_r", Status: sdk.StatusActive,
		NodeCount: 1, ResourcesTotal: map[string]float64{"CPU": 2, "memory": 1610612736 + 12345}}
	for _, order := range [][]*sdk.ClusterCandidate{{rounded, exact}, {exact, rounded}} {
		m := &merger{norm: newNormalizer()}
		for _, c := range order {
			m.add(c)
		}
		cs := m.clusters()
		if len(cs) != 1 {
			t.Fatalf("%d clusters", len(cs))
		}
		c := cs[0]
		if c.Resources["memory"] != 1610612736+12345 || c.Attributes[sdk.AttrResourcesApprox] != "" {
			t.Errorf("first %s: resources %v, attributes %v", order[0].Source, c.Resources, c.Attributes)
		}
		// Only ray status knew what is used: its figures stay, marked.
		if c.ResourcesUsed["CPU"] != 1 {
			t.Errorf("first %s: used %v", order[0].Source, c.ResourcesUsed)
		}
	}
	m := &merger{norm: newNormalizer()}
	m.add(rounded)
	if c := m.clusters()[0]; c.Attributes[sdk.AttrResourcesApprox] != "true" {
		t.Errorf("rounded figures alone are not marked: %v", c.Attributes)
	}
}
