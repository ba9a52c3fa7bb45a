package ray

import "testing"

// Every JSON decoder, seeded with the real 2.60.0 captures: never panic.
func FuzzDecoders(f *testing.F) {
	for _, name := range []string{"api_v0_nodes_detail.json", "nodes_view_summary.json", "api_version.json",
		"api_authentication_mode.json", "api_v0_actors_detail_alive.json", "cluster_id.body", "nodes_head_detail.body",
		"api_v0_nodes_limit_too_high.body", "api_version_401_without_token.body"} {
		f.Add(capture(f, name))
	}
	f.Add([]byte(`{"result": true, "data": {"result": {"total": 5, "num_filtered": 9, "result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": "12"}]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeAuthMode(b)
		_, _ = DecodeVersion(b)
		_, _ = DecodeClusterID(b)
		if ns, l, err := parseStateNodes(b); err == nil {
			if len(ns) != len(l.Rows) {
				t.Fatal("row count")
			}
			_, _ = l.truncated()
		}
		_, _, _ = parseStateActors(b)
		_, _ = parseNodesSummary(b, []string{"object_store_memory"})
		_, _, _ = parseNodeDetail(b)
		_ = availableFromUsage(string(b), map[string]float64{"CPU": 1})
	})
}
