package ray

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeClusterStatusLive(t *testing.T) {
	cs, ok, err := DecodeClusterStatus(capture(t, "api_cluster_status.json"))
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
	used, total := cs.Resources(nil)
	wantTotal := map[string]float64{"CPU": 1, "memory": 17287300711, "node:192.0.2.2": 1, "node:__internal_head__": 1, "object_store_memory": 7408843161}
	wantUsed := map[string]float64{"CPU": 0, "memory": 0, "node:192.0.2.2": 0, "node:__internal_head__": 0, "object_store_memory": 0}
	if !reflect.DeepEqual(total, wantTotal) || !reflect.DeepEqual(used, wantUsed) {
		t.Fatalf("used %v\ntotal %v", used, total)
	}

	// One of two CPUs busy with a job.
	cs, ok, err = DecodeClusterStatus(capture(t, "api_cluster_status_busy.body"))
	if err != nil || !ok {
		t.Fatalf("busy: %v %v", ok, err)
	}
	if used, total := cs.Resources(nil); used["CPU"] != 1 || total["CPU"] != 2 || used["object_store_memory"] != 0 || cs.ActiveNodes != 1 {
		t.Fatalf("busy: used %v total %v, %+v", used, total, cs)
	}

	// ?format=1: clusterStatus is the `ray status` text, not an object.
	if _, _, err := DecodeClusterStatus(capture(t, "api_cluster_status_format1.json")); err == nil {
		t.Fatal("format=1 text decoded as a structured status")
	}
	// Before the autoscaler's first report clusterStatus is null.
	cs, ok, err = DecodeClusterStatus([]byte(`{"result": true, "msg": "Got cluster status.", "data": {"autoscalingStatus": null, "autoscalingError": "no autoscaler", "clusterStatus": null}}`))
	if err != nil || ok || cs.AutoscalingError != "no autoscaler" {
		t.Fatalf("null status: %+v %v %v", cs, ok, err)
	}
	// The original castray read a "nodes" key that this answer never has.
	if strings.Contains(string(capture(t, "api_cluster_status.json")), `"nodes"`) {
		t.Fatal(`the live /api/cluster_status grew a "nodes" key; revisit the decoder`)
	}
}

func TestClusterStatusDemands(t *testing.T) {
	body := `{"result": true, "data": {"autoscalingError": "boom", "clusterStatus": {
	  "autoscalerReport": {"activeNodes": {"head": 1, "worker": 2}, "idleNodes": {"worker": 1}, "pendingNodes": [["10.0.0.9", "worker", "launching"]],
	    "pendingLaunches": {"worker": 2, "bad": -4}, "failedNodes": [["10.0.0.8", "worker"]]},
	  "loadMetricsReport": {"usage": {"CPU": [3, 10], "GPU": [1, 2], "acceleratorType:A100": [0, 1], "myCustom": [1, 4], "bad": [1], "worse": "x"},
	    "resourceDemand": [[{"CPU": 1}, 5], [{"GPU": 1}, 2]], "pgDemand": [[{"CPU": 1}, 1]], "requestDemand": [{"CPU": 4}]}}}}`
	cs, ok, err := DecodeClusterStatus([]byte(body))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if cs.ActiveNodes != 3 || cs.IdleNodes != 1 || cs.PendingNodes != 3 || cs.FailedNodes != 1 || cs.PendingDemands != 9 || cs.AutoscalingError != "boom" {
		t.Fatalf("%+v", cs)
	}
	if len(cs.Usage) != 4 {
		t.Fatalf("usage %v (malformed entries must be dropped)", cs.Usage)
	}
	// Names known from elsewhere map the camelCase back.
	used, total := cs.Resources([]string{"CPU", "GPU", "accelerator_type:A100", "my_custom"})
	if used["accelerator_type:A100"] != 0 || total["accelerator_type:A100"] != 1 || used["my_custom"] != 1 || used["CPU"] != 3 || len(used) != 4 {
		t.Fatalf("used %v total %v", used, total)
	}
	// v2 reports list the nodes.
	cs, _, _ = DecodeClusterStatus([]byte(`{"result": true, "data": {"clusterStatus": {"autoscalerReport": {"activeNodes": [{"a": 1}, {"b": 2}], "idleNodes": []}}}}`))
	if cs.ActiveNodes != 2 || cs.Usage != nil {
		t.Fatalf("v2: %+v", cs)
	}
	if used, total := cs.Resources(nil); used != nil || total != nil {
		t.Fatalf("no usage: %v %v", used, total)
	}
}
