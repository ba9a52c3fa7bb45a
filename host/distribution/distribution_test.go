package distribution

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
)

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// fakeNodes is a registry whose node list the test sets.
type fakeNodes struct {
	mu    sync.Mutex
	nodes map[string]registry.Node
}

func (f *fakeNodes) set(id string, kind registry.Kind, state registry.State) registry.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes == nil {
		f.nodes = map[string]registry.Node{}
	}
	n := registry.Node{ID: id, Kind: kind, State: state}
	f.nodes[id] = n
	return n
}

func (f *fakeNodes) remove(id string) registry.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	delete(f.nodes, id)
	n.State = registry.StateRemoved
	return n
}

func (f *fakeNodes) List(registry.Filter) []registry.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []registry.Node
	for _, n := range f.nodes {
		out = append(out, n)
	}
	return out
}

// fakeFiles is an upload store of names and digests.
type fakeFiles struct {
	mu  sync.Mutex
	sha map[string]string
}

func (f *fakeFiles) put(name, sha string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sha == nil {
		f.sha = map[string]string{}
	}
	f.sha[name] = sha
}

func (f *fakeFiles) drop(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sha, name)
}

func (f *fakeFiles) Stat(name string) (files.Meta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha, ok := f.sha[name]
	if !ok {
		return files.Meta{}, fmt.Errorf("%s: %w", name, files.ErrNotFound)
	}
	return files.Meta{Name: name, Size: 10, SHA256: sha}, nil
}

// fakeTransfers records starts; the test decides how each target ends.
type fakeTransfers struct {
	mu     sync.Mutex
	files  *fakeFiles
	recs   map[string]*transfer.Record
	starts [][]string // targets of each successful Start
	refuse map[string]string
	n      int
}

func (f *fakeTransfers) Start(req transfer.Request) (transfer.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.Targets {
		if msg, ok := f.refuse[id]; ok {
			return transfer.Record{}, &transfer.RequestError{Msg: fmt.Sprintf("target %q: %s", id, msg)}
		}
	}
	meta, err := f.files.Stat(req.FileName)
	if err != nil {
		return transfer.Record{}, &transfer.RequestError{Msg: err.Error()}
	}
	if req.Mode != "multicast" {
		return transfer.Record{}, fmt.Errorf("unexpected mode %q", req.Mode)
	}
	f.n++
	rec := &transfer.Record{ID: fmt.Sprintf("tr-%d", f.n), State: transfer.StatePending, Mode: req.Mode,
		File: transfer.File{Name: req.FileName, SHA256: meta.SHA256}}
	for _, id := range req.Targets {
		rec.Targets = append(rec.Targets, transfer.TargetRecord{NodeID: id, State: transfer.StatePending})
	}
	if f.recs == nil {
		f.recs = map[string]*transfer.Record{}
	}
	f.recs[rec.ID] = rec
	f.starts = append(f.starts, slices.Clone(req.Targets))
	c := *rec
	c.Targets = slices.Clone(rec.Targets)
	return c, nil
}

func (f *fakeTransfers) Get(id string) (transfer.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[id]
	if !ok {
		return transfer.Record{}, transfer.ErrNotFound
	}
	c := *r
	c.Targets = slices.Clone(r.Targets)
	return c, nil
}

// end sets the final state of one target of transfer id.
func (f *fakeTransfers) end(t *testing.T, id, node, state, sha, msg string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[id]
	if !ok {
		t.Fatalf("no transfer %s", id)
	}
	for i := range r.Targets {
		if r.Targets[i].NodeID == node {
			r.Targets[i].State, r.Targets[i].SHA256, r.Targets[i].Error = state, sha, msg
			if sha != "" {
				r.Targets[i].Location = "/inbox/" + node
			}
			return
		}
	}
	t.Fatalf("transfer %s has no target %s", id, node)
}

func (f *fakeTransfers) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts)
}

func (f *fakeTransfers) lastStart() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.starts) == 0 {
		return nil
	}
	return f.starts[len(f.starts)-1]
}

