package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
)

// memStore is an in-memory Store.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memStore) Put(bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[bucket+"/"+key] = raw
	return nil
}

func (m *memStore) Delete(bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, bucket+"/"+key)
	return nil
}

func (m *memStore) List(bucket string, fn func(key string, raw []byte) error) error {
	m.mu.Lock()
	keys := []string{}
	for k := range m.data {
		if strings.HasPrefix(k, bucket+"/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	m.mu.Unlock()
	for _, k := range keys {
		m.mu.Lock()
		raw := m.data[k]
		m.mu.Unlock()
		if err := fn(strings.TrimPrefix(k, bucket+"/"), raw); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) has(bucket, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.data[bucket+"/"+key]
	return ok
}

// sources is a fake upload store holding one file, f.txt.
type sources struct {
	mu   sync.Mutex
	dir  string
	meta map[string]files.Meta
}

func (s *sources) Stat(name string) (files.Meta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[name]
	if !ok {
		return files.Meta{}, files.ErrNotFound
	}
	return m, nil
}

func (s *sources) Path(name string) string { return filepath.Join(s.dir, name) }

func (s *sources) set(m files.Meta) {
	s.mu.Lock()
	s.meta[m.Name] = m
	s.mu.Unlock()
}

// backend is a fake transfer plugin. Each Send is recorded; it blocks until
// release is closed (when set), then reports one result per target:
// failed for the nodes in fail, done for the others.
type backend struct {
	mu        sync.Mutex
	release   chan struct{}
	fail      map[string]bool
	silent    bool // never report anything, never return (until ctx ends)
	sends     []*sdk.SendRequest
	cancelled []string // transfer ids given to Cancel
	// targetCancel receives CancelTargets calls.
	targetCancel chan string
	started      chan string // one transfer id per Send, when set
	kinds        []string    // node kinds it reports (default local)
	sendErr      error       // returned by Send after its results, when set
	refuse       error       // returned by Send at once, with no result, when set
}

// A lone fake is also the plugin manager, with itself loaded as "local".
func (b *backend) Transfer(string) (sdk.Transferer, error) { return b, nil }
func (b *backend) TransferNames() []string                 { return []string{"local"} }
func (b *backend) TransferCapabilities(ctx context.Context, _ string) (*sdk.TransferCapabilities, error) {
	return b.Capabilities(ctx)
}
func (b *backend) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{}, nil
}
func (b *backend) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) { return nil, nil }
func (b *backend) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (b *backend) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	kinds := b.kinds
	if kinds == nil {
		kinds = []string{"local"}
	}
	return &sdk.TransferCapabilities{Modes: []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast}, NodeKinds: kinds, Resumable: true}, nil
}
func (b *backend) Cancel(_ context.Context, id string) (bool, error) {
	b.mu.Lock()
	b.cancelled = append(b.cancelled, id)
	b.mu.Unlock()
	return true, nil
}

func (b *backend) CancelTargets(_ context.Context, id string, nodes []string) (bool, error) {
	for _, n := range nodes {
		b.targetCancel <- n
	}
	return true, nil
}

func (b *backend) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	b.mu.Lock()
	b.sends = append(b.sends, req)
	b.mu.Unlock()
	if b.started != nil {
		b.started <- req.GetTransferId()
	}
	if b.refuse != nil {
		return nil, b.refuse
	}
	if b.silent {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	pending := map[string]bool{}
	for _, t := range req.GetTargets() {
		pending[t.GetNodeId()] = true
		_ = sink.Progress(&sdk.TargetProgress{NodeId: t.GetNodeId(), BytesDone: 1, BytesTotal: req.GetFile().GetSize()})
	}
	if b.release != nil {
	wait:
		for {
			select {
			case <-b.release:
				break wait
			case n := <-b.targetCancel:
				delete(pending, n)
				_ = sink.Result(&sdk.TargetResult{NodeId: n, State: sdk.TargetCancelled, Error: "cancelled"})
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	for _, t := range req.GetTargets() {
		if !pending[t.GetNodeId()] {
			continue
		}
		res := &sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize(), Sha256: req.GetFile().GetSha256(),
			BytesSent: req.GetFile().GetSize(), Location: "/inbox/" + t.GetNodeId() + "/" + req.GetFile().GetName()}
		if b.fail[t.GetNodeId()] {
			res = &sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetFailed, Error: "disk full"}
		}
		_ = sink.Result(res)
	}
	if b.sendErr != nil {
		return nil, b.sendErr
	}
	return &sdk.SendSummary{}, nil
}

func (b *backend) sendCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sends)
}

