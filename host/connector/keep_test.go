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

// A sync in flight when its connection is dropped never writes the
// cluster's nodes back into the registry after Disconnect cleared them.
func TestDisconnectDuringASync(t *testing.T) {
	f := &fakeCluster{info: ray.ClusterInfo{SessionName: "session_d"}, nodes: []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}}
	c, reg, rec := setup(t, fakeDialer{"d:8265": f})
	st, _, err := c.Connect(context.Background(), "d:8265")
	if err != nil {
		t.Fatal(err)
	}
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	f.set(func(f *fakeCluster) { f.hold, f.entered = hold, entered })
	<-entered // the loop's next sync has read the nodes and waits
	if _, err := c.Disconnect(st.ID); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeCluster) { f.hold = nil })
	close(hold)
	c.Shutdown() // waits for the loop, so its sync has ended
	if got := reg.List(registry.Filter{ClusterID: st.ID}); len(got) != 0 {
		t.Fatalf("nodes of the disconnected cluster came back: %+v", got)
	}
	if n := rec.count("external_cluster_disconnected"); n != 1 {
		t.Fatalf("%d disconnected events (the dropped sync is no outage)", n)
	}
}

// One cluster reached by two addresses through which its Ray tells
// different things of itself (an older Ray: the dashboard gives no cluster
// id, the GCS does) is one connection: any shared identifier decides.
func TestOneClusterByTwoAddressesIsOneConnection(t *testing.T) {
	nodes := []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}
	dash := &fakeCluster{info: ray.ClusterInfo{SessionName: "session_old"}, nodes: nodes}
	gcs := &fakeCluster{info: ray.ClusterInfo{ClusterID: "ab12cd34ef56ab12cd34", SessionName: "session_old"}, nodes: nodes}
	c, reg, _ := setup(t, fakeDialer{"http://10.0.0.1:8265": dash, "10.0.0.1:6379": gcs})
	first, created, err := c.Connect(context.Background(), "10.0.0.1:6379")
	if err != nil || !created {
		t.Fatal(err, created)
	}
	again, created, err := c.Connect(context.Background(), "http://10.0.0.1:8265")
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second address: %+v created=%v err=%v, want the connection %s", again, created, err, first.ID)
	}
	if n := len(c.Clusters()); n != 1 {
		t.Fatalf("%d connections", n)
	}
	if n := len(reg.List(registry.Filter{})); n != 1 {
		t.Fatalf("the node is counted %d times", n)
	}
}

// An older Ray's dashboard right after its head started names neither the
// cluster id nor the session (its head's agent has not reported yet; seen
// live with 2.9.3): the alive head node tells it is the cluster already
// connected by another address, in either order.
func TestAnonymousDashboardIsMatchedByItsHeadNode(t *testing.T) {
	nodes := []ray.Node{node("n1", "10.0.0.1", "ALIVE", true)}
	for _, order := range [][]string{{"http://10.0.0.1:8265", "10.0.0.1:8265", "10.0.0.1:6379"}, {"10.0.0.1:6379", "http://10.0.0.1:8265", "10.0.0.1:8265"}} {
		dash := &fakeCluster{info: ray.ClusterInfo{RayVersion: "2.9.3"}, nodes: nodes}
		gcs := &fakeCluster{info: ray.ClusterInfo{ClusterID: "ab12cd34ef56ab12cd34", SessionName: "session_old"}, nodes: nodes}
		other := &fakeCluster{info: ray.ClusterInfo{RayVersion: "2.9.3"}, nodes: []ray.Node{node("n2", "10.0.0.2", "ALIVE", true)}}
		c, reg, _ := setup(t, fakeDialer{"http://10.0.0.1:8265": dash, "10.0.0.1:8265": dash, "10.0.0.1:6379": gcs, "http://10.0.0.2:8265": other})
		var id string
		for i, addr := range order {
			st, created, err := c.Connect(context.Background(), addr)
			if err != nil || created != (i == 0) || i > 0 && st.ID != id {
				t.Fatalf("%v: connect %s: %+v created=%v err=%v, want the connection %q", order, addr, st, created, err, id)
			}
			id = st.ID
		}
		// Another anonymous cluster is another connection.
		if _, created, err := c.Connect(context.Background(), "http://10.0.0.2:8265"); err != nil || !created {
			t.Fatalf("%v: the other cluster: created=%v err=%v", order, created, err)
		}
		if n := len(c.Clusters()); n != 2 {
			t.Fatalf("%v: %d connections for two clusters", order, n)
		}
		if n := len(reg.List(registry.Filter{})); n != 2 {
			t.Fatalf("%v: %d nodes for two one-node clusters", order, n)
		}
		c.Shutdown()
	}
}
