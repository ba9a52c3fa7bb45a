package transfer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// Buckets of the store this package writes.
const (
	// Bucket holds transfer records, keyed by transfer id.
	Bucket = "transfers"
	// BucketReceived holds what each node received, keyed by node id and
	// file name (see Received).
	BucketReceived = "received"
)

// States of a transfer and of each of its targets.
const (
	StatePending     = "pending"
	StateRunning     = "running"
	StateCompleted   = "completed"
	StatePartial     = "partial" // some targets failed (transfer only)
	StateFailed      = "failed"
	StateCancelled   = "cancelled"
	StateInterrupted = "interrupted" // the daemon stopped while it ran
)

// eventFor is the event each final state is announced with.
var eventFor = map[string]string{
	StateCompleted:   events.TypeTransferCompleted,
	StatePartial:     events.TypeTransferPartial,
	StateFailed:      events.TypeTransferFailed,
	StateCancelled:   events.TypeTransferCancelled,
	StateInterrupted: events.TypeTransferInterrupted,
}

// Request asks for one file to be cast.
type Request struct {
	// FileName names a file in the uploads folder.
	FileName string `json:"file_name"`
	// Mode is unicast, multicast or broadcast.
	Mode string `json:"mode"`
	// Targets are node ids; broadcast takes none and reaches every active
	// node of a kind some loaded backend serves.
	Targets []string `json:"targets"`
	// Allow, when set, narrows a broadcast to the active nodes it allows
	// (a selector's Match); it is not part of the record.
	Allow func(registry.Node) bool `json:"-"`
	// Backend, when set, sends every target through that transfer plugin
	// (a target of a kind it does not serve is a RequestError). Empty
	// routes each target by its kind (see the package doc).
	Backend string `json:"backend,omitempty"`
}

// Record is the persisted state of one transfer.
type Record struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Mode  string `json:"mode"`
	// Backend is the one backend all targets went through, or BackendMixed
	// when they were routed to several (each target names its own).
	Backend string         `json:"backend"`
	File    File           `json:"file"`
	Targets []TargetRecord `json:"targets"`
	Error   string         `json:"error,omitempty"`
	// Attempts counts the runs: 1, plus one per retry or resume.
	Attempts   int       `json:"attempts"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// File describes the source.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// TargetRecord is the state of one target.
type TargetRecord struct {
	NodeID string `json:"node_id"`
	// Backend is the transfer plugin that serves this target (records of
	// older versions get the record's backend when loaded).
	Backend   string `json:"backend,omitempty"`
	State     string `json:"state"`
	BytesDone uint64 `json:"bytes_done"`
	// BytesSent and BytesReused split the bytes of the last run: written
	// by it, and kept from an earlier interrupted run after verification.
	BytesSent   uint64    `json:"bytes_sent,omitempty"`
	BytesReused uint64    `json:"bytes_reused,omitempty"`
	SHA256      string    `json:"sha256,omitempty"` // as the backend verified it
	Location    string    `json:"location,omitempty"`
	Error       string    `json:"error,omitempty"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// ended reports whether a target has its final state for this run.
func (t *TargetRecord) ended() bool {
	return t.State != StatePending && t.State != StateRunning
}

// Store is what the service needs of the daemon's store.
type Store interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Backends gives the service the transfer plugins (host/pluginmgr).
type Backends interface {
	// Transfer returns the named backend.
	Transfer(name string) (sdk.Transferer, error)
	// TransferNames lists the loaded, enabled backends.
	TransferNames() []string
	// TransferCapabilities says what one can do (cached by the caller's
	// side per plugin process).
	TransferCapabilities(ctx context.Context, name string) (*sdk.TransferCapabilities, error)
}

// Clusters gives the endpoints of the connected Ray clusters
// (host/connector), which Ray targets carry to their backend.
type Clusters interface {
	Get(id string) (connector.Cluster, bool)
}

// Nodes is what the service needs of the registry.
type Nodes interface {
	Get(id string) (registry.Node, bool)
	List(f registry.Filter) []registry.Node
}

// Sources is what the service needs of the upload store.
type Sources interface {
	Stat(name string) (files.Meta, error)
	Path(name string) string
}

// Emitter publishes an event.
type Emitter func(typ string, data any)

// RequestError is a problem with a request; the API answers it with 400.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Msg: fmt.Sprintf(format, args...)}
}

// ConflictError is a request that the transfer's state does not allow (a
// retry of a running transfer, a record deleted while it runs); the API
// answers it with 409.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

