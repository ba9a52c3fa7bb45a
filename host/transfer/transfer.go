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
	"sort"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// Bucket is the store bucket holding transfer records.
const Bucket = "transfers"

// States of a transfer.
const (
	StatePending     = "pending"
	StateRunning     = "running"
	StateCompleted   = "completed"
	StatePartial     = "partial" // some targets failed
	StateFailed      = "failed"
	StateCancelled   = "cancelled"
	StateInterrupted = "interrupted" // the daemon stopped while it ran
)

// Request asks for one file to be cast.
type Request struct {
	// FileName names a file in the uploads folder.
	FileName string `json:"file_name"`
	// Mode is unicast, multicast or broadcast.
	Mode string `json:"mode"`
	// Targets are node ids; broadcast takes none and reaches every active
	// local node (the backends that reach Ray nodes come later).
	Targets []string `json:"targets"`
	// Backend is the transfer plugin's name (default "local").
	Backend string `json:"backend,omitempty"`
}

// Record is the persisted state of one transfer.
type Record struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Mode       string         `json:"mode"`
	Backend    string         `json:"backend"`
	File       File           `json:"file"`
	Targets    []TargetRecord `json:"targets"`
	Error      string         `json:"error,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
}

// File describes the source.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// TargetRecord is the state of one target.
type TargetRecord struct {
	NodeID    string `json:"node_id"`
	State     string `json:"state"`
	BytesDone uint64 `json:"bytes_done"`
	Location  string `json:"location,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Store is what the service needs of the daemon's store.
