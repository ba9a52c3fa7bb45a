package dashscan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// live reads a capture from a real Ray 2.60.0 head (testdata/README.md).
// Captures saved as "HTTP <status>\n<body>" are returned without that line.
func live(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(b), "HTTP ") {
		if _, rest, ok := strings.Cut(string(b), "\n"); ok {
			return []byte(rest)
		}
	}
	return b
}

func TestParseAuthModeLive(t *testing.T) {
	m, err := parseAuthMode(live(t, "api_authentication_mode.json"))
	if err != nil || m != "token" {
		t.Fatalf("mode %q %v", m, err)
	}
	for _, bad := range []string{``, `{}`, `{"authentication_mode": ""}`, `{"authentication_mode": 1}`, `<html></html>`, `404: Not Found`, `[]`} {
		if m, err := parseAuthMode([]byte(bad)); err == nil {
			t.Errorf("%q → %q, want an error", bad, m)
		}
	}
}

func TestParseVersionLive(t *testing.T) {
	v, err := parseVersion(live(t, "api_version.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := versionInfo{RayVersion: "2.60.0", RayCommit: "b7f4259e944bf6959f721b106adc366ddfa0c356",
		SessionName: "session_2026-11-25_20-07-29_481642_5176", Version: "4"}
	if v != want {
		t.Fatalf("got %+v\nwant %+v", v, want)
	}
	for _, bad := range []string{
		`{"version": "1.2.3"}`, // some other server's version endpoint
		`{"ray_version": 2}`, `{"ray_version": ""}`, `{"ray_version": "<script>"}`, `{"ray_version": "latest"}`,
		`<!doctype html><html></html>`, `Unauthorized: Missing authentication token`, `null`, `[]`,
	} {
		if v, err := parseVersion([]byte(bad)); err == nil {
			t.Errorf("%q → %+v, want an error", bad, v)
		}
	}
	// An old Ray without session_name is still Ray.
	v, err = parseVersion([]byte(`{"version": "3", "ray_version": "2.9.3", "ray_commit": "abc"}`))
	if err != nil || v.RayVersion != "2.9.3" || v.SessionName != "" {
		t.Fatalf("old ray: %+v %v", v, err)
	}
	// A session name that is not one is dropped, the rest kept.
	v, err = parseVersion([]byte(`{"ray_version": "2.60.0", "session_name": "../../etc"}`))
	if err != nil || v.SessionName != "" {
		t.Fatalf("bad session: %+v %v", v, err)
	}
}

func TestParseNodesV0Live(t *testing.T) {
	l, err := parseNodesV0(live(t, "api_v0_nodes_detail.json"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Alive() != 1 || l.Total != 1 || len(l.Rows) != 1 {
		t.Fatalf("alive %d total %d rows %d", l.Alive(), l.Total, len(l.Rows))
	}
	head, ok := l.HeadNode()
	if !ok || head.NodeID != "a5bc4c1fae8126d2adbef853b116ef8d4b2aebb3d86535db8f6abf60" || head.NodeIP != "192.0.2.2" {
		t.Fatalf("head %+v %v", head, ok)
	}
	want := map[string]float64{"CPU": 1, "memory": 17287300711, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7408843161}
	if got := l.ResourcesTotal(); !reflect.DeepEqual(got, want) {
		t.Fatalf("resources %v", got)
	}
}

func TestParseNodesV0Mixed(t *testing.T) {
	body := `{"result": true, "msg": "", "data": {"result": {"total": 5, "num_after_truncation": 3, "partial_failure_warning": "some nodes timed out",
	  "result": [
	    {"node_id": "aa", "node_ip": "10.0.0.1", "is_head_node": true, "state": "ALIVE", "resources_total": {"CPU": 4, "GPU": 1}},
	    {"node_id": "bb", "node_ip": "10.0.0.2", "is_head_node": false, "state": "ALIVE", "resources_total": {"CPU": 8}},
	    {"node_id": "cc", "node_ip": "10.0.0.3", "is_head_node": false, "state": "DEAD", "resources_total": {"CPU": 16}}
	  ]}}}`
	l, err := parseNodesV0([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if l.Alive() != 2 || l.Total != 5 || l.Warning != "some nodes timed out" {
		t.Fatalf("%+v", l)
	}
	if got := l.ResourcesTotal(); !reflect.DeepEqual(got, map[string]float64{"CPU": 12, "GPU": 1}) {
		t.Fatalf("resources %v (the dead node must not count)", got)
	}
	for _, bad := range []string{
		`{"result": false, "msg": "Failed to query", "data": {}}`,
		`{"result": true, "data": {"result": {}}}`,
		`{"result": true, "data": {"result": {"result": [{"node_id": "aa"}]}}}`,
		`{"data": {"result": {"result": []}}}`,
	} {
		if _, err := parseNodesV0([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestParseClusterStatusLive(t *testing.T) {
	cs, ok, err := parseClusterStatus(live(t, "api_cluster_status.json"))
	if err != nil || !ok {
		t.Fatalf("%v %v", ok, err)
	}
	if cs.ActiveNodes != 1 || cs.IdleNodes != 0 || cs.PendingNodes != 0 || cs.FailedNodes != 0 || cs.PendingDemands != 0 {
		t.Fatalf("%+v", cs)
	}
	if cs.Usage["objectStoreMemory"] != [2]float64{0, 7408843161} || cs.Usage["CPU"] != [2]float64{0, 1} {
		t.Fatalf("usage %v", cs.Usage)
	}
	// nodeTypes keep Ray's names (a list escapes the camelCase conversion).
	if cs.NodeTypeResources["object_store_memory"] != 7408843161 || cs.NodeTypeResources["node:__internal_head__"] != 1 {
		t.Fatalf("node types %v", cs.NodeTypeResources)
	}
	used, total := cs.resources(nil)
	wantTotal := map[string]float64{"CPU": 1, "memory": 17287300711, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7408843161}
	wantUsed := map[string]float64{"CPU": 0, "memory": 0, "node:192.0.2.2": 0, "node:__internal_head__": 0, "object_store_memory": 0}
	if !reflect.DeepEqual(total, wantTotal) || !reflect.DeepEqual(used, wantUsed) {
		t.Fatalf("used %v\ntotal %v", used, total)
	}

	// ?format=1: clusterStatus is the `ray status` text, not an object.
	if _, _, err := parseClusterStatus(live(t, "api_cluster_status_format1.json")); err == nil {
		t.Fatal("format=1 text parsed as a structured status")
	}
	// Before the autoscaler's first report clusterStatus is null.
	cs, ok, err = parseClusterStatus([]byte(`{"result": true, "msg": "Got cluster status.", "data": {"autoscalingStatus": null, "autoscalingError": null, "clusterStatus": null}}`))
	if err != nil || ok {
		t.Fatalf("null status: %v %v", ok, err)
	}
	// The original castray read a "nodes" key that this answer never has.
	if strings.Contains(string(live(t, "api_cluster_status.json")), `"nodes"`) {
		t.Fatal(`the live /api/cluster_status grew a "nodes" key; revisit the parser`)
	}
}

func TestClusterStatusDemands(t *testing.T) {
	body := `{"result": true, "data": {"autoscalingError": "boom", "clusterStatus": {
	  "autoscalerReport": {"activeNodes": {"head": 1, "worker": 2}, "idleNodes": {"worker": 1}, "pendingNodes": [["10.0.0.9", "worker", "launching"]],
	    "pendingLaunches": {"worker": 2}, "failedNodes": [["10.0.0.8", "worker"]]},
	  "loadMetricsReport": {"usage": {"CPU": [3, 10], "GPU": [1, 2], "acceleratorType:A100": [0, 1], "myCustom": [1, 4], "bad": [1], "worse": "x"},
	    "resourceDemand": [[{"CPU": 1}, 5], [{"GPU": 1}, 2]], "pgDemand": [[{"CPU": 1}, 1]], "requestDemand": [{"CPU": 4}]}}}}`
	cs, ok, err := parseClusterStatus([]byte(body))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if cs.ActiveNodes != 3 || cs.IdleNodes != 1 || cs.PendingNodes != 3 || cs.FailedNodes != 1 || cs.PendingDemands != 9 || cs.AutoscalingError != "boom" {
		t.Fatalf("%+v", cs)
	}
	if len(cs.Usage) != 4 {
		t.Fatalf("usage %v (malformed entries must be dropped)", cs.Usage)
	}
	// Names known from the State API map the camelCase back.
	used, total := cs.resources(map[string]float64{"CPU": 10, "GPU": 2, "accelerator_type:A100": 1, "my_custom": 4})
	if used["accelerator_type:A100"] != 0 || total["accelerator_type:A100"] != 1 || used["my_custom"] != 1 || used["CPU"] != 3 {
		t.Fatalf("used %v total %v", used, total)
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
		"":                       "",
	} {
		if got := toCamelCase(in); got != want {
			t.Errorf("toCamelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRayletCmdlineLive(t *testing.T) {
	// The raylet's argv as the dashboard agent reported it in
	// /nodes?view=summary (live 2.60.0 capture; nested worker commands
	// abbreviated).
	args := []string{
		"/work/main/.venv-ray/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet",
		"--raylet_socket_name=/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176/sockets/raylet",
		"--node_id=a5bc4c1fae8126d2adbef853b116ef8d4b2aebb3d86535db8f6abf60",
		"--node_ip_address=192.0.2.2",
		"--static_resource_list=node:192.0.2.2,1.0,node:__internal_head__,1.0,CPU,1,memory,17287300711,object_store_memory,7408843161",
		"--python_worker_command=/x/python3 setup_worker.py default_worker.py --gcs-address=10.9.9.9:1 --session-name=session_bogus --cluster-id=00",
		"--session_dir=/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176",
		"--gcs-address=192.0.2.2:44517",
		"--session-name=session_2026-11-25_20-07-29_481642_5176",
		"--labels=",
		"--cluster-id=6438f99f705b69b098c99290d597c073ccf9458474b33256ec221dae",
		"--head",
	}
	f := parseRayletCmdline(args)
	want := rayletFacts{
		GCSAddress: "192.0.2.2:44517", ClusterID: "6438f99f705b69b098c99290d597c073ccf9458474b33256ec221dae",
		SessionName: "session_2026-11-25_20-07-29_481642_5176", SessionDir: "/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176",
		NodeIP: "192.0.2.2", Head: true,
		StaticResources: []string{"node:192.0.2.2", "node:__internal_head__", "CPU", "memory", "object_store_memory"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	if f := parseRayletCmdline([]string{"/usr/bin/python", "--gcs-address=1.2.3.4:5"}); !f.empty() {
		t.Fatalf("not a raylet: %+v", f)
	}
}
