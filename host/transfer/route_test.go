package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// fleet is a plugin manager with several fake backends, by name.
type fleet map[string]*backend

func (f fleet) Transfer(name string) (sdk.Transferer, error) {
	b, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("transfer plugin %q: no such plugin", name)
	}
	return b, nil
}

func (f fleet) TransferNames() []string { return slices.Sorted(maps.Keys(f)) }

func (f fleet) TransferCapabilities(ctx context.Context, name string) (*sdk.TransferCapabilities, error) {
	b, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("transfer plugin %q: no such plugin", name)
	}
	return b.Capabilities(ctx)
}

// clusters is a fake connector.
type clusters map[string]connector.Cluster

func (c clusters) Get(id string) (connector.Cluster, bool) {
	k, ok := c[id]
	return k, ok
}

var rayKinds = []string{string(registry.KindRayNode), string(registry.KindRayActor)}

// Node ids of the Ray fixtures: two clusters, c1 with a node, an actor it
// hosts and a dead node, c2 with one node.
const (
	n1   = "ray:c1:aa01"
	a1   = "ray:c1:actor:ac01"
	dead = "ray:c1:dd00"
	n2   = "ray:c2:bb02"
)

// setupRay is setup with the local nodes a and b, the Ray fixtures, and the
// backends of f.
func setupRay(t *testing.T, f fleet, mod ...func(*Options)) *env {
	t.Helper()
	e := setupWith(t, f, f["local"], append([]func(*Options){func(o *Options) {
		o.Clusters = clusters{
			"c1": {ID: "c1", DashboardURL: "http://admin:s3cret@10.0.0.1:8265", GCSAddress: "10.0.0.1:6379"},
			"c2": {ID: "c2", DashboardURL: "http://10.0.0.2:8265", GCSAddress: "10.0.0.2:6379"},
		}
	}}, mod...)...)
	e.reg.SyncCluster("c1", []registry.Node{
		{ID: n1, Kind: registry.KindRayNode, Address: "10.0.0.1"},
		{ID: a1, Kind: registry.KindRayActor, Address: "10.0.0.1", Labels: map[string]string{"ray_node_id": "aa01"}},
		{ID: dead, Kind: registry.KindRayNode, State: registry.StateDead},
	})
	e.reg.SyncCluster("c2", []registry.Node{{ID: n2, Kind: registry.KindRayNode, Address: "10.0.0.2"}})
	return e
}

func sentTo(req *sdk.SendRequest) []string {
	var out []string
	for _, tg := range req.GetTargets() {
		out = append(out, tg.GetNodeId())
	}
	return out
}

func targetOf(t *testing.T, req *sdk.SendRequest, node string) *sdk.Target {
	t.Helper()
	for _, tg := range req.GetTargets() {
		if tg.GetNodeId() == node {
			return tg
		}
	}
	t.Fatalf("%s is not among the targets sent: %v", node, sentTo(req))
	return nil
}

