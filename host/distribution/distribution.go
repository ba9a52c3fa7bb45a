package distribution

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
	"github.com/castray/castray/host/transfer"
)

// Bucket is the store bucket distributions are kept in.
const Bucket = "distributions"

// EventUpdated is published with a Distribution at every change.
const EventUpdated = events.TypeDistributionUpdated

// Node statuses.
const (
	StatusPending    = "pending"
	StatusDelivering = "delivering"
	StatusPresent    = "present"
	StatusFailed     = "failed"
)

// Distribution states.
const (
	StateActive  = "active"
	StateDeleted = "deleted" // only in the last event of a deleted distribution
)

// NodeStateRemoved is the node_state of a node that left the registry
// (its entry is kept while the file is on it or being sent to it).
const NodeStateRemoved = "removed"

// MaxNameLen bounds a distribution's name.
const MaxNameLen = 128

// Defaults of Options.
const (
	DefaultRetryBase = 5 * time.Second
	DefaultRetryMax  = 5 * time.Minute
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotFound = errors.New("distribution not found")
)

// InputError is invalid input to Create; the API answers it with 400 and
// nothing changes.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NodeStatus is the state of the file on one node.
type NodeStatus struct {
	NodeID string `json:"node_id"`
	Status string `json:"status"`
	// NodeState is the node's registry state (active, inactive, dead) or
	// "removed".
	NodeState string `json:"node_state"`
	// TransferID is the last transfer that sent the file to the node.
	TransferID string `json:"transfer_id,omitempty"`
	// SHA256 is what the backend verified on the node (present only).
	SHA256   string `json:"sha256,omitempty"`
	Location string `json:"location,omitempty"`
	// Error says why the node is failed (or, when pending, what it waits
	// for).
	Error string `json:"error,omitempty"`
	// Attempts counts the deliveries started; Failures the failures since
	// the last success.
	Attempts    int       `json:"attempts"`
	Failures    int       `json:"failures,omitempty"`
	NextRetryAt time.Time `json:"next_retry_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`

	// leftLive is set when the registry removed the node while this daemon
	// ran (node_removed); not saved: a node that is simply not listed yet
	// after a restart (its cluster reconnecting) is not one that left.
	leftLive bool
}

// Counts summarises the node statuses.
type Counts struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Delivering int `json:"delivering"`
	Present    int `json:"present"`
	Failed     int `json:"failed"`
}