func (b *backend) cancels() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.cancelled)
}

func (b *backend) lastSend() *sdk.SendRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sends[len(b.sends)-1]
}

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []struct {
		typ  string
		data any
	}
}

func (r *recorder) emit(typ string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, struct {
		typ  string
		data any
	}{typ, data})
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		if e.typ != events.TypeTransferProgress && e.typ != events.TypeTransferActivity {
			out = append(out, e.typ)
		}
	}
	return out
}

// settled returns the event types once the last one is final: a record
// shows its final state a moment before the event announcing it is out.
func (r *recorder) settled(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.types()
		if len(got) > 0 && got[len(got)-1] != events.TypeTransferStarted {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no final event: %v", got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lastProgress is the bytes_done of the last progress event of a node.
func (r *recorder) lastProgress(node string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last uint64
	for _, e := range r.evs {
		if m, ok := e.data.(map[string]any); ok && e.typ == events.TypeTransferProgress && m["node_id"] == node {
			last = m["bytes_done"].(uint64)
		}
	}
	return last
}

type env struct {
	s     *Service
	st    *memStore
	src   *sources
	reg   *registry.Registry
	b     *backend
	ev    *recorder
	inbox string
	opts  Options
}

func setup(t *testing.T, b *backend, mod ...func(*Options)) *env {
	t.Helper()
	return setupWith(t, b, b, mod...)
}

// setupWith is setup with any plugin manager; b is the fake the helpers
// of env look at (may be nil).
func setupWith(t *testing.T, backends Backends, b *backend, mod ...func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{st: &memStore{}, b: b, ev: &recorder{}, inbox: filepath.Join(dir, "inbox"),
		src: &sources{dir: filepath.Join(dir, "uploads"), meta: map[string]files.Meta{}}}
	e.src.set(files.Meta{Name: "f.txt", Size: 5, SHA256: strings.Repeat("ab", 32), ChunkSize: 4 << 20, ChunkCRC32C: []uint32{7}})
	e.reg = registry.New(nil, func(string, any) {})
	for _, id := range []string{"a", "b"} {
		if _, err := e.reg.AddLocal(id, 0, e.inbox); err != nil {
			t.Fatal(err)
		}
	}
	e.opts = Options{Store: e.st, Nodes: e.reg, Backends: backends, Sources: e.src, Emit: e.ev.emit, Log: hclog.NewNullLogger(), InboxRoot: e.inbox}
	for _, m := range mod {
		m(&e.opts)
	}
	e.s = New(e.opts)
	if err := e.s.Recover(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.s.Shutdown)
	return e
}

// restart is a new service on the same store, as after a daemon restart.
func (e *env) restart(t *testing.T) *Service {
	t.Helper()
	s := New(e.opts)
	if err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func waitState(t *testing.T, s *Service, id string, want string) Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := s.Get(id)
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s is %s, want %s", id, r.State, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRequestsAreCheckedBeforeAnythingIsRecorded(t *testing.T) {
	e := setup(t, &backend{})
	for _, req := range []Request{
		{FileName: "", Mode: "broadcast"},
		{FileName: "../f.txt", Mode: "broadcast"},
		{FileName: "nl\nname", Mode: "broadcast"},
		{FileName: "missing", Mode: "broadcast"},
		{FileName: "f.txt", Mode: "unicast", Targets: []string{"a", "b"}},
		{FileName: "f.txt", Mode: "multicast"},
		{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", "a"}},
		{FileName: "f.txt", Mode: "multicast", Targets: []string{"zz"}},
		{FileName: "f.txt", Mode: "broadcast", Targets: []string{"a"}},
		{FileName: "f.txt", Mode: "anycast"},
	} {
		var re *RequestError
		if _, err := e.s.Start(req); !errors.As(err, &re) {
			t.Errorf("%+v: err = %v, want a RequestError", req, err)
		}
	}
	if len(e.st.data) != 0 {
		t.Fatal("a rejected request left a record")
	}
	if l, total := e.s.List(ListOptions{}); len(l) != 0 || total != 0 {
		t.Fatal("a rejected request is listed")
	}
}

// The source's digests come from the upload store: the request names them
// and the backend gets them, with no hashing by the service.
func TestSendCarriesStoredDigestsAndEventsNameTheOutcome(t *testing.T) {
	e := setup(t, &backend{})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.File.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("record file = %+v", rec.File)
	}
	r := waitState(t, e.s, rec.ID, StateCompleted)
	req := e.b.lastSend()
	if req.GetFile().GetChunkSize() != 4<<20 || !slices.Equal(req.GetFile().GetChunkCrc32C(), []uint32{7}) || req.GetResume() ||
		req.GetFile().GetPath() != e.src.Path("f.txt") {
		t.Fatalf("send request file = %+v resume=%v", req.GetFile(), req.GetResume())
	}
	for _, tg := range r.Targets {
		if tg.State != StateCompleted || tg.SHA256 != rec.File.SHA256 || tg.FinishedAt.IsZero() {
			t.Fatalf("target = %+v", tg)
		}
		// The fake reported 1 byte of progress: the service still ends
		// each completed target's progress at 100 %.
		if got := e.ev.lastProgress(tg.NodeID); got != 5 {
			t.Fatalf("last progress of %s = %d, want 5", tg.NodeID, got)
		}
		got, err := e.s.ReceivedBy(tg.NodeID)
		if err != nil || len(got) != 1 || got[0].TransferID != rec.ID || got[0].SHA256 != rec.File.SHA256 || got[0].Name != "f.txt" {
			t.Fatalf("received by %s = %+v, %v", tg.NodeID, got, err)
		}
	}
	if got := e.ev.settled(t); !slices.Equal(got, []string{events.TypeTransferStarted, events.TypeTransferCompleted}) {
		t.Fatalf("events = %v", got)
	}
}

func TestPartialFailureRetryResendsOnlyWhatFailed(t *testing.T) {
	b := &backend{fail: map[string]bool{"a": true}}
	e := setup(t, b)
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StatePartial)
	if r.Targets[0].State != StateFailed || r.Targets[0].Error != "disk full" || r.Targets[1].State != StateCompleted {
		t.Fatalf("record = %+v", r)
	}
	if got := e.ev.settled(t); got[len(got)-1] != events.TypeTransferPartial {
		t.Fatalf("a partial transfer ended with %v", got)
	}

	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	if _, err := e.s.Retry(rec.ID); err != nil {
		t.Fatal(err)
	}
	r = waitState(t, e.s, rec.ID, StateCompleted)
	req := e.b.lastSend()
	if len(req.GetTargets()) != 1 || req.GetTargets()[0].GetNodeId() != "a" || !req.GetResume() || req.GetTransferId() != rec.ID {
		t.Fatalf("retry sent %+v", req)
	}
	if r.Attempts != 2 || r.Targets[1].State != StateCompleted {
		t.Fatalf("after retry: %+v", r)
	}
	var ce *ConflictError
	if _, err := e.s.Retry(rec.ID); !errors.As(err, &ce) {
		t.Fatalf("retry of a completed transfer: %v", err)
	}
	if _, err := e.s.Retry("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry unknown: %v", err)
	}
}

