package scan

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func live(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeLiveReplies(t *testing.T) {
	ca, err := decodeCheckAliveReply(live(t, "check_alive_reply.pb"))
	if err != nil || ca.RayVersion != "2.60.0" || !ca.IsLeader || ca.Status.Code != 0 {
		t.Fatalf("CheckAlive: %+v %v", ca, err)
	}

	id, err := decodeClusterIDReply(live(t, "get_cluster_id_reply.pb"))
	if err != nil || hex.EncodeToString(id.ClusterID) != "952fd970cf8e28e90d67bbfe6561c52abbd57cd36dc800ce9d030996" {
		t.Fatalf("GetClusterId: %+v %v", id, err)
	}

	ni, err := decodeNodeInfoReply(live(t, "get_all_node_info_reply.pb"))
	if err != nil || len(ni.Nodes) != 1 || ni.Total != 1 {
		t.Fatalf("GetAllNodeInfo: %+v %v", ni, err)
	}
	n := ni.Nodes[0]
	if n.State != nodeStateAlive || !n.IsHead || n.Address != "192.0.2.2" || n.DashboardAgentPort != 38947 ||
		n.SessionDir != "/tmp/crt-68011693/session_2026-11-25_20-13-21_979646_24237" || n.TempDir != "/tmp/crt-68011693" ||
		hex.EncodeToString(n.NodeID) != "df977ce1519deb64eaedb67f03fbe5a054326dd8b27194dcbd3e63d4" {
		t.Fatalf("node: %+v", n)
	}
	if n.Resources["CPU"] != 1 || n.Resources["memory"] <= 0 || n.Resources["object_store_memory"] <= 0 || n.Resources["node:__internal_head__"] != 1 {
		t.Fatalf("resources: %v", n.Resources)
	}

	ci, err := decodeClusterInfoResponse(live(t, "client_cluster_info_ping_reply.pb"))
	if err != nil || ci.JSON != "{}" {
		t.Fatalf("ClusterInfo: %+v %v", ci, err)
	}
}

func TestRequestsEncoding(t *testing.T) {
	if !bytes.Equal(getAllNodeInfoRequest, []byte{0x18, 0x00}) {
		t.Errorf("GetAllNodeInfoRequest = %x", getAllNodeInfoRequest)
	}
	if !bytes.Equal(clusterInfoPingRequest, []byte{0x08, 0x06}) {
		t.Errorf("ClusterInfoRequest = %x", clusterInfoPingRequest)
	}
	if len(checkAliveRequest) != 0 || len(getClusterIDRequest) != 0 {
		t.Error("empty requests are not empty")
	}
}

func TestDecodeRejectsWrongShapes(t *testing.T) {
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	vint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	// ray_version as a varint: not Ray's CheckAliveReply.
	if _, err := decodeCheckAliveReply(vint(2, 7)); err == nil {
		t.Error("varint ray_version accepted")
	}
	// Truncated message.
	full := live(t, "get_all_node_info_reply.pb")
	if _, err := decodeNodeInfoReply(full[:len(full)-3]); err == nil {
		t.Error("truncated GetAllNodeInfo accepted")
	}
	// Unknown fields are skipped.
	r, err := decodeCheckAliveReply(append(str(99, "x"), str(2, "9.9.9")...))
	if err != nil || r.RayVersion != "9.9.9" {
		t.Errorf("unknown field: %+v %v", r, err)
	}
	// Invalid UTF-8 in a string field.
	if _, err := decodeCheckAliveReply(str(2, "\xff\xfe")); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	// A dead node is decoded with its state.
	node := append(vint(7, 1), str(2, "10.0.0.1")...)
	rep := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), node)
	ni, err := decodeNodeInfoReply(rep)
	if err != nil || len(ni.Nodes) != 1 || ni.Nodes[0].State != 1 {
		t.Errorf("dead node: %+v %v", ni, err)
	}
}

func fuzzSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		b := live(f, n)
		f.Add(b)
		if len(b) > 2 {
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
}

var allReplies = []string{"check_alive_reply.pb", "get_cluster_id_reply.pb", "get_all_node_info_reply.pb", "client_cluster_info_ping_reply.pb", "health_check_reply.pb"}

func FuzzDecodeCheckAliveReply(f *testing.F) {
	fuzzSeeds(f, allReplies...)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeCheckAliveReply(b) })
}

func FuzzDecodeClusterIDReply(f *testing.F) {
	fuzzSeeds(f, allReplies...)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeClusterIDReply(b) })
}

func FuzzDecodeNodeInfoReply(f *testing.F) {
	fuzzSeeds(f, allReplies...)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeNodeInfoReply(b)
		if err == nil {
			// What decodes must survive the candidate builder too.
			g := &gcsFinding{Addr: "127.0.0.1:6379", NodesKnown: true, AliveNodes: r.Nodes}
			_ = gcsCandidate(g)
			_ = g.hasAgent("127.0.0.1", 52365, map[string]bool{})
		}
	})
}

func FuzzDecodeClusterInfoResponse(f *testing.F) {
	fuzzSeeds(f, allReplies...)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeClusterInfoResponse(b) })
}