// fakeClock is moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	nodes *fakeNodes
	files *fakeFiles
	tr    *fakeTransfers
	clock *fakeClock
	st    *store.Store
	svc   *Service
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{nodes: &fakeNodes{}, files: &fakeFiles{}, clock: &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}
	h.tr = &fakeTransfers{files: h.files}
	st, err := store.Open(filepath.Join(t.TempDir(), "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	h.files.put("model.bin", shaA)
	h.svc = h.service()
	return h
}

func (h *harness) service() *Service {
	return New(Options{Store: h.st, Nodes: h.nodes, Transfers: h.tr, Files: h.files, Now: h.clock.Now,
		RetryBase: 10 * time.Second, RetryMax: 40 * time.Second})
}

func kindSel(k registry.Kind) selector.Selector { return selector.Selector{Kind: k} }

func nodeStatus(t *testing.T, d Distribution, id string) NodeStatus {
	t.Helper()
	for _, n := range d.Nodes {
		if n.NodeID == id {
			return n
		}
	}
	t.Fatalf("distribution %s has no node %s: %+v", d.ID, id, d.Nodes)
	return NodeStatus{}
}

func (h *harness) get(t *testing.T, id string) Distribution {
	t.Helper()
	d, err := h.svc.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewNodeGetsTheFile(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.nodes.set("node_1", registry.KindLocal, registry.StateActive) // does not match
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "weights")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Nodes) != 1 || d.Nodes[0].Status != StatusDelivering || d.Nodes[0].TransferID != "tr-1" {
		t.Fatalf("after create: %+v", d.Nodes)
	}
	if got := h.tr.lastStart(); !slices.Equal(got, []string{"ray:c:a"}) {
		t.Fatalf("first transfer targets %v", got)
	}
	h.tr.end(t, "tr-1", "ray:c:a", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()
	d = h.get(t, d.ID)
	if n := nodeStatus(t, d, "ray:c:a"); n.Status != StatusPresent || n.SHA256 != shaA || n.Location == "" {
		t.Fatalf("after completion: %+v", n)
	}
	if !d.Satisfied || d.Counts.Present != 1 {
		t.Fatalf("summary: %+v satisfied=%v", d.Counts, d.Satisfied)
	}

	// A worker joins: only it is sent the file.
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	if got := h.tr.lastStart(); !slices.Equal(got, []string{"ray:c:b"}) || h.tr.startCount() != 2 {
		t.Fatalf("second transfer targets %v (%d starts)", got, h.tr.startCount())
	}
	d = h.get(t, d.ID)
	if d.Satisfied || nodeStatus(t, d, "ray:c:b").Status != StatusDelivering {
		t.Fatalf("while delivering: %+v", d)
	}
	h.tr.end(t, "tr-2", "ray:c:b", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()
	if d = h.get(t, d.ID); !d.Satisfied || d.Counts.Present != 2 {
		t.Fatalf("after second delivery: %+v", d)
	}
	// Nothing more to do: a reconcile starts nothing.
	h.svc.Reconcile()
	if h.tr.startCount() != 2 {
		t.Fatalf("%d starts, want 2", h.tr.startCount())
	}
}

// TestEventsDriveDelivery runs the loop on a real bus: a node_added event
// (no tick) makes the service deliver, and distribution_updated reports it.
func TestEventsDriveDelivery(t *testing.T) {
	h := newHarness(t)
	bus := events.NewBus()
	h.svc = New(Options{Store: h.st, Nodes: h.nodes, Transfers: h.tr, Files: h.files, Now: h.clock.Now,
		Bus: bus, Ticks: make(chan time.Time)})
	watch := bus.Subscribe(1024)
	defer watch.Close()
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Start()
	defer h.svc.Stop()

	n := h.nodes.set("ray:c:new", registry.KindRayNode, registry.StateActive)
	bus.Publish(events.TypeNodeAdded, n)
	waitFor(t, watch, d.ID, func(d Distribution) bool {
		return len(d.Nodes) == 1 && d.Nodes[0].Status == StatusDelivering
	})
	h.tr.end(t, "tr-1", "ray:c:new", transfer.StateCompleted, shaA, "")
	bus.Publish(events.TypeTransferCompleted, transfer.Record{ID: "tr-1"})
	got := waitFor(t, watch, d.ID, func(d Distribution) bool { return d.Satisfied && d.Counts.Present == 1 })
	if got.Nodes[0].SHA256 != shaA {
		t.Fatalf("present without the sha: %+v", got.Nodes[0])
	}
}

// waitFor reads distribution_updated events of id until cond holds. The
// bound only keeps a broken test from hanging.
func waitFor(t *testing.T, sub *events.Subscription, id string, cond func(Distribution) bool) Distribution {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription ended")
			}
			if d, isDist := ev.Data.(Distribution); ev.Type == EventUpdated && isDist && d.ID == id && cond(d) {
				return d
			}
		case <-deadline:
			t.Fatal("no matching distribution_updated event")
		}
	}
}

