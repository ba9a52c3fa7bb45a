package scan

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/castray/castray/sdk/ray"
	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
)

// FuzzGCSCandidate: whatever GetAllNodeInfo reply the generated messages
// accept survives the candidate builder and the agent match.
func FuzzGCSCandidate(f *testing.F) {
	for _, n := range []string{"get_all_node_info_reply.pb", "check_alive_reply.pb"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "sdk", "ray", "testdata", "gcs-live-2.60.0", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raypb.GetAllNodeInfoReply
		if proto.Unmarshal(b, &r) != nil {
			return
		}
		g := &ray.GCSFinding{NodesKnown: true, AliveNodes: r.GetNodeInfoList()}
		c := candidate(&ray.Finding{Addr: "127.0.0.1:6379", Kind: ray.KindGCS, GCS: g})
		if c.GetNodeCount() != int32(len(g.AliveNodes)) || c.GetGcsAddress() != "127.0.0.1:6379" {
			t.Fatalf("candidate %v from %d nodes", c, len(g.AliveNodes))
		}
		_ = hasAgent(g, "127.0.0.1", 52365, map[string]bool{})
	})
}