func TestRetryRefusesAChangedSource(t *testing.T) {
	e := setup(t, &backend{fail: map[string]bool{"a": true, "b": true}})
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateFailed)
	e.src.set(files.Meta{Name: "f.txt", Size: 6, SHA256: strings.Repeat("cd", 32)})
	var ce *ConflictError
	if _, err := e.s.Retry(rec.ID); !errors.As(err, &ce) || !strings.Contains(ce.Msg, "changed") {
		t.Fatalf("retry after the source changed: %v", err)
	}
}

func TestInterruptedTransferIsResumedAfterRestart(t *testing.T) {
	b := &backend{release: make(chan struct{})}
	e := setup(t, b)
	running, err := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, running.ID, StateRunning)
	e.s.Shutdown()
	r, _ := e.s.Get(running.ID)
	if r.State != StateInterrupted || r.Targets[0].State != StateInterrupted {
		t.Fatalf("after shutdown: %+v", r)
	}
	if len(b.cancelled) != 0 {
		t.Fatal("a stopping daemon called Cancel: the backend would discard what it can resume")
	}
	if got := e.ev.types(); got[len(got)-1] != events.TypeTransferInterrupted {
		t.Fatalf("events = %v", got)
	}

	close(b.release)
	s2 := e.restart(t)
	if r, _ := s2.Get(running.ID); r.State != StateInterrupted {
		t.Fatalf("recovered record = %+v", r)
	}
	s2.ResumeInterrupted()
	r = waitState(t, s2, running.ID, StateCompleted)
	if req := b.lastSend(); !req.GetResume() || req.GetTransferId() != running.ID {
		t.Fatalf("resume sent %+v", req)
	}
	if r.Attempts != 2 {
		t.Fatalf("attempts = %d", r.Attempts)
	}
}