type Store interface {
	Put(bucket, key string, v any) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Backends gives the service the transfer plugins.
type Backends interface {
	Transfer(name string) (sdk.Transferer, error)
}

// Nodes is what the service needs of the registry.
type Nodes interface {
	Get(id string) (registry.Node, bool)
	List(f registry.Filter) []registry.Node
}

// Emitter publishes an event.
type Emitter func(typ string, data any)

// RequestError is a problem with a request; the API answers it with 4xx.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned for an unknown transfer id.
var ErrNotFound = errors.New("transfer not found")

// Service runs transfers.
type Service struct {
	store      Store
	nodes      Nodes
	backends   Backends
	emit       Emitter
	uploadsDir string
	log        hclog.Logger

	mu      sync.Mutex
	closing bool
	records map[string]*Record
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a Service. Call Recover before Start.
func New(st Store, nodes Nodes, backends Backends, emit Emitter, uploadsDir string, log hclog.Logger) *Service {
	return &Service{store: st, nodes: nodes, backends: backends, emit: emit, uploadsDir: uploadsDir, log: log.Named("transfer"),
		records: map[string]*Record{}, cancels: map[string]context.CancelFunc{}}
}

// Recover loads every recorded transfer; those that were pending or running
// when the daemon stopped become interrupted.
func (s *Service) Recover() error {
	return s.store.List(Bucket, func(key string, raw []byte) error {
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("transfer record %s: %w", key, err)
		}
		if r.State == StatePending || r.State == StateRunning {
			r.State, r.Error, r.FinishedAt = StateInterrupted, "the daemon stopped while the transfer ran", time.Now().UTC()
			for i := range r.Targets {
				if t := &r.Targets[i]; t.State == StatePending || t.State == StateRunning {
					t.State = StateInterrupted
				}
			}
			if err := s.store.Put(Bucket, r.ID, &r); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.records[r.ID] = &r
		s.mu.Unlock()
		return nil
	})
}

// Start checks and records a transfer and runs it in the background.
func (s *Service) Start(req Request) (Record, error) {
	rec, targets, path, err := s.prepare(req)
	if err != nil {
		return Record{}, err
	}
	tr, err := s.backends.Transfer(rec.Backend)
	if err != nil {
		return Record{}, badRequest("backend %q: %v", rec.Backend, err)
	}
	if err := s.store.Put(Bucket, rec.ID, rec); err != nil {
		return Record{}, fmt.Errorf("record transfer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.records[rec.ID] = rec
	s.cancels[rec.ID] = cancel
	snapshot := cloneRecord(rec)
	s.mu.Unlock()
	s.emit(events.TypeTransferStarted, snapshot)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.run(ctx, rec.ID, tr, path, targets)
	}()
	return snapshot, nil
}

func (s *Service) prepare(req Request) (*Record, []registry.Node, string, error) {
	if req.Backend == "" {
		req.Backend = "local"
	}
	name := req.FileName
	if name == "" {
		return nil, nil, "", badRequest("file_name is required")
	}
	if name != filepath.Base(name) || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return nil, nil, "", badRequest("file_name %q must be the plain name of an uploaded file", name)
	}
	path := filepath.Join(s.uploadsDir, name)
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, nil, "", badRequest("file_name %q: no such uploaded file", name)
	}
	var targets []registry.Node
	switch req.Mode {
	case "unicast", "multicast":
		if req.Mode == "unicast" && len(req.Targets) != 1 {
			return nil, nil, "", badRequest("unicast needs exactly one target, got %d", len(req.Targets))
		}
		if len(req.Targets) == 0 {
			return nil, nil, "", badRequest("multicast needs at least one target")
		}
		seen := map[string]bool{}
		for _, id := range req.Targets {
			n, ok := s.nodes.Get(id)
			switch {
			case seen[id]:
				return nil, nil, "", badRequest("target %q is listed twice", id)
			case !ok:
				return nil, nil, "", badRequest("target %q: no such node", id)
			case n.State != registry.StateActive:
				return nil, nil, "", badRequest("target %q is %s", id, n.State)
			}
			seen[id] = true
			targets = append(targets, n)
		}
	case "broadcast":
		if len(req.Targets) > 0 {
			return nil, nil, "", badRequest("broadcast takes no targets: it reaches every active node")
		}
		targets = s.nodes.List(registry.Filter{Kind: registry.KindLocal, State: registry.StateActive})
		if len(targets) == 0 {
			return nil, nil, "", badRequest("broadcast: no active local nodes")
		}
	case "":
		return nil, nil, "", badRequest("mode is required (unicast, multicast or broadcast)")
	default:
		return nil, nil, "", badRequest("mode %q: must be unicast, multicast or broadcast", req.Mode)
	}
	rec := &Record{ID: newID(), State: StatePending, Mode: req.Mode, Backend: req.Backend,
		File: File{Name: name, Size: st.Size()}, CreatedAt: time.Now().UTC()}
	for _, n := range targets {
		rec.Targets = append(rec.Targets, TargetRecord{NodeID: n.ID, State: StatePending})
	}
	return rec, targets, path, nil
}

// run hashes the source and drives the plugin.
func (s *Service) run(ctx context.Context, id string, tr sdk.Transferer, path string, targets []registry.Node) {
	sum, err := hashFile(ctx, path)
	if err != nil {
		s.finish(id, StateFailed, fmt.Sprintf("hash source: %v", err))
		return
	}
	s.update(id, func(r *Record) {
		r.State, r.StartedAt, r.File.SHA256 = StateRunning, time.Now().UTC(), sum
		for i := range r.Targets {
			r.Targets[i].State = StateRunning
		}
	}, true)
	req := &sdk.SendRequest{TransferId: id, File: &sdk.FileSpec{Path: path, Size: uint64(s.get(id).File.Size), Sha256: sum, Name: filepath.Base(path)}}
	switch s.get(id).Mode {
	case "unicast":
		req.Mode = sdk.Unicast
	case "multicast":
		req.Mode = sdk.Multicast
	default:
		req.Mode = sdk.Broadcast
	}
	for _, n := range targets {
		attrs := map[string]string{}
		if n.InboxDir != "" {
			attrs["inbox_dir"] = n.InboxDir
		}
		req.Targets = append(req.Targets, &sdk.Target{NodeId: n.ID, Kind: string(n.Kind), Address: n.Address, Attributes: attrs})
	}
	_, err = tr.Send(ctx, req, &sink{s: s, id: id})
	switch {
	case ctx.Err() != nil && s.isClosing():
		s.finish(id, StateInterrupted, "the daemon stopped while the transfer ran")
	case ctx.Err() != nil:
		s.finish(id, StateCancelled, "cancelled")
	case err != nil:
		s.finish(id, StateFailed, err.Error())
	default:
		s.finish(id, "", "")
	}
}

// finish sets the final state; with state "" it is derived from the targets.
func (s *Service) finish(id, state, msg string) {
	var final Record
	s.update(id, func(r *Record) {
		done, failed := 0, 0
		for i := range r.Targets {
			t := &r.Targets[i]
			switch t.State {
			case StateCompleted:
				done++
			case StatePending, StateRunning:
				if state == StateCancelled || state == StateInterrupted {
					t.State = state
				} else {
					t.State, t.Error = StateFailed, firstNonEmpty(msg, "no result from the backend")
				}
				failed++
			default:
				failed++
			}
		}
		if state == "" {
			switch {
			case failed == 0:
				state = StateCompleted
			case done == 0:
				state = StateFailed
				msg = "every target failed"
			default:
				state = StatePartial
			}
		}
		r.State, r.Error, r.FinishedAt = state, msg, time.Now().UTC()
		final = cloneRecord(r)
	}, true)
	s.mu.Lock()
	delete(s.cancels, id)
	s.mu.Unlock()
	typ := events.TypeTransferCompleted
	if final.State != StateCompleted && final.State != StatePartial {
		typ = events.TypeTransferFailed
	}
	s.emit(typ, final)
	s.emit(events.TypeTransferActivity, map[string]any{"transfer_id": id, "state": final.State, "file_name": final.File.Name})
	s.log.Info("transfer finished", "id", id, "state", final.State, "targets", len(final.Targets))
}

// update applies fn to a record under the lock and persists it when asked.
func (s *Service) update(id string, fn func(*Record), persist bool) {
	s.mu.Lock()
	r, ok := s.records[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	fn(r)
	snapshot := cloneRecord(r)
	s.mu.Unlock()
	if persist {
		if err := s.store.Put(Bucket, id, &snapshot); err != nil {
			s.log.Error("persist transfer record", "id", id, "error", err)
		}
	}
}

func (s *Service) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Service) get(id string) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneRecord(s.records[id])
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

// List returns every transfer, newest first.
func (s *Service) List() []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, cloneRecord(r))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out
}

