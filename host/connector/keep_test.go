package connector

import (
	"context"
	"testing"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

// An address that does not answer yet is listed as connecting with its
// error, dialed again until it answers, and then is an ordinary
// connection; Disconnect stops the dialing of one that never answers.
func TestKeepDialsUntilTheClusterIsUp(t *testing.T) {
	f := &fakeCluster{info: ray.ClusterInfo{SessionName: "session_late"}, down: true,
		nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}}
	c, reg, rec := setup(t, fakeDialer{"late:8265": f})
	st, err := c.Keep(context.Background(), "late:8265")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateConnecting || st.ID != "p-late-8265" || st.LastError == "" || st.NextAttemptAt.IsZero() {
		t.Fatalf("first answer: %+v", st)
	}
	if got, ok := c.Get(st.ID); !ok || got.State != StateConnecting {
		t.Fatalf("Get(%s) = %+v %v", st.ID, got, ok)
	}
	if _, err := c.Keep(context.Background(), "late:8265"); err == nil {
		t.Fatal("a second Keep of the same address was accepted")
	}
	f.set(func(f *fakeCluster) { f.down = false })
	waitFor(t, "the cluster to connect", func() bool {
		cs := c.Clusters()
		return len(cs) == 1 && cs[0].State == StateConnected
	})
	if cs := c.Clusters(); cs[0].ID != "s-late" || rec.count("external_cluster_connected") != 1 {
		t.Fatalf("after it came up: %+v, events %v", cs, rec.events)
	}
	if _, ok := reg.Get(NodeID("s-late", "n1")); !ok {
		t.Fatal("its node is not in the registry")
	}

	// One that never answers: Disconnect ends the dialing.
	st, err = c.Keep(context.Background(), "never:1")
	if err != nil || st.State != StateConnecting {
		t.Fatalf("never: %+v %v", st, err)
	}
	if got, err := c.Disconnect(st.ID); err != nil || got.State != StateDisconnected {
		t.Fatalf("disconnect a connecting cluster: %+v %v", got, err)
	}
	if _, ok := c.Get(st.ID); ok || len(c.Clusters()) != 1 {
		t.Fatalf("still listed after disconnect: %+v", c.Clusters())
	}
	if n := len(reg.List(registry.Filter{})); n != 1 {
		t.Fatalf("registry has %d nodes", n)
	}
}