// One transfer to local nodes and the nodes and actors of two clusters is
// one record: each backend gets one Send with its own targets, and what
// each target needs to be reached.
func TestMixedTransferIsOneRecordWithEveryResult(t *testing.T) {
	local, ray := &backend{}, &backend{kinds: rayKinds}
	e := setupRay(t, fleet{"local": local, "ray": ray})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1, a1, n2}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Backend != BackendMixed {
		t.Fatalf("record backend = %q, want %q", rec.Backend, BackendMixed)
	}
	r := waitState(t, e.s, rec.ID, StateCompleted)
	want := map[string]string{"a": "local", n1: "ray", a1: "ray", n2: "ray"}
	if len(r.Targets) != 4 {
		t.Fatalf("targets = %+v", r.Targets)
	}
	for _, tg := range r.Targets {
		if tg.Backend != want[tg.NodeID] || tg.State != StateCompleted {
			t.Errorf("target %s: backend %q state %s, want %s completed", tg.NodeID, tg.Backend, tg.State, want[tg.NodeID])
		}
	}
	if local.sendCount() != 1 || ray.sendCount() != 1 {
		t.Fatalf("sends: local %d, ray %d; want one each", local.sendCount(), ray.sendCount())
	}
	if got := sentTo(local.lastSend()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("local got %v", got)
	}
	rs := ray.lastSend()
	if got := sentTo(rs); !slices.Equal(got, []string{n1, a1, n2}) || rs.GetTransferId() != rec.ID || rs.GetMode() != sdk.Multicast {
		t.Fatalf("ray got %v (id %s, mode %v)", got, rs.GetTransferId(), rs.GetMode())
	}
	if got := targetOf(t, local.lastSend(), "a").GetAttributes()["inbox_dir"]; got == "" {
		t.Fatal("a local target lacks its inbox_dir")
	}
	node := targetOf(t, rs, n1)
	if got, want := node.GetAttributes(), map[string]string{"cluster_id": "c1", "dashboard_url": "http://10.0.0.1:8265",
		"gcs_address": "10.0.0.1:6379", "ray_node_id": "aa01"}; !maps.Equal(got, want) || node.GetAddress() != "10.0.0.1" || node.GetKind() != "ray-node" {
		t.Fatalf("ray node target = %v, attributes want %v", node, want)
	}
	actor := targetOf(t, rs, a1)
	if got, want := actor.GetAttributes(), map[string]string{"cluster_id": "c1", "dashboard_url": "http://10.0.0.1:8265",
		"gcs_address": "10.0.0.1:6379", "ray_node_id": "aa01", "actor_id": "ac01"}; !maps.Equal(got, want) || actor.GetKind() != "ray-actor" {
		t.Fatalf("ray actor target = %v, attributes want %v", actor, want)
	}
	if got := targetOf(t, rs, n2).GetAttributes(); got["cluster_id"] != "c2" || got["gcs_address"] != "10.0.0.2:6379" || got["ray_node_id"] != "bb02" {
		t.Fatalf("second cluster's node = %v", got)
	}
	for _, tg := range rs.GetTargets() {
		for k, v := range tg.GetAttributes() {
			if strings.Contains(v, "s3cret") {
				t.Fatalf("attribute %s of %s carries the dashboard's credentials: %q", k, tg.GetNodeId(), v)
			}
		}
	}
	if got, err := e.s.ReceivedBy(a1); err != nil || len(got) != 1 || got[0].TransferID != rec.ID {
		t.Fatalf("received by the actor = %+v, %v", got, err)
	}
}

// Broadcast reaches every active node of a kind a backend serves; the kinds
// no backend serves are left out, dead nodes too.
func TestBroadcastReachesEveryServedActiveNode(t *testing.T) {
	local, ray := &backend{}, &backend{kinds: rayKinds}
	e := setupRay(t, fleet{"local": local, "ray": ray})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateCompleted)
	if got := sentTo(local.lastSend()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("local got %v", got)
	}
	if got := sentTo(ray.lastSend()); !slices.Equal(got, []string{n1, a1, n2}) || ray.lastSend().GetMode() != sdk.Broadcast {
		t.Fatalf("ray got %v, mode %v", got, ray.lastSend().GetMode())
	}

	// Without a backend for Ray kinds, broadcast is the local nodes alone.
	only := &backend{}
	e2 := setupRay(t, fleet{"local": only})
	rec, err = e2.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	if r := waitState(t, e2.s, rec.ID, StateCompleted); len(r.Targets) != 2 || r.Backend != "local" {
		t.Fatalf("broadcast with the local backend alone = %+v", r)
	}
}

// A backend whose Send fails fails its own targets only; a retry sends each
// backend its own unfinished targets again, to resume.
func TestOneBackendFailingLeavesTheOthersTargets(t *testing.T) {
	local, ray := &backend{}, &backend{kinds: rayKinds, refuse: errors.New("gcs unreachable")}
	e := setupRay(t, fleet{"local": local, "ray": ray})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1, n2}})
	if err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StatePartial)
	if r.Targets[0].State != StateCompleted {
		t.Fatalf("the local target = %+v", r.Targets[0])
	}
	for _, tg := range r.Targets[1:] {
		if tg.State != StateFailed || tg.Error != "gcs unreachable" {
			t.Fatalf("ray target = %+v", tg)
		}
	}
	if !strings.Contains(r.Error, "2 of 3 targets did not complete") || !strings.Contains(r.Error, "ray: gcs unreachable") {
		t.Fatalf("record error = %q", r.Error)
	}

	ray.mu.Lock()
	ray.refuse = nil
	ray.mu.Unlock()
	if _, err := e.s.Retry(rec.ID); err != nil {
		t.Fatal(err)
	}
	r = waitState(t, e.s, rec.ID, StateCompleted)
	if local.sendCount() != 1 {
		t.Fatalf("the local backend was sent %d times; its target had completed", local.sendCount())
	}
	if req := ray.lastSend(); !slices.Equal(sentTo(req), []string{n1, n2}) || !req.GetResume() {
		t.Fatalf("retry sent ray %v (resume %v)", sentTo(req), req.GetResume())
	}
	if r.Attempts != 2 || r.Backend != BackendMixed {
		t.Fatalf("after retry: %+v", r)
	}
}

