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