func TestNodeThatComesBack(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateInactive)
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "")
	if err != nil {
		t.Fatal(err)
	}
	if b := nodeStatus(t, d, "ray:c:b"); b.Status != StatusPending || !strings.Contains(b.Error, "inactive") {
		t.Fatalf("inactive node: %+v", b)
	}
	if got := h.tr.lastStart(); !slices.Equal(got, []string{"ray:c:a"}) {
		t.Fatalf("targets %v: an inactive node was sent to", got)
	}
	h.tr.end(t, "tr-1", "ray:c:a", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()

	// b comes back without the file: it gets it.
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	if got := h.tr.lastStart(); !slices.Equal(got, []string{"ray:c:b"}) {
		t.Fatalf("targets %v, want b", got)
	}
	h.tr.end(t, "tr-2", "ray:c:b", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()

	// a goes inactive and comes back with the file: nothing is sent.
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateInactive)
	h.svc.Reconcile()
	if a := nodeStatus(t, h.get(t, d.ID), "ray:c:a"); a.Status != StatusPresent || a.NodeState != "inactive" {
		t.Fatalf("inactive present node: %+v", a)
	}
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	if h.tr.startCount() != 2 {
		t.Fatalf("%d starts: a present node that came back was sent the file again", h.tr.startCount())
	}

	// b leaves the registry (the entry stays, the file is on it) and joins
	// again: what it kept is unknown, so it is sent again.
	gone := h.nodes.remove("ray:c:b")
	h.svc.handle(events.Event{Type: events.TypeNodeRemoved, Data: gone})
	h.svc.Reconcile()
	if b := nodeStatus(t, h.get(t, d.ID), "ray:c:b"); b.Status != StatusPresent || b.NodeState != NodeStateRemoved {
		t.Fatalf("removed node: %+v", b)
	}
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	if got := h.tr.lastStart(); h.tr.startCount() != 3 || !slices.Equal(got, []string{"ray:c:b"}) {
		t.Fatalf("after b rejoined: %d starts, last %v", h.tr.startCount(), got)
	}
	// Removed and back between two reconciles (only the event tells).
	h.tr.end(t, "tr-3", "ray:c:b", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()
	h.svc.handle(events.Event{Type: events.TypeNodeRemoved, Data: registry.Node{ID: "ray:c:a"}})
	h.svc.Reconcile()
	if got := h.tr.lastStart(); h.tr.startCount() != 4 || !slices.Equal(got, []string{"ray:c:a"}) {
		t.Fatalf("after a left and rejoined unseen: %d starts, last %v", h.tr.startCount(), got)
	}
}

func TestFailureIsRetriedWithBackoff(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "")
	if err != nil {
		t.Fatal(err)
	}
	h.tr.end(t, "tr-1", "ray:c:a", transfer.StateFailed, "", "ActorDiedError: node died")
	h.svc.Reconcile()
	a := nodeStatus(t, h.get(t, d.ID), "ray:c:a")
	if a.Status != StatusFailed || !strings.Contains(a.Error, "ActorDiedError") || !strings.Contains(a.Error, "tr-1") {
		t.Fatalf("failed node: %+v", a)
	}
	if want := h.clock.Now().Add(10 * time.Second); !a.NextRetryAt.Equal(want) {
		t.Fatalf("next retry %v, want %v", a.NextRetryAt, want)
	}
	// Events and reconciles before the retry time start nothing.
	for range 5 {
		h.svc.Reconcile()
	}
	h.clock.advance(9 * time.Second)
	h.svc.Reconcile()
	if h.tr.startCount() != 1 {
		t.Fatalf("%d starts before the retry time", h.tr.startCount())
	}
	h.clock.advance(time.Second)
	h.svc.Reconcile()
	if h.tr.startCount() != 2 || nodeStatus(t, h.get(t, d.ID), "ray:c:a").Status != StatusDelivering {
		t.Fatalf("no retry at the retry time: %d starts", h.tr.startCount())
	}

	// Repeated failures double the wait up to RetryMax (40 s).
	waits := []time.Duration{}
	for i := 2; i <= 5; i++ {
		h.tr.end(t, fmt.Sprintf("tr-%d", i), "ray:c:a", transfer.StateFailed, "", "boom")
		h.svc.Reconcile()
		a := nodeStatus(t, h.get(t, d.ID), "ray:c:a")
		waits = append(waits, a.NextRetryAt.Sub(h.clock.Now()))
		h.clock.advance(a.NextRetryAt.Sub(h.clock.Now()))
		h.svc.Reconcile()
	}
	if want := []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}

	// Success resets the failures.
	h.tr.end(t, "tr-6", "ray:c:a", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()
	if a := nodeStatus(t, h.get(t, d.ID), "ray:c:a"); a.Status != StatusPresent || a.Failures != 0 || a.Attempts != 6 {
		t.Fatalf("after success: %+v", a)
	}
}

