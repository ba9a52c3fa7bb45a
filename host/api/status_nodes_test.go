package api

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/registry"
)

// Above events.status_nodes nodes the /ws status (snapshot, status_update)
// carries counts, not one entry per node; GET /api/status lists them all.
func TestWSStatusLeavesNodesOutAboveTheLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, listed, omitted int
	}{{limit: 3, listed: 3}, {limit: 2, omitted: 3}, {limit: 0, omitted: 3}} {
		reg := registry.New(nil, nil)
		for _, id := range []string{"a", "b", "c"} {
			if _, err := reg.AddLocal(id, 9000, t.TempDir()); err != nil {
				t.Fatal(err)
			}
		}
		srv := New(Deps{Registry: reg, Plugins: wsAuthPlugins{}, Bus: events.NewBus(), Log: hclog.NewNullLogger(),
			BodyLimit: 1 << 10, ClientBuffer: 8, StatusNodes: tc.limit, Version: "test"})
		full := srv.Status()
		if full.TotalNodes != 3 || len(full.NodeStatuses) != 3 || len(full.NodePorts) != 3 || full.NodeStatusesOmitted != 0 {
			t.Errorf("limit %d: GET /api/status lists %d nodes, %d ports, omits %d; want 3, 3, 0",
				tc.limit, len(full.NodeStatuses), len(full.NodePorts), full.NodeStatusesOmitted)
		}

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		_, first, err := dialWSAuth(t, "ws://"+ln.Addr().String()+"/ws", nil, nil)
		_ = srv.Shutdown(5 * time.Second)
		<-done
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		var snap struct {
			Type string `json:"type"`
			Data struct {
				Status StatusReport `json:"status"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(first), &snap); err != nil || snap.Type != "snapshot" {
			t.Fatalf("first message %q: %v", first, err)
		}
		st := snap.Data.Status
		if st.TotalNodes != 3 || st.ActiveNodes != 3 || len(st.NodeStatuses) != tc.listed ||
			len(st.NodePorts) != tc.listed || st.NodeStatusesOmitted != tc.omitted {
			t.Errorf("limit %d: snapshot counts %d/%d, lists %d nodes and %d ports, omits %d; want 3/3, %d, %d, %d",
				tc.limit, st.ActiveNodes, st.TotalNodes, len(st.NodeStatuses), len(st.NodePorts), st.NodeStatusesOmitted,
				tc.listed, tc.listed, tc.omitted)
		}
		if st.NodeStatuses == nil {
			t.Errorf("limit %d: node_statuses is null, want an array", tc.limit)
		}
	}
}