// Cancel reaches every backend of a transfer; a deleted node's cancel
// reaches the backend that serves it.
func TestCancelReachesEveryBackend(t *testing.T) {
	local := &backend{release: make(chan struct{})}
	ray := &backend{kinds: rayKinds, release: make(chan struct{}), targetCancel: make(chan string, 1)}
	e := setupRay(t, fleet{"local": local, "ray": ray})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1, n2}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateRunning)
	if ids := e.s.CancelNode(n1, "the node was deleted during the transfer"); !slices.Equal(ids, []string{rec.ID}) {
		t.Fatalf("CancelNode = %v", ids)
	}
	waitTarget(t, e.s, rec.ID, n1, StateCancelled)
	if err := e.s.Cancel(rec.ID); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StateCancelled)
	for _, b := range []*backend{local, ray} {
		if got := b.cancels(); !slices.Equal(got, []string{rec.ID}) {
			t.Fatalf("backend cancels = %v, want [%s]", got, rec.ID)
		}
	}
	for _, tg := range r.Targets {
		if tg.State != StateCancelled {
			t.Fatalf("target %+v", tg)
		}
	}
	if r.Targets[1].Error != "the node was deleted during the transfer" {
		t.Fatalf("the deleted node's target = %+v", r.Targets[1])
	}
}

func waitTarget(t *testing.T, s *Service, id, node, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := s.Get(id)
		for _, tg := range r.Targets {
			if tg.NodeID == node && tg.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("target %s of %s never became %s: %+v", node, id, want, r.Targets)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Targets no loaded backend serves, or that a forced backend does not, are
// request errors that name the node and kind; nothing is recorded.
func TestRoutingErrorsAreRequestErrors(t *testing.T) {
	local := &backend{}
	e := setupRay(t, fleet{"local": local})
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1}},
			"node " + n1 + ": no transfer backend serves kind ray-node (loaded: local)"},
		{Request{FileName: "f.txt", Mode: "unicast", Targets: []string{a1}},
			"node " + a1 + ": no transfer backend serves kind ray-actor (loaded: local)"},
		{Request{FileName: "f.txt", Mode: "unicast", Targets: []string{n1}, Backend: "local"},
			"node " + n1 + ": backend \"local\" does not serve kind ray-node (it serves local)"},
		{Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}, Backend: "ray"},
			"backend \"ray\": no such transfer backend (loaded: local)"},
	} {
		_, err := e.s.Start(c.req)
		var re *RequestError
		if !errors.As(err, &re) || re.Msg != c.want {
			t.Errorf("%+v: err = %v, want the RequestError %q", c.req, err, c.want)
		}
	}
	if l, _ := e.s.List(ListOptions{}); len(l) != 0 || local.sendCount() != 0 {
		t.Fatal("a refused request was recorded or sent")
	}

	// A forced backend takes every target, whatever the routing rule says.
	other := &backend{kinds: []string{"local", "ray-node"}}
	e2 := setupRay(t, fleet{"local": &backend{}, "other": other})
	rec, err := e2.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1}, Backend: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if r := waitState(t, e2.s, rec.ID, StateCompleted); r.Backend != "other" || r.Targets[0].Backend != "other" {
		t.Fatalf("forced record = %+v", r)
	}
	if got := sentTo(other.lastSend()); !slices.Equal(got, []string{"a", n1}) {
		t.Fatalf("the forced backend got %v", got)
	}
}