func conflict(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned for an unknown transfer id.
var ErrNotFound = errors.New("transfer not found")

// Options configure a Service.
type Options struct {
	Store    Store
	Nodes    Nodes
	Backends Backends
	// Clusters, optional, fills the cluster attributes of Ray targets.
	Clusters Clusters
	Sources  Sources
	Emit     Emitter
	Log      hclog.Logger
	// InboxRoot holds the local nodes' inbox folders, where backends keep
	// the partial state of interrupted transfers (sdk/partial).
	InboxRoot string
	// IdleTimeout fails a run whose backend reports nothing for this long;
	// 0 means no limit.
	IdleTimeout time.Duration
	// MaxAge and MaxRecords bound the history of ended transfers; 0 means
	// no bound.
	MaxAge     time.Duration
	MaxRecords int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnEnd, optional, is told of the end of every run of a transfer: the
	// record in its final state and the targets that run sent to, in their
	// final state (metrics). It must not call back into the Service.
	OnEnd func(rec Record, ran []TargetRecord)
	// idleTick is how often the idle watch looks at the clock (default a
	// quarter of IdleTimeout); tests that move Now set it short.
	idleTick time.Duration
}

// Service runs transfers.
type Service struct {
	o   Options
	log hclog.Logger

	mu      sync.Mutex
	closing bool
	records map[string]*Record
	runs    map[string]*run
	wg      sync.WaitGroup
}

// run is one running attempt of a transfer: one leg per backend, run in
// parallel.
type run struct {
	cancel context.CancelCauseFunc
	legs   []*leg
	// reasons says why single targets were cancelled (node deleted).
	reasons map[string]string
	lastN   map[string]uint64 // last progress announced per target
}

// leg is one backend's share of a run: one Send with its targets.
type leg struct {
	backend string
	tr      sdk.Transferer
	mode    sdk.CastMode
	nodes   []registry.Node
	ids     map[string]bool // the node ids of nodes
	ctx     context.Context
	cancel  context.CancelCauseFunc
	// Guarded by the service's lock: the time of the backend's last
	// report, and whether its Send returned.
	last  time.Time
	ended bool
}

// Causes of a run's end other than the backend's own answer.
var (
	errCancelled = errors.New("cancelled")
	errStopping  = errors.New("the daemon stopped while the transfer ran")
)

// New returns a Service. Call Recover before Start.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o, log: o.Log.Named("transfer"), records: map[string]*Record{}, runs: map[string]*run{}}
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// Recover loads every recorded transfer; those that were pending or running
// when the daemon stopped become interrupted. Then it sweeps the inboxes of
// partial state that belongs to no retryable transfer (what a crash left),
// and applies the history bounds.
func (s *Service) Recover() error {
	err := s.o.Store.List(Bucket, func(key string, raw []byte) error {
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("transfer record %s: %w", key, err)
		}
		if r.State == StatePending || r.State == StateRunning {
			r.State, r.Error, r.FinishedAt = StateInterrupted, errStopping.Error(), s.now()
			done := 0
			for i := range r.Targets {
				t := &r.Targets[i]
				if !t.ended() {
					t.State = StateInterrupted
					if err := s.delivered(&r, t); err != nil {
						return err
					}
				}
				if t.State == StateCompleted {
					done++
				}
			}
			if done == len(r.Targets) {
				r.State, r.Error = StateCompleted, ""
			}
			if err := s.o.Store.Put(Bucket, r.ID, &r); err != nil {
				return err
			}
		}
		if r.Attempts == 0 {
			r.Attempts = 1
		}
		// Records of versions before routing name one backend for all
		// their targets.
		for i := range r.Targets {
			if t := &r.Targets[i]; t.Backend == "" && r.Backend != BackendMixed {
				t.Backend = r.Backend
			}
		}
		s.mu.Lock()
		s.records[r.ID] = &r
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	s.sweep()
	s.prune()
	return nil
}

// delivered marks an open target of a transfer the daemon's stop cut short
// completed when its local node holds the file under its final name, with
// the transfer's size and SHA-256: the backend verified the copy and renamed
// it into place, and the daemon died before it recorded the result (kill -9
// in that window, found by `make soak`). Without this the record said
// interrupted while the copy was there. Only regular files of the right
// size are hashed; anything else leaves the target interrupted.
func (s *Service) delivered(r *Record, t *TargetRecord) error {
	if s.o.Nodes == nil || r.File.SHA256 == "" {
		return nil
	}
	n, ok := s.o.Nodes.Get(t.NodeID)
	if !ok || n.InboxDir == "" {
		return nil
	}
	path := filepath.Join(n.InboxDir, r.File.Name)
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() || st.Size() != r.File.Size {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil || hex.EncodeToString(h.Sum(nil)) != r.File.SHA256 {
		return nil
	}
	t.State, t.Error, t.SHA256, t.Location, t.FinishedAt = StateCompleted, "", r.File.SHA256, path, s.now()
	t.BytesDone = uint64(r.File.Size)
	rcv := Received{NodeID: t.NodeID, Name: r.File.Name, Size: t.BytesDone, SHA256: t.SHA256,
		TransferID: r.ID, ReceivedAt: t.FinishedAt, Location: path}
	s.log.Info("a target of an interrupted transfer had its copy in place", "id", r.ID, "node", t.NodeID, "path", path)
	return s.o.Store.Put(BucketReceived, receivedKey(rcv.NodeID, rcv.Name), rcv)
}

// Start checks and records a transfer and runs it in the background.
func (s *Service) Start(req Request) (Record, error) {
	rec, p, meta, err := s.prepare(req)
	if err != nil {
		return Record{}, err
	}
	legs, err := s.legs(p, rec.Mode)
	if err != nil {
		return Record{}, err
	}
	if err := s.o.Store.Put(Bucket, rec.ID, rec); err != nil {
		return Record{}, fmt.Errorf("record transfer: %w", err)
	}
	s.mu.Lock()
	s.records[rec.ID] = rec
	snapshot := cloneRecord(rec)
	s.mu.Unlock()
	s.o.Emit(events.TypeTransferStarted, snapshot)
	s.launch(rec.ID, meta, legs, false)
	return snapshot, nil
}

// legs gets each planned backend's plugin and the mode it is sent.
func (s *Service) legs(p *plan, mode string) ([]*leg, error) {
	var out []*leg
	for _, name := range p.order {
		tr, err := s.o.Backends.Transfer(name)
		if err != nil {
			return nil, badRequest("backend %q: %v", name, err)
		}
		b, _ := p.cat.get(name)
		m, err := castMode(mode, b.caps, len(p.nodes[name]))
		if err != nil {
			return nil, badRequest("backend %q %v", name, err)
		}
		l := &leg{backend: name, tr: tr, mode: m, nodes: p.nodes[name], ids: map[string]bool{}}
		for _, n := range l.nodes {
			l.ids[n.ID] = true
		}
		out = append(out, l)
	}
	return out, nil
}

// prepare checks a request and routes each target to its backend.
func (s *Service) prepare(req Request) (*Record, *plan, files.Meta, error) {
	meta, err := s.source(req.FileName)
	if err != nil {
		return nil, nil, files.Meta{}, err
	}
	rt, err := s.newRouter(req.Backend)
	if err != nil {
		return nil, nil, meta, err
	}
	var targets []registry.Node
	switch req.Mode {
	case "unicast", "multicast":
		if req.Mode == "unicast" && len(req.Targets) != 1 {
			return nil, nil, meta, badRequest("unicast needs exactly one target, got %d", len(req.Targets))
		}
		if len(req.Targets) == 0 {
			return nil, nil, meta, badRequest("multicast needs at least one target")
		}
		seen := map[string]bool{}
		for _, id := range req.Targets {
			n, ok := s.o.Nodes.Get(id)
			switch {
			case seen[id]:
				return nil, nil, meta, badRequest("target %q is listed twice", id)
			case !ok:
				return nil, nil, meta, badRequest("target %q: no such node", id)
			case n.State != registry.StateActive:
				return nil, nil, meta, badRequest("target %q is %s", id, n.State)
			}
			seen[id] = true
			targets = append(targets, n)
		}
	case "broadcast":
		if len(req.Targets) > 0 {
			return nil, nil, meta, badRequest("broadcast takes no targets: it reaches every active node")
		}
		for _, n := range s.o.Nodes.List(registry.Filter{State: registry.StateActive}) {
			if req.Allow != nil && !req.Allow(n) {
				continue
			}
			if _, err := rt.backendFor(n); err == nil {
				targets = append(targets, n)
			}
		}
		if len(targets) == 0 {
			if req.Allow != nil {
				return nil, nil, meta, badRequest("broadcast: no active node the selector allows is of a kind a transfer backend serves (loaded: %s)", rt.cat)
			}
			return nil, nil, meta, badRequest("broadcast: no active node of a kind a transfer backend serves (loaded: %s)", rt.cat)
		}
	case "":
		return nil, nil, meta, badRequest("mode is required (unicast, multicast or broadcast)")
	default:
		return nil, nil, meta, badRequest("mode %q: must be unicast, multicast or broadcast", req.Mode)
	}
	p := &plan{cat: rt.cat}
	for _, n := range targets {
		b, err := rt.backendFor(n)
		if err != nil {
			return nil, nil, meta, err
		}
		p.add(b, n)
	}
	if err := p.check(rt.cat, req.Mode); err != nil {
		return nil, nil, meta, err
	}
	rec := &Record{ID: newID(s.now()), State: StatePending, Mode: req.Mode, Backend: p.recordBackend(), Attempts: 1,
		File: File{Name: meta.Name, Size: meta.Size, SHA256: meta.SHA256}, CreatedAt: s.now()}
	for _, n := range targets {
		rec.Targets = append(rec.Targets, TargetRecord{NodeID: n.ID, Backend: p.byNode[n.ID], State: StatePending})
	}
	return rec, p, meta, nil
}

// source looks up an uploaded file with its digests (computed at upload, so
// a transfer starts moving bytes at once).
func (s *Service) source(name string) (files.Meta, error) {
	if name == "" {
		return files.Meta{}, badRequest("file_name is required")
	}
	if err := files.CheckName(name); err != nil {
		return files.Meta{}, badRequest("file_name: %v", err)
	}
	meta, err := s.o.Sources.Stat(name)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return files.Meta{}, badRequest("file_name %q: no such uploaded file", name)
	case err != nil:
		return files.Meta{}, fmt.Errorf("file %s: %w", name, err)
	}
	return meta, nil
}

// Retry runs again the targets of an ended transfer that did not complete,
// resuming from what each of them already holds (verified chunk by chunk by
// the backend). Targets that completed are left alone; a target whose node
// is gone or not active fails again with that reason.
func (s *Service) Retry(id string) (Record, error) {
	s.mu.Lock()
	r, ok := s.records[id]
	_, running := s.runs[id]
	var snapshot Record
	if ok {
		snapshot = cloneRecord(r)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return Record{}, ErrNotFound
	case running || !isEnded(snapshot.State):
		return Record{}, conflict("transfer %s is %s: only an ended transfer can be retried", id, snapshot.State)
	case snapshot.State == StateCompleted:
		return Record{}, conflict("transfer %s has completed: nothing to retry", id)
	}
	meta, err := s.source(snapshot.File.Name)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return Record{}, conflict("transfer %s: %s", id, re.Msg)
		}
		return Record{}, err
	}
	if meta.SHA256 != snapshot.File.SHA256 {
		return Record{}, conflict("transfer %s: file %q changed since the transfer started (sha256 %s, was %s): start a new transfer",
			id, meta.Name, meta.SHA256, snapshot.File.SHA256)
	}
	rt, _ := s.newRouter("") // for targets recorded without a backend
	p := &plan{cat: rt.cat}
	var gone []string
	now := s.now()
	s.mu.Lock()
	if _, running := s.runs[id]; running {
		s.mu.Unlock()
		return Record{}, conflict("transfer %s is already running", id)
	}
	why := map[string]string{}
	for _, t := range r.Targets {
		if t.State == StateCompleted {
			continue
		}
		switch n, ok := s.o.Nodes.Get(t.NodeID); {
		case !ok:
			why[t.NodeID] = "the node no longer exists"
		case n.State != registry.StateActive:
			why[t.NodeID] = fmt.Sprintf("the node is %s", n.State)
		default:
			// Each target goes back to the backend that had it.
			backend, err := t.Backend, error(nil)
			if backend == "" {
				backend, err = rt.backendFor(n)
			}
			if err == nil {
				_, err = s.o.Backends.Transfer(backend)
			}
			if err == nil {
				p.add(backend, n)
				continue
			}
			why[t.NodeID] = err.Error()
		}
		gone = append(gone, t.NodeID+": "+why[t.NodeID])
	}
	if len(p.order) == 0 {
		s.mu.Unlock()
		return Record{}, conflict("transfer %s: no target can be retried (%s)", id, strings.Join(gone, "; "))
	}
	legs, err := s.legs(p, r.Mode)
	if err != nil {
		s.mu.Unlock()
		return Record{}, conflict("transfer %s: %v", id, err)
	}
	for i := range r.Targets {
		t := &r.Targets[i]
		switch {
		case t.State == StateCompleted:
		case why[t.NodeID] != "":
			t.State, t.Error, t.FinishedAt = StateFailed, why[t.NodeID], now
		default:
			t.State, t.Error, t.FinishedAt = StatePending, "", time.Time{}
			t.BytesDone, t.BytesSent, t.BytesReused = 0, 0, 0
			t.Backend = p.byNode[t.NodeID]
		}
	}
	r.Attempts++
	r.State, r.Error, r.FinishedAt = StatePending, "", time.Time{}
	r.StartedAt = now
	snapshot = cloneRecord(r)
	s.mu.Unlock()
	if err := s.o.Store.Put(Bucket, id, &snapshot); err != nil {
		return Record{}, fmt.Errorf("record transfer: %w", err)
	}
	s.o.Emit(events.TypeTransferStarted, snapshot)
	s.log.Info("resuming transfer", "id", id, "targets", len(p.byNode), "backends", strings.Join(p.order, ","), "attempt", snapshot.Attempts)
	s.launch(id, meta, legs, true)
	return snapshot, nil
}

