package ray

import (
	"path/filepath"
	"strings"
	"testing"
)

// seedAll adds every live capture (testdata/live-2.60.0) as a seed: each
// decoder meets the other endpoints' answers too.
func seedAll(f *testing.F) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "live-2.60.0", "*"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, n := range names {
		if filepath.Ext(n) != ".md" {
			f.Add(capture(f, filepath.Base(n)))
		}
	}
	f.Add([]byte(`{"result": true, "data": null}`))
	f.Add([]byte(`{"result": true, "data": {"result": {"total": 5, "num_filtered": 9, "result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": "12"}]}}}`))
	f.Add([]byte(`{"result": true, "data": {"result": {"total": 1e308, "result": [{"node_id": "aa", "state": "ALIVE", "resources_total": {"CPU": 1e308}}]}}}`))
}

// Every JSON decoder: never panic.
func FuzzDecoders(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeAuthMode(b)
		_, _, _ = parseStateActors(b)
		_, _ = DecodeNodesSummary(b, []string{"object_store_memory"})
		_ = availableFromUsage(string(b), map[string]float64{"CPU": 1})
	})
}

func FuzzDecodeVersion(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVersion(b)
		if err == nil && (!plausibleVersion(v.RayVersion) || (v.SessionName != "" && !validSessionName(v.SessionName)) ||
			len(v.RayCommit) > 64 || len(v.APIVersion) > 16) {
			t.Fatalf("accepted %+v", v)
		}
	})
}

func FuzzDecodeClusterID(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeClusterID(b)
		if err == nil && (!validClusterID(id) || strings.ToLower(id) != id) {
			t.Fatalf("accepted %q", id)
		}
	})
}

func FuzzDecodeStateNodes(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, l, err := DecodeStateNodes(b)
		if err != nil {
			return
		}
		if len(nodes) != l.Returned {
			t.Fatalf("%d nodes, listing %+v", len(nodes), l)
		}
		if tr, want := l.Truncated(); want < l.Returned || (tr && want == l.Returned) {
			t.Fatalf("truncated %v, want %d, listing %+v", tr, want, l)
		}
		for _, n := range nodes {
			if n.NodeID == "" || !validState(n.State) {
				t.Fatalf("node %+v", n)
			}
		}
	})
}

func FuzzDecodeNodeDetail(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, facts, err := DecodeNodeDetail(b)
		if err != nil {
			return
		}
		if n.NodeID == "" || !validState(n.State) {
			t.Fatalf("node %+v", n)
		}
		checkFacts(t, facts)
	})
}

func FuzzDecodeClusterStatus(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _, err := DecodeClusterStatus(b)
		if err != nil {
			return
		}
		if cs.ActiveNodes < 0 || cs.IdleNodes < 0 || cs.PendingNodes < 0 || cs.FailedNodes < 0 || cs.PendingDemands < 0 {
			t.Fatalf("negative counts %+v", cs)
		}
		used, total := cs.Resources([]string{"object_store_memory", "my_res"})
		if len(used) != len(total) || len(used) != len(cs.Usage) {
			t.Fatalf("usage %v: used %v total %v", cs.Usage, used, total)
		}
	})
}

// FuzzParseRayletCmdline takes the argv joined by NUL bytes.
func FuzzParseRayletCmdline(f *testing.F) {
	f.Add("/x/ray/raylet\x00--gcs-address=192.0.2.2:34703\x00--cluster-id=e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3\x00--session-name=session_2026-11-25_20-22-06_905902_14150\x00--session_dir=/tmp/x\x00--static_resource_list=CPU,1,memory,2\x00--head")
	f.Add("raylet\x00--static_resource_list=,,,\x00--gcs-address=[::1]:1\x00--node_ip_address=::1")
	f.Fuzz(func(t *testing.T, s string) {
		checkFacts(t, ParseRayletCmdline(strings.Split(s, "\x00")))
	})
}

func checkFacts(t *testing.T, f RayletFacts) {
	t.Helper()
	switch {
	case f.GCSAddress != "" && !validHostPort(f.GCSAddress),
		f.ClusterID != "" && !validClusterID(f.ClusterID),
		f.SessionName != "" && !validSessionName(f.SessionName),
		f.SessionDir != "" && cleanPath(f.SessionDir) != f.SessionDir,
		f.NodeIP != "" && cleanIP(f.NodeIP) != f.NodeIP,
		len(f.StaticResources) > 1000:
		t.Fatalf("facts %+v", f)
	}
}