// A target the transfer service refuses (no backend serves its kind) fails
// alone; the others are delivered.
func TestRefusedTargetFailsAlone(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.nodes.set("ray:c:actor:x", registry.KindRayActor, registry.StateActive)
	h.tr.refuse = map[string]string{"ray:c:actor:x": "no transfer plugin serves kind ray-actor"}
	d, err := h.svc.Create("model.bin", selector.Selector{Cluster: ""}, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := nodeStatus(t, d, "ray:c:a"); a.Status != StatusDelivering {
		t.Fatalf("good node: %+v", a)
	}
	x := nodeStatus(t, d, "ray:c:actor:x")
	if x.Status != StatusFailed || !strings.Contains(x.Error, "no transfer plugin serves kind ray-actor") || x.NextRetryAt.IsZero() {
		t.Fatalf("refused node: %+v", x)
	}
}

func TestRestartReloadsAndReconciles(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "keep")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Stop() // never started: a no-op

	// The daemon stops; the transfer was interrupted for b and completed
	// for a meanwhile.
	h.tr.end(t, "tr-1", "ray:c:a", transfer.StateCompleted, shaA, "")
	h.tr.end(t, "tr-1", "ray:c:b", transfer.StateInterrupted, "", "the daemon stopped while the transfer ran")
	again := h.service()
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	got, err := again.Get(d.ID)
	if err != nil || got.Name != "keep" || nodeStatus(t, got, "ray:c:b").TransferID != "tr-1" {
		t.Fatalf("reloaded: %+v %v", got, err)
	}
	h.svc = again
	again.Reconcile()
	got = h.get(t, d.ID)
	if a := nodeStatus(t, got, "ray:c:a"); a.Status != StatusPresent {
		t.Fatalf("a after restart: %+v", a)
	}
	if b := nodeStatus(t, got, "ray:c:b"); b.Status != StatusFailed || !strings.Contains(b.Error, "interrupted") {
		t.Fatalf("b after restart: %+v", b)
	}
	// The transfer service resumes the interrupted transfer: b is
	// delivering again under the same transfer, and nothing new starts.
	h.tr.end(t, "tr-1", "ray:c:b", transfer.StateRunning, "", "")
	again.Reconcile()
	if b := nodeStatus(t, h.get(t, d.ID), "ray:c:b"); b.Status != StatusDelivering || h.tr.startCount() != 1 {
		t.Fatalf("b resumed: %+v, %d starts", b, h.tr.startCount())
	}
	h.tr.end(t, "tr-1", "ray:c:b", transfer.StateCompleted, shaA, "")
	again.Reconcile()
	if got := h.get(t, d.ID); !got.Satisfied || h.tr.startCount() != 1 {
		t.Fatalf("after resume: %+v, %d starts", got, h.tr.startCount())
	}

	// And the reloaded state is what was saved last.
	third := h.service()
	if err := third.Load(); err != nil {
		t.Fatal(err)
	}
	if got, _ := third.Get(d.ID); !got.Satisfied || got.Counts.Present != 2 {
		t.Fatalf("saved state: %+v", got)
	}

	// A restart before the cluster reconnects: its nodes are not listed at
	// the first reconcile, then reappear. Not listed is not removed: they
	// keep present and nothing is sent again.
	h.nodes.remove("ray:c:a")
	h.nodes.remove("ray:c:b")
	h.svc = third
	third.Reconcile()
	if a := nodeStatus(t, h.get(t, d.ID), "ray:c:a"); a.Status != StatusPresent || a.NodeState != NodeStateRemoved {
		t.Fatalf("a before its cluster reconnected: %+v", a)
	}
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	third.Reconcile()
	if got := h.get(t, d.ID); !got.Satisfied || got.Counts.Present != 2 || h.tr.startCount() != 1 {
		t.Fatalf("after the cluster reconnected: %+v, %d starts", got, h.tr.startCount())
	}
}