// ResumeInterrupted retries every transfer that a stop of the daemon
// interrupted (file_transfer.resume_on_start).
func (s *Service) ResumeInterrupted() {
	s.mu.Lock()
	var ids []string
	for id, r := range s.records {
		if r.State == StateInterrupted {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if _, err := s.Retry(id); err != nil {
			s.log.Warn("could not resume an interrupted transfer", "id", id, "error", err)
		}
	}
}

// Cancel stops a running transfer and discards what its targets hold so
// far. It returns ErrNotFound for an unknown id, and a ConflictError when
// the transfer has already ended.
func (s *Service) Cancel(id string) error {
	s.mu.Lock()
	rn, running := s.runs[id]
	r, known := s.records[id]
	var state string
	if known {
		state = r.State
	}
	s.mu.Unlock()
	switch {
	case !known:
		return ErrNotFound
	case !running:
		return conflict("transfer %s has already ended (%s)", id, state)
	}
	// A backend discards partial state on Cancel, not on a closed stream:
	// every backend of the transfer is told, in parallel.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range rn.legs {
		wg.Go(func() {
			if _, err := l.tr.Cancel(ctx, id); err != nil {
				s.log.Warn("backend cancel failed; stopping the transfer anyway", "id", id, "backend", l.backend, "error", err)
			}
		})
	}
	wg.Wait()
	rn.cancel(errCancelled)
	return nil
}