// A record written before routing (one backend, none per target) loads
// with its backend on every target, and resumes through it.
func TestRecordsBeforeRoutingLoadAndResume(t *testing.T) {
	b := &backend{}
	e := setup(t, b)
	raw := `{"id":"tr-old","state":"running","mode":"multicast","backend":"local",` +
		`"file":{"name":"f.txt","size":5,"sha256":"` + strings.Repeat("ab", 32) + `"},` +
		`"targets":[{"node_id":"a","state":"completed","bytes_done":5},{"node_id":"b","state":"running","bytes_done":2}],` +
		`"attempts":1,"created_at":"2026-01-01T00:00:00Z"}`
	if err := e.st.Put(Bucket, "tr-old", json.RawMessage(raw)); err != nil {
		t.Fatal(err)
	}
	s := e.restart(t)
	r, err := s.Get("tr-old")
	if err != nil || r.State != StateInterrupted || r.Backend != "local" {
		t.Fatalf("loaded = %+v, %v", r, err)
	}
	for _, tg := range r.Targets {
		if tg.Backend != "local" {
			t.Fatalf("target %s has backend %q, want local", tg.NodeID, tg.Backend)
		}
	}
	s.ResumeInterrupted()
	r = waitState(t, s, "tr-old", StateCompleted)
	if req := b.lastSend(); !slices.Equal(sentTo(req), []string{"b"}) || !req.GetResume() || r.Attempts != 2 {
		t.Fatalf("resume sent %v (resume %v), attempts %d", sentTo(req), req.GetResume(), r.Attempts)
	}
}

// The idle watch is per backend: a silent one fails its own targets even
// while another completes. The clock is the test's; the service only
// looks at it.
func TestSilentBackendFailsAloneOnTheIdleTimeout(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	local, ray := &backend{}, &backend{kinds: rayKinds, silent: true, started: make(chan string, 1)}
	e := setupRay(t, fleet{"local": local, "ray": ray}, func(o *Options) {
		o.Now, o.IdleTimeout, o.idleTick = now, time.Minute, time.Millisecond
	})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", n1}})
	if err != nil {
		t.Fatal(err)
	}
	<-ray.started
	waitTarget(t, e.s, rec.ID, "a", StateCompleted)
	if r, _ := e.s.Get(rec.ID); r.State != StateRunning {
		t.Fatalf("before the timeout: %+v", r)
	}
	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	r := waitState(t, e.s, rec.ID, StatePartial)
	if r.Targets[0].State != StateCompleted || r.Targets[1].State != StateFailed || !strings.Contains(r.Targets[1].Error, "no progress for 1m0s") {
		t.Fatalf("record = %+v", r)
	}
}

func TestCastModeFallsBackToWhatTheBackendLists(t *testing.T) {
	only := func(m ...sdk.CastMode) *sdk.TransferCapabilities { return &sdk.TransferCapabilities{Modes: m} }
	for _, c := range []struct {
		mode    string
		caps    *sdk.TransferCapabilities
		targets int
		want    sdk.CastMode
		err     bool
	}{
		{"broadcast", nil, 3, sdk.Broadcast, false},
		{"broadcast", only(sdk.Multicast), 3, sdk.Multicast, false},
		{"multicast", only(sdk.Unicast), 1, sdk.Unicast, false},
		{"multicast", only(sdk.Unicast), 2, 0, true},
		{"unicast", only(sdk.Multicast), 1, sdk.Multicast, false},
	} {
		got, err := castMode(c.mode, c.caps, c.targets)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("castMode(%s, %v, %d) = %v, %v", c.mode, c.caps.GetModes(), c.targets, got, err)
		}
	}
}

// max_targets bounds a backend's share of one transfer.
func TestMaxTargetsIsARequestError(t *testing.T) {
	e := setupRay(t, fleet{"local": &backend{}, "ray": &backend{kinds: rayKinds}})
	e.s.o.Backends = limited{fleet{"local": &backend{}, "ray": &backend{kinds: rayKinds}}, "ray", 1}
	var re *RequestError
	if _, err := e.s.Start(Request{FileName: "f.txt", Mode: "multicast", Targets: []string{n1, n2}}); !errors.As(err, &re) ||
		!strings.Contains(re.Msg, `backend "ray" serves at most 1 targets`) {
		t.Fatalf("err = %v", err)
	}
}

// limited reports a max_targets for one backend of a fleet.
type limited struct {
	fleet
	name  string
	limit uint32
}

func (l limited) TransferCapabilities(ctx context.Context, name string) (*sdk.TransferCapabilities, error) {
	caps, err := l.fleet.TransferCapabilities(ctx, name)
	if err == nil && name == l.name {
		caps.MaxTargets = l.limit
	}
	return caps, err
}