// Cancel stops a running transfer. It returns ErrNotFound for an unknown
// id, and a RequestError when the transfer has already ended.
func (s *Service) Cancel(id string) error {
	s.mu.Lock()
	cancel, running := s.cancels[id]
	r, known := s.records[id]
	s.mu.Unlock()
	switch {
	case !known:
		return ErrNotFound
	case !running:
		return badRequest("transfer %s has already ended (%s)", id, r.State)
	}
	cancel()
	return nil
}

// Shutdown cancels every running transfer and waits for them to end; their
// records say interrupted.
func (s *Service) Shutdown() {
	s.mu.Lock()
	s.closing = true
	for _, cancel := range s.cancels {
		cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// sink turns plugin reports into record updates and events.
type sink struct {
	s  *Service
	id string
}

func (k *sink) Progress(p *sdk.TargetProgress) error {
	k.s.update(k.id, func(r *Record) {
		for i := range r.Targets {
			if r.Targets[i].NodeID == p.GetNodeId() {
				r.Targets[i].BytesDone = p.GetBytesDone()
			}
		}
	}, false)
	k.s.emit(events.TypeTransferProgress, map[string]any{
		"transfer_id": k.id, "node_id": p.GetNodeId(), "bytes_done": p.GetBytesDone(), "bytes_total": p.GetBytesTotal(),
	})
	return nil
}

func (k *sink) Result(res *sdk.TargetResult) error {
	k.s.update(k.id, func(r *Record) {
		for i := range r.Targets {
			t := &r.Targets[i]
			if t.NodeID != res.GetNodeId() {
				continue
			}
			t.BytesDone, t.Location, t.Error = res.GetBytes(), res.GetLocation(), res.GetError()
			switch res.GetState() {
			case sdk.TargetDone:
				t.State = StateCompleted
			case sdk.TargetCancelled:
				t.State = StateCancelled
			default:
				t.State = StateFailed
			}
		}
	}, true)
	return nil
}

func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func cloneRecord(r *Record) Record {
	if r == nil {
		return Record{}
	}
	c := *r
	c.Targets = append([]TargetRecord(nil), r.Targets...)
	return c
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "tr-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
