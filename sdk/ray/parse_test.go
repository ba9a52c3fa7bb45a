package ray

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The decoders against the live 2.60.0 captures (testdata/live-2.60.0) and
// against the odd answers they must refuse or tolerate.

func TestDecodeAuthMode(t *testing.T) {
	m, err := DecodeAuthMode(capture(t, "api_authentication_mode.json"))
	if err != nil || m != "token" {
		t.Fatalf("mode %q %v", m, err)
	}
	for _, bad := range []string{``, `{}`, `{"authentication_mode": ""}`, `{"authentication_mode": 1}`, `<html></html>`, `404: Not Found`, `[]`} {
		if m, err := DecodeAuthMode([]byte(bad)); err == nil {
			t.Errorf("%q → %q, want an error", bad, m)
		}
	}
}

func TestDecodeVersion(t *testing.T) {
	v, err := DecodeVersion(capture(t, "api_version.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := VersionInfo{RayVersion: "2.60.0", RayCommit: "b7f4259e944bf6959f721b106adc366ddfa0c356",
		SessionName: "session_2026-11-25_20-23-23_346120_17941", APIVersion: "4"}
	if v != want {
		t.Fatalf("got %+v\nwant %+v", v, want)
	}
	for _, bad := range []string{
		`{"version": "1.2.3"}`, // some other server's version endpoint
		`{"ray_version": 2}`, `{"ray_version": ""}`, `{"ray_version": "<script>"}`, `{"ray_version": "latest"}`,
		`<!doctype html><html></html>`, `Unauthorized: Missing authentication token`, `null`, `[]`,
	} {
		if v, err := DecodeVersion([]byte(bad)); err == nil {
			t.Errorf("%q → %+v, want an error", bad, v)
		}
	}
	// An old Ray without session_name is still Ray.
	v, err = DecodeVersion([]byte(`{"version": "3", "ray_version": "2.9.3", "ray_commit": "abc"}`))
	if err != nil || v.RayVersion != "2.9.3" || v.SessionName != "" || v.APIVersion != "3" {
		t.Fatalf("old ray: %+v %v", v, err)
	}
	// What is not plausible is dropped, the rest kept.
	v, err = DecodeVersion([]byte(`{"ray_version": "2.60.0", "session_name": "../../etc", "ray_commit": "` + strings.Repeat("a", 65) + `", "version": 4}`))
	if err != nil || v != (VersionInfo{RayVersion: "2.60.0"}) {
		t.Fatalf("bad optional fields: %+v %v", v, err)
	}
}

func TestDecodeClusterID(t *testing.T) {
	id, err := DecodeClusterID(capture(t, "cluster_id.body"))
	if err != nil || id != "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3" {
		t.Fatalf("%q %v", id, err)
	}
	up := `{"result": true, "msg": "", "data": {"clusterId": "E43C9663CEB15355D5FCDDC4A606DBC3BD2D61A710FC417E78F03CA3"}}`
	if id, err := DecodeClusterID([]byte(up)); err != nil || id != "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3" {
		t.Fatalf("upper case: %q %v", id, err)
	}
	var se *StatusError
	if _, err := DecodeClusterID([]byte(`{"result": false, "msg": "GCS down", "data": null}`)); !errors.As(err, &se) || se.Message != "GCS down" {
		t.Fatalf("result false: %v", err)
	}
	for _, bad := range []string{
		`{"result": true, "data": {"clusterId": "e43c"}}`,
		`{"result": true, "data": {"clusterId": "zz3c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3"}}`,
		`{"result": true, "data": null}`, `{"data": {"clusterId": "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3"}}`,
		`Unauthorized: Missing authentication token`,
	} {
		if id, err := DecodeClusterID([]byte(bad)); err == nil {
			t.Errorf("%s → %q, want an error", bad, id)
		}
	}
}

// TestDecodeStateNodesLive: the plugin's detail=false listing and the
// client's detail=true one decode alike.
func TestDecodeStateNodesLive(t *testing.T) {
	for _, tc := range []struct {
		file, id string
		res      map[string]float64
	}{
		{"api_v0_nodes.body", "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89",
			map[string]float64{"CPU": 2, "memory": 17029740135, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7298460057}},
		{"api_v0_nodes_detail.json", "a1fd542f430d45f8326ef0db2840ef93f1b525b5ebaabee5e9d8d407",
			map[string]float64{"CPU": 1, "memory": 17290030285, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7410012979}},
	} {
		nodes, l, err := DecodeStateNodes(capture(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if tr, want := l.Truncated(); tr || want != 1 || l.Returned != 1 || l.Warning != "" || len(nodes) != 1 {
			t.Fatalf("%s: listing %+v (%v %d), %d nodes", tc.file, l, tr, want, len(nodes))
		}
		n := nodes[0]
		if n.NodeID != tc.id || n.Address != "192.0.2.2" || !n.IsHead || n.State != "ALIVE" || !reflect.DeepEqual(n.ResourcesTotal, tc.res) {
			t.Fatalf("%s: node %+v", tc.file, n)
		}
	}
}

func TestDecodeStateNodesMixed(t *testing.T) {
	body := `{"result": true, "msg": "", "data": {"result": {"total": 5, "num_after_truncation": 3, "partial_failure_warning": "some nodes timed out",
	  "warnings": ["slow", 3],
	  "result": [
	    {"node_id": "aa", "node_ip": "10.0.0.1", "is_head_node": true, "state": "ALIVE", "resources_total": {"CPU": 4, "GPU": 1}},
	    {"node_id": "BB", "node_ip": "10.0.0.2", "is_head_node": false, "state": "ALIVE", "resources_total": {"CPU": 8, "x": "y"}},
	    {"node_id": "cc", "node_ip": "not an ip", "is_head_node": false, "state": "DEAD", "resources_total": {"CPU": 16}}
	  ]}}}`
	nodes, l, err := DecodeStateNodes([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if tr, want := l.Truncated(); !tr || want != 5 || l.Warning != "some nodes timed out; slow" {
		t.Fatalf("listing %+v", l)
	}
	if len(nodes) != 3 || nodes[1].NodeID != "bb" || !reflect.DeepEqual(nodes[1].ResourcesTotal, map[string]float64{"CPU": 8}) ||
		nodes[2].Address != "" || nodes[2].State != "DEAD" {
		t.Fatalf("nodes %+v", nodes)
	}
	for _, bad := range []string{
		`{"result": false, "msg": "Failed to query", "data": {}}`,
		`{"result": true, "data": {"result": {}}}`,
		`{"result": true, "data": {"result": {"result": [{"node_id": "aa"}]}}}`,
		`{"result": true, "data": {"result": {"result": [{"node_id": "not hex", "state": "ALIVE"}]}}}`,
		`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "SLEEPING"}]}}}`,
		`{"data": {"result": {"result": []}}}`,
	} {
		if _, _, err := DecodeStateNodes([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
	// Ray's 400 for a limit over 10000 is an envelope with result false.
	var se *StatusError
	if _, _, err := DecodeStateNodes(capture(t, "api_v0_nodes_limit_too_high.body")); !errors.As(err, &se) || !strings.Contains(se.Message, "exceeds the supported limit") {
		t.Fatalf("limit too high: %v", err)
	}
}

func TestStateListingTruncated(t *testing.T) {
	for _, tc := range []struct {
		l    StateListing
		tr   bool
		want int
	}{
		{StateListing{Returned: 3, Total: 3, NumAfterTruncation: 3, NumFiltered: 3}, false, 3},
		{StateListing{Returned: 2, Total: 3, NumAfterTruncation: 3, NumFiltered: 3}, true, 3},             // the request's limit
		{StateListing{Returned: 2, Total: 20000, NumAfterTruncation: 10000, NumFiltered: 2}, true, 20000}, // the source capped
		{StateListing{Returned: 2, Total: 9, NumAfterTruncation: 9, NumFiltered: 2}, false, 2},            // the GCS filtered the rest
	} {
		if tr, want := tc.l.Truncated(); tr != tc.tr || want != tc.want {
			t.Errorf("%+v: (%v, %d), want (%v, %d)", tc.l, tr, want, tc.tr, tc.want)
		}
	}
}

func TestDecodeNodesSummaryLive(t *testing.T) {
	s, err := DecodeNodesSummary(capture(t, "nodes_view_summary.json"), nil)
	if err != nil || len(s.Nodes) != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	const session = "session_2026-11-25_20-23-23_346120_17941"
	want := RayletFacts{
		GCSAddress: "192.0.2.2:40519", ClusterID: "887797199c7c87863ae07c3570d1b9db01ce4b3c5ce0d5a35fab928f",
		SessionName: session, SessionDir: "/tmp/crt-1610949189/" + session, NodeIP: "192.0.2.2", Head: true,
		StaticResources: []string{"node:192.0.2.2", "node:__internal_head__", "CPU", "memory", "object_store_memory"},
	}
	if !reflect.DeepEqual(s.Head, want) {
		t.Fatalf("head facts\n got %+v\nwant %+v", s.Head, want)
	}
	// Names the camelCase conversion changed come back as Ray's.
	res := s.Nodes[0].ResourcesTotal
	if res["object_store_memory"] != 7410012979 || res["node:__internal_head__"] != 1 || res["objectStoreMemory"] != 0 {
		t.Fatalf("resources %v", res)
	}
}

// TestDecodeNodesSummaryBeforeStats: until the agent's physical stats
// arrive, the raylet's session dir (GcsNodeInfo) is all the head says.
func TestDecodeNodesSummaryBeforeStats(t *testing.T) {
	body := `{"result": true, "msg": "", "data": {"summary": [
	  {"raylet": {"nodeId": "dd", "state": "DEAD", "isHeadNode": true, "sessionDir": "/tmp/ray/session_old"}},
	  {"raylet": {"nodeId": "aa", "state": "ALIVE", "isHeadNode": true, "sessionDir": "/tmp/ray/session_x",
	    "resourcesTotal": {"CPU": 2, "myCustom": 1}}},
	  {"raylet": {"nodeId": "bb", "state": "ALIVE"}, "cmdline": ["/x/raylet", "--head", "--gcs-address=10.0.0.1:6379", "--static_resource_list=my_custom,1"]},
	  {"raylet": {"nodeId": "cc"}}, {"hostname": "gone"}
	]}}`
	s, err := DecodeNodesSummary([]byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 3 || s.Head.SessionDir != "/tmp/ray/session_x" || s.Head.GCSAddress != "" {
		t.Fatalf("%+v", s)
	}
	// --head on the raylet's command line makes a head node; its
	// --static_resource_list names its resources.
	if !s.Nodes[2].IsHead {
		t.Fatalf("raylet with --head: %+v", s.Nodes[2])
	}
	// "myCustom" is not a name Ray gave: without it known, it stays.
	if s.Nodes[1].ResourcesTotal["myCustom"] != 1 {
		t.Fatalf("resources %v", s.Nodes[1].ResourcesTotal)
	}
	s, _ = DecodeNodesSummary([]byte(body), []string{"my_custom"})
	if s.Nodes[1].ResourcesTotal["my_custom"] != 1 {
		t.Fatalf("known names: %v", s.Nodes[1].ResourcesTotal)
	}
	for _, bad := range []string{`{"result": true, "data": {}}`, `{"result": true, "data": {"summary": [1]}}`, `{"result": false, "msg": "x"}`} {
		if _, err := DecodeNodesSummary([]byte(bad), nil); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestDecodeNodeDetailLive(t *testing.T) {
	n, f, err := DecodeNodeDetail(capture(t, "nodes_head_detail.body"))
	if err != nil {
		t.Fatal(err)
	}
	const session = "session_2026-11-25_20-22-06_905902_14150"
	want := RayletFacts{
		GCSAddress: "192.0.2.2:34703", ClusterID: "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3",
		SessionName: session, SessionDir: "/tmp/crt-1489565246/" + session, NodeIP: "192.0.2.2", Head: true,
		StaticResources: []string{"node:192.0.2.2", "node:__internal_head__", "CPU", "memory", "object_store_memory"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("facts\n got %+v\nwant %+v", f, want)
	}
	wantRes := map[string]float64{"CPU": 2, "memory": 17029740135, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7298460057}
	if n.NodeID != "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89" || !n.IsHead || n.Address != "192.0.2.2" || !reflect.DeepEqual(n.ResourcesTotal, wantRes) {
		t.Fatalf("node %+v", n)
	}
	for _, bad := range []string{`{"result": true, "data": {}}`, `{"result": true, "data": {"detail": {"ip": "1.2.3.4"}}}`} {
		if _, _, err := DecodeNodeDetail([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestToCamelCase(t *testing.T) {
	// Expected values are Python's ray.dashboard.utils.to_camel_case.
	for in, want := range map[string]string{
		"object_store_memory":    "objectStoreMemory",
		"node:__internal_head__": "node:InternalHead",
		"node:192.0.2.2":         "node:192.0.2.2",
		"CPU":                    "CPU",
		"accelerator_type:A100":  "acceleratorType:A100",
		"my_GPU_x":               "myGpuX",
		"a_b2c_3d":               "aB2C3D",
		"x_日本go":                 "x日本Go",  // str.title: an uncased letter ends a word
		"x_ǆemal":                "xǅemal", // title case, not upper case
		"":                       "",
	} {
		if got := toCamelCase(in); got != want {
			t.Errorf("toCamelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecamelResources(t *testing.T) {
	got := DecamelResources(map[string]float64{"objectStoreMemory": 5, "node:InternalHead": 1, "acceleratorType:A100": 1, "CPU": 2, "odd": 3},
		[]string{"accelerator_type:A100"})
	want := map[string]float64{"object_store_memory": 5, "node:__internal_head__": 1, "accelerator_type:A100": 1, "CPU": 2, "odd": 3}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	// A name that is already Ray's wins over one renamed to it.
	got = DecamelResources(map[string]float64{"objectStoreMemory": 5, "object_store_memory": 7}, nil)
	if !reflect.DeepEqual(got, map[string]float64{"object_store_memory": 7}) {
		t.Fatalf("collision: %v", got)
	}
}

func TestAliveTotals(t *testing.T) {
	nodes := []Node{
		{NodeID: "aa", IsHead: true, State: "DEAD", ResourcesTotal: map[string]float64{"CPU": 16}},
		{NodeID: "bb", State: "ALIVE", ResourcesTotal: map[string]float64{"CPU": 4, "GPU": 1}},
		{NodeID: "cc", IsHead: true, State: "ALIVE", ResourcesTotal: map[string]float64{"CPU": 8}},
	}
	alive, res := AliveTotals(nodes)
	if alive != 2 || !reflect.DeepEqual(res, map[string]float64{"CPU": 12, "GPU": 1}) {
		t.Fatalf("%d %v (the dead node must not count)", alive, res)
	}
	if h, ok := AliveHead(nodes); !ok || h.NodeID != "cc" {
		t.Fatalf("head %+v %v", h, ok)
	}
	if alive, res := AliveTotals(nil); alive != 0 || res == nil || len(res) != 0 {
		t.Fatalf("none: %d %v", alive, res)
	}
	if _, ok := AliveHead(nodes[:2]); ok {
		t.Fatal("a dead head is no head")
	}
}