// A record that was running when the daemon died (no Shutdown) comes back
// interrupted.
func TestRecordOfACrashedRunComesBackInterrupted(t *testing.T) {
	e := setup(t, &backend{})
	rec := Record{ID: "tr-x", State: StateRunning, Mode: "unicast", Backend: "local", File: File{Name: "f.txt", Size: 5},
		Targets: []TargetRecord{{NodeID: "a", State: StateRunning}, {NodeID: "b", State: StateCompleted}}}
	if err := e.st.Put(Bucket, rec.ID, rec); err != nil {
		t.Fatal(err)
	}
	s := e.restart(t)
	r, err := s.Get("tr-x")
	if err != nil || r.State != StateInterrupted || r.Targets[0].State != StateInterrupted || r.Targets[1].State != StateCompleted {
		t.Fatalf("recovered = %+v, %v", r, err)
	}
}

func TestCancelDiscardsThroughTheBackend(t *testing.T) {
	b := &backend{release: make(chan struct{})}
	e := setup(t, b)
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateRunning)
	if err := e.s.Cancel(rec.ID); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StateCancelled)
	if r.Targets[0].State != StateCancelled || !slices.Equal(b.cancelled, []string{rec.ID}) {
		t.Fatalf("record %+v, backend cancels %v", r, b.cancelled)
	}
	if got := e.ev.settled(t); got[len(got)-1] != events.TypeTransferCancelled {
		t.Fatalf("events = %v", got)
	}
	var ce *ConflictError
	if err := e.s.Cancel(rec.ID); !errors.As(err, &ce) {
		t.Fatalf("cancel of an ended transfer: %v", err)
	}
	if err := e.s.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestDeletedNodeIsCancelledAloneWhileOthersComplete(t *testing.T) {
	b := &backend{release: make(chan struct{}), targetCancel: make(chan string, 1)}
	e := setup(t, b)
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateRunning)
	if ids := e.s.CancelNode("a", "the node was deleted during the transfer"); !slices.Equal(ids, []string{rec.ID}) {
		t.Fatalf("CancelNode = %v", ids)
	}
	// The fake reports the cancelled target before release.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := e.s.Get(rec.ID)
		if r.Targets[0].State == StateCancelled || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(b.release)
	r := waitState(t, e.s, rec.ID, StatePartial)
	if r.Targets[0].State != StateCancelled || r.Targets[0].Error != "the node was deleted during the transfer" || r.Targets[1].State != StateCompleted {
		t.Fatalf("record = %+v", r)
	}
	if ids := e.s.CancelNode("b", "x"); len(ids) != 0 {
		t.Fatalf("nothing runs, yet CancelNode = %v", ids)
	}
}

func TestSilentBackendFailsOnTheIdleTimeout(t *testing.T) {
	e := setup(t, &backend{silent: true}, func(o *Options) { o.IdleTimeout = 20 * time.Millisecond })
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StateFailed)
	if !strings.Contains(r.Error, "no progress for 20ms") || r.Targets[0].State != StateFailed {
		t.Fatalf("record = %+v", r)
	}
}

