package sdk_test

import (
	"maps"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
)

func TestCandidateFrom(t *testing.T) {
	gcs := &ray.Finding{Addr: "10.0.0.1:6379", Kind: ray.KindGCS, Evidence: []string{"CheckAlive → OK"},
		GCS: &ray.GCSFinding{RayVersion: "2.60.0", ClusterID: "ab", NodesKnown: true, AliveNodes: []*raypb.GcsNodeInfo{
			{NodeId: []byte{0xca, 0xfe}, NodeManagerAddress: "10.0.0.1", IsHeadNode: true, SessionDir: "/tmp/ray/session_x",
				ResourcesTotal: map[string]float64{"CPU": 2, "node:10.0.0.1": 1}},
			{NodeManagerAddress: "10.0.0.2", ResourcesTotal: map[string]float64{"CPU": 4}},
		}}}
	c := sdk.CandidateFrom(gcs)
	if c.GetGcsAddress() != "10.0.0.1:6379" || c.GetClusterId() != "ab" || c.GetRayVersion() != "2.60.0" ||
		c.GetNodeCount() != 2 || c.GetSessionName() != "session_x" || c.GetSessionDir() != "/tmp/ray/session_x" ||
		c.GetStatus() != sdk.StatusActive || len(c.GetEvidence()) != 1 {
		t.Errorf("GCS candidate = %v", c)
	}
	if !maps.Equal(c.GetResourcesTotal(), map[string]float64{"CPU": 6}) {
		t.Errorf("resources = %v, want the CPUs without node: markers", c.GetResourcesTotal())
	}
	if want := map[string]string{"head_node_id": "cafe", "head_node_ip": "10.0.0.1", "node_ips": "10.0.0.1,10.0.0.2"}; !maps.Equal(c.GetAttributes(), want) {
		t.Errorf("attributes = %v, want %v", c.GetAttributes(), want)
	}

	dash := &ray.Finding{Addr: "h:8265", Kind: ray.KindDashboard, Dashboard: &ray.DashboardFinding{URL: "http://h:8265", AuthMode: "token",
		AuthFinding: ray.AuthFinding{TokenMode: true, AuthRequired: true}}}
	c = sdk.CandidateFrom(dash)
	if c.GetDashboardUrl() != "http://h:8265" || !c.GetAuthRequired() || c.GetNodeCount() != -1 || c.GetRayVersion() != "" ||
		c.GetAttributes()["auth_mode"] != "token" || c.GetAttributes()["auth"] != "no token" {
		t.Errorf("dashboard candidate = %v", c)
	}

	client := &ray.Finding{Addr: "h:10001", Kind: ray.KindClientServer, ClientServer: &ray.ClientServerFinding{}}
	if c := sdk.CandidateFrom(client); c.GetClientAddress() != "ray://h:10001" {
		t.Errorf("client server candidate = %v", c)
	}
	for _, f := range []*ray.Finding{nil, {Addr: "h:1", NotRay: "HTTP 404"}, {Addr: "h:52365", Kind: ray.KindDashboardAgent}} {
		if c := sdk.CandidateFrom(f); c != nil {
			t.Errorf("CandidateFrom(%v) = %v, want nil", f, c)
		}
	}
}