// CancelNode cancels the delivery to one node in every running transfer
// (the node was deleted). It returns the transfers concerned. A backend that
// cannot cancel single targets lets such a delivery finish.
func (s *Service) CancelNode(nodeID, reason string) []string {
	type job struct {
		id string
		l  *leg
	}
	var jobs []job
	s.mu.Lock()
	for id, rn := range s.runs {
		for _, t := range s.records[id].Targets {
			if t.NodeID != nodeID || t.ended() {
				continue
			}
			for _, l := range rn.legs {
				if l.ids[nodeID] {
					rn.reasons[nodeID] = reason
					jobs = append(jobs, job{id, l})
				}
			}
		}
	}
	s.mu.Unlock()
	var ids []string
	for _, j := range jobs {
		tc, ok := j.l.tr.(sdk.TargetCanceller)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done, err := tc.CancelTargets(ctx, j.id, []string{nodeID})
		cancel()
		if err != nil {
			s.log.Warn("could not cancel the delivery to a deleted node", "id", j.id, "backend", j.l.backend, "node", nodeID, "error", err)
			continue
		}
		if done {
			ids = append(ids, j.id)
		}
	}
	return ids
}

// Running counts the transfers running now.
func (s *Service) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

// InUse reports whether a running transfer reads the named file.
func (s *Service) InUse(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.runs {
		if s.records[id].File.Name == name {
			return true
		}
	}
	return false
}

// Shutdown stops every running transfer and waits for them to end; their
// records say interrupted, and resumable backends keep what they wrote so
// that a later Retry (or file_transfer.resume_on_start) continues them.
func (s *Service) Shutdown() {
	s.mu.Lock()
	s.closing = true
	for _, rn := range s.runs {
		rn.cancel(errStopping)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Get returns one transfer.
func (s *Service) Get(id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	return cloneRecord(r), nil
}

func isEnded(state string) bool { return state != StatePending && state != StateRunning }

func cloneRecord(r *Record) Record {
	if r == nil {
		return Record{}
	}
	c := *r
	c.Targets = append([]TargetRecord(nil), r.Targets...)
	return c
}

func newID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "tr-" + now.Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// inboxDirs lists the folders under the inbox root (one per local node,
// deleted ones included).
func (s *Service) inboxDirs() []string {
	if s.o.InboxRoot == "" {
		return nil
	}
	matches, _ := filepath.Glob(filepath.Join(s.o.InboxRoot, "*"))
	return matches
}