func TestHistoryPagesFiltersDeletesAndPrunes(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	b := &backend{fail: map[string]bool{"b": true}}
	e := setup(t, b, func(o *Options) { o.Now = now; o.MaxRecords = 3 })
	var ids []string
	for i := 0; i < 5; i++ {
		target := []string{"a", "b"}[i%2]
		rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{target}})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, e.s, rec.ID, map[string]string{"a": StateCompleted, "b": StateFailed}[target])
		ids = append(ids, rec.ID)
	}
	// At most 3 ended records are kept: the newest.
	all, total := e.s.List(ListOptions{})
	if total != 3 || len(all) != 3 || all[0].ID != ids[4] || all[2].ID != ids[2] {
		t.Fatalf("kept %d: %v", total, all)
	}
	if e.st.has(Bucket, ids[0]) {
		t.Fatal("a pruned record is still stored")
	}
	page, total := e.s.List(ListOptions{Offset: 1, Limit: 1})
	if total != 3 || len(page) != 1 || page[0].ID != ids[3] {
		t.Fatalf("page = %v (total %d)", page, total)
	}
	failed, total := e.s.List(ListOptions{State: StateFailed})
	if total != 1 || failed[0].ID != ids[3] {
		t.Fatalf("failed = %v", failed)
	}
	if err := e.s.Delete(ids[4]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Get(ids[4]); !errors.Is(err, ErrNotFound) || e.st.has(Bucket, ids[4]) {
		t.Fatal("a deleted record is still there")
	}

	// Age: on a clock the test moves, a record older than the max age goes
	// at the next finish, and a fresh one stays.
	var step time.Duration
	manual := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock.Add(step)
	}
	e2 := setup(t, &backend{}, func(o *Options) { o.Now = manual; o.MaxAge = 30 * time.Minute })
	old, _ := e2.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	waitState(t, e2.s, old.ID, StateCompleted)
	mu.Lock()
	step = time.Hour
	mu.Unlock()
	fresh, _ := e2.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	waitState(t, e2.s, fresh.ID, StateCompleted)
	if _, err := e2.s.Get(old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("a record older than the max age was kept")
	}
}

func TestDeleteOfARunningTransferIsAConflict(t *testing.T) {
	b := &backend{release: make(chan struct{})}
	e := setup(t, b)
	rec, _ := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	waitState(t, e.s, rec.ID, StateRunning)
	var ce *ConflictError
	if err := e.s.Delete(rec.ID); !errors.As(err, &ce) {
		t.Fatalf("delete of a running transfer: %v", err)
	}
	if !e.s.InUse("f.txt") || e.s.InUse("other") {
		t.Fatal("InUse")
	}
	close(b.release)
	waitState(t, e.s, rec.ID, StateCompleted)
	if e.s.InUse("f.txt") {
		t.Fatal("InUse after the end")
	}
}

// Start-up sweeps partial state that no retryable transfer owns, and only
// that.
func TestRecoverSweepsOrphanPartialStateOnly(t *testing.T) {
	e := setup(t, &backend{fail: map[string]bool{"a": true}})
	failed, _ := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	waitState(t, e.s, failed.ID, StateFailed)
	done, _ := e.s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"b"}})
	waitState(t, e.s, done.ID, StateCompleted)

	dirA, dirB := filepath.Join(e.inbox, "a"), filepath.Join(e.inbox, "b")
	deleted := filepath.Join(e.inbox, "gone") // a deleted node's inbox
	if err := os.MkdirAll(deleted, 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(p string) string {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keep := []string{
		write(filepath.Join(dirA, partial.PartName(failed.ID))),
		write(filepath.Join(dirA, partial.JournalName(failed.ID))),
		write(filepath.Join(dirA, "user-file.txt")),
		write(filepath.Join(dirB, ".hidden-user-file")),
	}
	gone := []string{
		write(filepath.Join(dirB, partial.PartName(done.ID))),
		write(filepath.Join(dirB, partial.PartName("tr-unknown"))),
		write(filepath.Join(deleted, ".castray-123456.part")), // an older version's random name
	}
	e.restart(t)
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	for _, p := range gone {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was kept", p)
		}
	}
}

func TestRetrySkipsTargetsWhoseNodeIsGone(t *testing.T) {
	b := &backend{fail: map[string]bool{"a": true, "b": true}}
	e := setup(t, b)
	rec, _ := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	waitState(t, e.s, rec.ID, StateFailed)
	if _, err := e.reg.Remove("a"); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	if _, err := e.s.Retry(rec.ID); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.s, rec.ID, StatePartial)
	if r.Targets[0].State != StateFailed || r.Targets[0].Error != "the node no longer exists" || r.Targets[1].State != StateCompleted {
		t.Fatalf("record = %+v", r)
	}
	if req := b.lastSend(); len(req.GetTargets()) != 1 || req.GetTargets()[0].GetNodeId() != "b" {
		t.Fatalf("retry sent %+v", req.GetTargets())
	}
	// Nothing left that can be retried: a conflict that names why, and the
	// record is unchanged.
	var ce *ConflictError
	if _, err := e.s.Retry(rec.ID); !errors.As(err, &ce) || !strings.Contains(ce.Msg, "a: the node no longer exists") {
		t.Fatalf("retry with only a gone node left: %v", err)
	}
	if again, _ := e.s.Get(rec.ID); again.Attempts != r.Attempts {
		t.Fatal("a refused retry changed the record")
	}
}