// Distribution is one standing distribution. Values handed out are copies.
type Distribution struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	FileName string            `json:"file_name"`
	Selector selector.Selector `json:"selector"`
	State    string            `json:"state"`
	// SHA256 is the file's digest as last seen in the upload store.
	SHA256 string `json:"sha256,omitempty"`
	// Error is a problem of the whole distribution (the file is gone).
	Error string `json:"error,omitempty"`
	// Satisfied is true when every matching active node has the file.
	Satisfied bool         `json:"satisfied"`
	Counts    Counts       `json:"counts"`
	Nodes     []NodeStatus `json:"nodes"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

func (d *Distribution) clone() Distribution {
	c := *d
	c.Nodes = append([]NodeStatus{}, d.Nodes...)
	s := &c.Selector
	s.Labels, s.Resources, s.Available = maps.Clone(s.Labels), maps.Clone(s.Resources), maps.Clone(s.Available)
	return c
}

// summarise recomputes Counts and Satisfied from Nodes.
func (d *Distribution) summarise() {
	c := Counts{Total: len(d.Nodes)}
	sat := d.Error == ""
	for _, n := range d.Nodes {
		switch n.Status {
		case StatusPending:
			c.Pending++
		case StatusDelivering:
			c.Delivering++
		case StatusPresent:
			c.Present++
		case StatusFailed:
			c.Failed++
		}
		if n.NodeState == string(registry.StateActive) && n.Status != StatusPresent {
			sat = false
		}
	}
	d.Counts, d.Satisfied = c, sat
}

// Store is what the service needs of the daemon's store; *store.Store
// implements it.
type Store interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Nodes is what the service reads of the registry.
type Nodes interface {
	List(f registry.Filter) []registry.Node
}

// Transfers is what the service needs of the transfer service;
// *transfer.Service implements it.
type Transfers interface {
	Start(req transfer.Request) (transfer.Record, error)
	Get(id string) (transfer.Record, error)
}

// Files is what the service reads of the upload store; *files.Store
// implements it.
type Files interface {
	Stat(name string) (files.Meta, error)
}

// Options configure a Service.
type Options struct {
	Store     Store // nil: nothing is saved
	Nodes     Nodes
	Transfers Transfers
	Files     Files
	// Bus, when set, is where node and transfer events are read from
	// (Start subscribes) and distribution_updated is published.
	Bus *events.Bus
	Log hclog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Ticks drives the periodic reconcile; nil: a ticker of Interval.
	Ticks <-chan time.Time
	// Interval of the periodic reconcile when Ticks is nil (default 5 s).
	Interval time.Duration
	// RetryBase and RetryMax bound the backoff of a failed node.
	RetryBase, RetryMax time.Duration
}

// Service keeps the distributions. It is safe for concurrent use.
type Service struct {
	o   Options
	log hclog.Logger

	recMu sync.Mutex // one reconcile at a time

	mu    sync.Mutex
	dists map[string]*Distribution
	// removed are nodes a node_removed event named since the last
	// reconcile: if they are back, a present status there is not trusted.
	removed map[string]bool

	stop    chan struct{}
	done    chan struct{}
	started bool
}

// New returns a service without distributions; call Load, then Start.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = max(DefaultRetryMax, o.RetryBase)
	}
	return &Service{o: o, log: o.Log.Named("distribution"), dists: map[string]*Distribution{},
		removed: map[string]bool{}}
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

func (s *Service) emit(d Distribution) {
	if s.o.Bus != nil {
		s.o.Bus.Publish(EventUpdated, d)
	}
}

// backoff is the wait after the n-th consecutive failure.
func (s *Service) backoff(n int) time.Duration {
	d := s.o.RetryBase
	for i := 1; i < n && d < s.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.o.RetryMax)
}

// Load reads the saved distributions. Records that cannot be decoded are
// skipped and reported together in the error; the others are loaded.
func (s *Service) Load() error {
	if s.o.Store == nil {
		return nil
	}
	var bad []error
	loaded := map[string]*Distribution{}
	err := s.o.Store.List(Bucket, func(key string, raw []byte) error {
		var d Distribution
		if err := json.Unmarshal(raw, &d); err != nil {
			bad = append(bad, fmt.Errorf("distribution record %q: %w", key, err))
			return nil
		}
		if d.ID != key || d.FileName == "" {
			bad = append(bad, fmt.Errorf("distribution record %q: holds id %q, file %q", key, d.ID, d.FileName))
			return nil
		}
		if err := d.Selector.Validate(); err != nil {
			bad = append(bad, fmt.Errorf("distribution record %q: %w", key, err))
			return nil
		}
		d.State = StateActive
		loaded[key] = &d
		return nil
	})
	if err != nil {
		return fmt.Errorf("load distributions: %w", err)
	}
	s.mu.Lock()
	for id, d := range loaded {
		if _, ok := s.dists[id]; !ok {
			s.dists[id] = d
		}
	}
	s.mu.Unlock()
	if len(bad) > 0 {
		return fmt.Errorf("load distributions: %d of %d records skipped: %w", len(bad), len(bad)+len(loaded), errors.Join(bad...))
	}
	return nil
}

// checkName validates an optional name: at most MaxNameLen bytes of
// printable UTF-8, no leading or trailing space.
func checkName(name string) error {
	switch {
	case name == "":
		return nil
	case len(name) > MaxNameLen:
		return inputErr("name", "%d bytes, at most %d allowed", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return inputErr("name", "not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return inputErr("name", "leading or trailing space")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return inputErr("name", "character %U is not printable", r)
		}
	}
	return nil
}

// Create starts a distribution of the uploaded file fileName to every node
// sel matches, runs a first reconcile (so the answer shows the matching
// nodes, due ones already delivering) and returns it. Errors:
// *InputError (bad name or file name, no such uploaded file, invalid
// selector; nothing is created) or a failure to save.
func (s *Service) Create(fileName string, sel selector.Selector, name string) (Distribution, error) {
	if err := checkName(name); err != nil {
		return Distribution{}, err
	}
	if fileName == "" {
		return Distribution{}, inputErr("file_name", "is required")
	}
	if err := files.CheckName(fileName); err != nil {
		return Distribution{}, inputErr("file_name", "%v", err)
	}
	if err := sel.Validate(); err != nil {
		return Distribution{}, err // a *selector.FieldError naming the field
	}
	meta, err := s.o.Files.Stat(fileName)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return Distribution{}, inputErr("file_name", "%q: no such uploaded file", fileName)
	case err != nil:
		return Distribution{}, fmt.Errorf("create distribution: file %s: %w", fileName, err)
	}
	now := s.now()
	d := &Distribution{ID: newID(now), Name: name, FileName: fileName, State: StateActive,
		SHA256: meta.SHA256, Nodes: []NodeStatus{}, CreatedAt: now, UpdatedAt: now}
	d.Selector = (&Distribution{Selector: sel}).clone().Selector
	d.summarise()
	s.mu.Lock()
	if err := s.save(d); err != nil {
		s.mu.Unlock()
		return Distribution{}, fmt.Errorf("create distribution: %w", err)
	}
	s.dists[d.ID] = d
	snap := d.clone()
	s.mu.Unlock()
	s.log.Info("distribution created", "id", d.ID, "file", fileName, "selector", sel.String())
	s.emit(snap)
	s.Reconcile()
	if got, err := s.Get(d.ID); err == nil {
		return got, nil
	}
	return snap, nil // deleted in between
}

// save writes d; the caller holds s.mu.
func (s *Service) save(d *Distribution) error {
	if s.o.Store == nil {
		return nil
	}
	if err := s.o.Store.Put(Bucket, d.ID, d); err != nil {
		return fmt.Errorf("save distribution %s: %w", d.ID, err)
	}
	return nil
}

// List returns every distribution, oldest first.
func (s *Service) List() []Distribution {
	s.mu.Lock()
	out := make([]Distribution, 0, len(s.dists))
	for _, d := range s.dists {
		out = append(out, d.clone())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one distribution, or ErrNotFound.
func (s *Service) Get(id string) (Distribution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dists[id]
	if !ok {
		return Distribution{}, fmt.Errorf("distribution %q: %w", id, ErrNotFound)
	}
	return d.clone(), nil
}

// Delete stops a distribution and removes its record. Files already
// delivered stay; transfers already running finish. Errors: ErrNotFound or
// a failure to delete the record (the distribution is then kept).
func (s *Service) Delete(id string) (Distribution, error) {
	s.mu.Lock()
	d, ok := s.dists[id]
	if !ok {
		s.mu.Unlock()
		return Distribution{}, fmt.Errorf("delete distribution %q: %w", id, ErrNotFound)
	}
	if s.o.Store != nil {
		if err := s.o.Store.Delete(Bucket, id); err != nil {
			s.mu.Unlock()
			return Distribution{}, fmt.Errorf("delete distribution %s: %w", id, err)
		}
	}
	delete(s.dists, id)
	snap := d.clone()
	s.mu.Unlock()
	snap.State, snap.UpdatedAt = StateDeleted, s.now()
	s.log.Info("distribution deleted", "id", id, "file", snap.FileName)
	s.emit(snap)
	return snap, nil
}

// Referencing returns the distributions (id, and name when it has one)
// that deliver the uploaded file name, sorted.
func (s *Service) Referencing(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.dists {
		if d.FileName == name {
			ref := d.ID
			if d.Name != "" {
				ref += fmt.Sprintf(" (%q)", d.Name)
			}
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

func newID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "dist-" + now.Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