func TestDeleteStops(t *testing.T) {
	h := newHarness(t)
	bus := events.NewBus()
	h.svc.o.Bus = bus
	watch := bus.Subscribe(64)
	defer watch.Close()
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "")
	if err != nil {
		t.Fatal(err)
	}
	if refs := h.svc.Referencing("model.bin"); len(refs) != 1 || refs[0] != d.ID {
		t.Fatalf("referencing: %v", refs)
	}
	if _, err := h.svc.Delete(d.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, watch, d.ID, func(d Distribution) bool { return d.State == StateDeleted })
	if _, err := h.svc.Get(d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := h.svc.Delete(d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	if refs := h.svc.Referencing("model.bin"); len(refs) != 0 {
		t.Fatalf("still referencing: %v", refs)
	}
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	if h.tr.startCount() != 1 {
		t.Fatalf("%d starts after delete", h.tr.startCount())
	}
	again := h.service()
	if err := again.Load(); err != nil || len(again.List()) != 0 {
		t.Fatalf("after restart: %v %v", again.List(), err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	for _, tc := range []struct {
		file, name string
		sel        selector.Selector
		field      string
	}{
		{"", "", selector.Selector{}, "file_name"},
		{"../etc/passwd", "", selector.Selector{}, "file_name"},
		{"missing.bin", "", selector.Selector{}, "file_name"},
		{"model.bin", " padded", selector.Selector{}, "name"},
		{"model.bin", strings.Repeat("n", MaxNameLen+1), selector.Selector{}, "name"},
		{"model.bin", "", selector.Selector{Kind: "toaster"}, "selector.kind"},
	} {
		_, err := h.svc.Create(tc.file, tc.sel, tc.name)
		var ie *InputError
		var fe *selector.FieldError
		switch {
		case errors.As(err, &ie):
			if ie.Field != tc.field {
				t.Errorf("%+v: field %q, want %q (%v)", tc, ie.Field, tc.field, err)
			}
		case errors.As(err, &fe):
			if fe.Field != tc.field {
				t.Errorf("%+v: field %q, want %q (%v)", tc, fe.Field, tc.field, err)
			}
		default:
			t.Errorf("%+v: error %v, want an input error", tc, err)
		}
	}
	if len(h.svc.List()) != 0 || h.tr.startCount() != 0 {
		t.Fatalf("bad input changed something: %v, %d starts", h.svc.List(), h.tr.startCount())
	}
	n := 0
	if err := h.st.List(Bucket, func(string, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("store holds %d records (%v)", n, err)
	}
}

func TestFileChangesAndDisappears(t *testing.T) {
	h := newHarness(t)
	h.nodes.set("ray:c:a", registry.KindRayNode, registry.StateActive)
	d, err := h.svc.Create("model.bin", kindSel(registry.KindRayNode), "")
	if err != nil {
		t.Fatal(err)
	}
	h.tr.end(t, "tr-1", "ray:c:a", transfer.StateCompleted, shaA, "")
	h.svc.Reconcile()

	// Uploaded again with new content: sent again.
	h.files.put("model.bin", shaB)
	h.svc.Reconcile()
	got := h.get(t, d.ID)
	if got.SHA256 != shaB || h.tr.startCount() != 2 || nodeStatus(t, got, "ray:c:a").Status != StatusDelivering {
		t.Fatalf("after the file changed: %+v, %d starts", got, h.tr.startCount())
	}
	h.tr.end(t, "tr-2", "ray:c:a", transfer.StateCompleted, shaB, "")
	h.svc.Reconcile()

	// Gone from the upload store: the distribution says so, and a new
	// node fails with that reason instead of a transfer being tried.
	h.files.drop("model.bin")
	h.nodes.set("ray:c:b", registry.KindRayNode, registry.StateActive)
	h.svc.Reconcile()
	got = h.get(t, d.ID)
	if !strings.Contains(got.Error, "no longer in the upload store") || got.Satisfied {
		t.Fatalf("file gone: %+v", got)
	}
	if b := nodeStatus(t, got, "ray:c:b"); b.Status != StatusFailed || !strings.Contains(b.Error, "upload it again") {
		t.Fatalf("node b: %+v", b)
	}
	if h.tr.startCount() != 2 {
		t.Fatalf("%d starts without a file", h.tr.startCount())
	}
	// Back: delivered at the next retry.
	h.files.put("model.bin", shaB)
	h.clock.advance(10 * time.Second)
	h.svc.Reconcile()
	if got := h.tr.lastStart(); !slices.Equal(got, []string{"ray:c:b"}) || h.get(t, d.ID).Error != "" {
		t.Fatalf("file back: last start %v", got)
	}
}
