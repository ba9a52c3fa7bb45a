package ray

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// gcsCapture reads a gRPC reply captured from a live Ray 2.60.0 head
// (testdata/gcs-live-2.60.0, see its README).
func gcsCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "gcs-live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeCapture unmarshals a capture into m and checks that every field
// of it (recursively) that our .proto declares was decoded as declared:
// protobuf keeps a field whose wire type does not match the declaration as
// an unknown field, so a wrong field number or type in our .proto would
// show up here instead of silently reading as zero.
func decodeCapture(t *testing.T, name string, m proto.Message) {
	t.Helper()
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(gcsCapture(t, name), m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkNoDeclaredUnknown(t, name, m.ProtoReflect())
}

func checkNoDeclaredUnknown(t *testing.T, where string, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for b := m.GetUnknown(); len(b) > 0; {
		num, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			t.Fatalf("%s: bad unknown field: %v", where, protowire.ParseError(n))
		}
		if fd := fields.ByNumber(num); fd != nil {
			t.Errorf("%s: field %d (%s) came as wire type %d, not as declared (%s)", where, num, fd.Name(), typ, fd.Kind())
		}
		b = b[n:]
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		sub := where + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					checkNoDeclaredUnknown(t, sub, mv.Message())
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := range v.List().Len() {
					checkNoDeclaredUnknown(t, sub, v.List().Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			checkNoDeclaredUnknown(t, sub, v.Message())
		}
		return true
	})
}

// TestDecodeLiveGCSReplies: the generated ray.rpc messages read the live
// replies the way portscan's hand-written decoder did (the values it
// asserted before it was replaced by these stubs).
func TestDecodeLiveGCSReplies(t *testing.T) {
	var ca raypb.CheckAliveReply
	decodeCapture(t, "check_alive_reply.pb", &ca)
	if ca.GetRayVersion() != "2.60.0" || !ca.GetIsLeader() || ca.GetStatus().GetCode() != 0 || !plausibleVersion(ca.GetRayVersion()) {
		t.Errorf("CheckAlive: %v", &ca)
	}

	var id raypb.GetClusterIdReply
	decodeCapture(t, "get_cluster_id_reply.pb", &id)
	if hex.EncodeToString(id.GetClusterId()) != "952fd970cf8e28e90d67bbfe6561c52abbd57cd36dc800ce9d030996" || gcsStatus("x", id.GetStatus()) != nil {
		t.Errorf("GetClusterId: %v", &id)
	}

	var ni raypb.GetAllNodeInfoReply
	decodeCapture(t, "get_all_node_info_reply.pb", &ni)
	if len(ni.GetNodeInfoList()) != 1 || ni.GetTotal() != 1 || gcsStatus("x", ni.GetStatus()) != nil {
		t.Fatalf("GetAllNodeInfo: %v", &ni)
	}
	n := ni.GetNodeInfoList()[0]
	if n.GetState() != raypb.GcsNodeInfo_ALIVE || !n.GetIsHeadNode() || n.GetNodeManagerAddress() != "192.0.2.2" || n.GetDashboardAgentListenPort() != 38947 ||
		n.GetSessionDir() != "/tmp/crt-68011693/session_2026-11-25_20-13-21_979646_24237" || n.GetTempDir() != "/tmp/crt-68011693" ||
		hex.EncodeToString(n.GetNodeId()) != "df977ce1519deb64eaedb67f03fbe5a054326dd8b27194dcbd3e63d4" {
		t.Errorf("node: %v", n)
	}
	r := n.GetResourcesTotal()
	if r["CPU"] != 1 || r["memory"] <= 0 || r["object_store_memory"] <= 0 || r["node:__internal_head__"] != 1 {
		t.Errorf("resources: %v", r)
	}
	// And through the GCS client's conversion.
	if node := nodeFromGCS(n); node.State != "ALIVE" || node.SessionName != "session_2026-11-25_20-13-21_979646_24237" || node.NodeID != hex.EncodeToString(n.GetNodeId()) {
		t.Errorf("nodeFromGCS: %+v", node)
	}

	var ci raypb.ClusterInfoResponse
	decodeCapture(t, "client_cluster_info_ping_reply.pb", &ci)
	if ci.GetJson() != "{}" {
		t.Errorf("ClusterInfo: %v", &ci)
	}
}

// TestProbeRequestsEncoding: the requests Probe sends are, byte for byte,
// the ones captured against Ray 2.60.0.
func TestProbeRequestsEncoding(t *testing.T) {
	for _, tc := range []struct {
		m    proto.Message
		want []byte
	}{
		{AliveNodesRequest(), []byte{0x18, 0x00}}, // state_filter ALIVE, written although zero
		{PingRequest(), []byte{0x08, 0x06}},       // type PING
		{&raypb.CheckAliveRequest{}, nil},
		{&raypb.GetClusterIdRequest{}, nil},
	} {
		b, err := proto.Marshal(tc.m)
		if err != nil || !bytes.Equal(b, tc.want) {
			t.Errorf("%T = %x, %v; want %x", tc.m, b, err, tc.want)
		}
	}
}

// TestDecodeRejectsWrongShapes: what the probe relies on when a reply is
// not Ray's.
func TestDecodeRejectsWrongShapes(t *testing.T) {
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	vint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	// ray_version as a varint: kept as an unknown field, so no version and
	// the probe says "not Ray's reply".
	var ca raypb.CheckAliveReply
	if err := proto.Unmarshal(vint(2, 7), &ca); err != nil || plausibleVersion(ca.GetRayVersion()) {
		t.Errorf("varint ray_version: %v %v", &ca, err)
	}
	// A truncated message is an error.
	full := gcsCapture(t, "get_all_node_info_reply.pb")
	if err := proto.Unmarshal(full[:len(full)-3], &raypb.GetAllNodeInfoReply{}); err == nil {
		t.Error("truncated GetAllNodeInfo accepted")
	}
	// Unknown fields are skipped.
	if err := proto.Unmarshal(append(str(99, "x"), str(2, "9.9.9")...), &ca); err != nil || ca.GetRayVersion() != "9.9.9" {
		t.Errorf("unknown field: %v %v", &ca, err)
	}
	// Invalid UTF-8 in a string field is an error (proto3).
	if err := proto.Unmarshal(str(2, "\xff\xfe"), &raypb.CheckAliveReply{}); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	// A dead node keeps its state.
	node := append(vint(7, 1), str(2, "10.0.0.1")...)
	var ni raypb.GetAllNodeInfoReply
	if err := proto.Unmarshal(protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), node), &ni); err != nil ||
		len(ni.GetNodeInfoList()) != 1 || ni.GetNodeInfoList()[0].GetState() != raypb.GcsNodeInfo_DEAD {
		t.Errorf("dead node: %v %v", &ni, err)
	}
	// The health service's reply is no CheckAliveReply of Ray's.
	if err := proto.Unmarshal(gcsCapture(t, "health_check_reply.pb"), &ca); err == nil && plausibleVersion(ca.GetRayVersion()) {
		t.Errorf("health reply read as CheckAlive: %v", &ca)
	}
}
