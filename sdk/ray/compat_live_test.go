package ray

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// The dashboard decoders against a live Ray 2.9.3 head
// (e2e/raycluster/testdata/live-2.9.3, captured by `make compat`'s
// release): what an older release says differently (docs/compat.md).

func live293(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "e2e", "raycluster", "testdata", "live-2.9.3", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve293 is a dashboard answering the captured bodies of 2.9.3 (404 for
// what that release does not have).
func serve293(t *testing.T) *Dashboard {
	t.Helper()
	files := map[string]string{
		"/api/version":        "api_version.json",
		"/nodes":              "nodes_view_summary.json",
		"/api/v0/nodes":       "api_v0_nodes_detail.json",
		"/api/v0/actors":      "api_v0_actors_detail.json",
		"/api/cluster_status": "api_cluster_status.json",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := files[r.URL.Path]
		if !ok {
			http.Error(w, "404: Not Found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(live293(t, name))
	}))
	t.Cleanup(srv.Close)
	d, err := NewDashboard(srv.URL, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLive293Dashboard(t *testing.T) {
	ctx := context.Background()
	d := serve293(t)

	// No session_name in /api/version, no /cluster_id, no /api/authentication_mode.
	info, err := d.Version(ctx)
	if err != nil || info.RayVersion != "2.9.3" || info.SessionName != "" {
		t.Fatalf("version: %+v %v", info, err)
	}
	if id, err := d.ClusterID(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("cluster id: %q %v, want ErrNotFound", id, err)
	}
	if m, err := d.AuthMode(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("auth mode: %q %v, want ErrNotFound", m, err)
	}

	// The head raylet's command line is where this release tells its
	// cluster id and session (whole arguments only: the worker command
	// embedded in --python_worker_command repeats them).
	facts, err := d.HeadFacts(ctx)
	want := RayletFacts{GCSAddress: "192.0.2.2:42155", ClusterID: "50d79de6a8cccff4bfa51dc193fd432b75fde82517e6260d29683732",
		SessionName: "session_2026-12-02_06-10-52_707247_28732"}
	if err != nil || facts.GCSAddress != want.GCSAddress || facts.ClusterID != want.ClusterID || facts.SessionName != want.SessionName {
		t.Fatalf("head facts: %+v %v\nwant %+v", facts, err, want)
	}

	nodes, err := d.Nodes(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	n := nodes[0]
	if n.NodeID != "e1302a2111c2de079bd34d57d5ade1fe7dfc896bf2538d3d602500f2" || !n.IsHead || n.State != "ALIVE" ||
		n.Address != "192.0.2.2" || n.ResourcesTotal["CPU"] != 1 {
		t.Errorf("node: %+v", n)
	}
	summary, err := d.NodesSummary(ctx)
	if err != nil || len(summary) != 1 || summary[0].NodeID != n.NodeID || summary[0].ResourcesAvailable["CPU"] != 1 {
		t.Errorf("summary: %+v %v", summary, err)
	}
	if actors, err := d.Actors(ctx); err != nil || len(actors) != 0 {
		t.Errorf("actors: %+v %v", actors, err)
	}

	cs, ok, err := DecodeClusterStatus(live293(t, "api_cluster_status.json"))
	if err != nil || !ok || cs.Usage["CPU"] != [2]float64{0, 1} {
		t.Errorf("cluster status: %+v ok=%v %v", cs, ok, err)
	}
}

// Ray 2.30.0 (e2e/raycluster/testdata/live-2.30.0): /cluster_id exists,
// /api/version still has no session_name; the session comes from the
// head raylet's command line.
func TestLive230Dashboard(t *testing.T) {
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "e2e", "raycluster", "testdata", "live-2.30.0", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v, err := DecodeVersion(read("api_version.json"))
	if err != nil || v.RayVersion != "2.30.0" || v.SessionName != "" {
		t.Fatalf("version: %+v %v", v, err)
	}
	if id, err := DecodeClusterID(read("cluster_id.json")); err != nil || id != "72c0fdfa3975535b62a2fbea4a32565dfb3b98e2dec103832a682329" {
		t.Fatalf("cluster id: %q %v", id, err)
	}
	s, err := DecodeNodesSummary(read("nodes_view_summary.json"), nil)
	if err != nil || s.Head.GCSAddress != "192.0.2.2:44659" || s.Head.ClusterID != "72c0fdfa3975535b62a2fbea4a32565dfb3b98e2dec103832a682329" || s.Head.SessionName != "session_2026-12-02_07-00-17_242007_20354" {
		t.Fatalf("head facts: %+v %v", s.Head, err)
	}
}
