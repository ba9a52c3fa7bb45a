package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind is the kind of a virtual node.
type Kind string

const (
	KindLocal    Kind = "local"     // a node this daemon owns, with an inbox folder
	KindRayNode  Kind = "ray-node"  // a node of an external Ray cluster
	KindRayActor Kind = "ray-actor" // an actor of an external Ray cluster
)

// State is the liveness of a virtual node.
type State string

const (
	StateActive   State = "active"
	StateInactive State = "inactive" // local node stopped, or its cluster is offline
	StateDead     State = "dead"     // reported dead by its cluster
	// StateRemoved is the state a node_removed event reports: the node no
	// longer exists. No listed node has it.
	StateRemoved State = "removed"
)

// Event types emitted by the registry. They are the same strings as the
// events package constants; they are repeated here so that the registry does
// not depend on the bus.
const (
	EventNodeAdded   = "node_added"
	EventNodeUpdated = "node_updated"
	EventNodeRemoved = "node_removed"
	EventNodeDead    = "node_dead"
)

// Bucket is the Persister bucket local nodes are kept in.
const Bucket = "nodes"

// MaxIDLen is the longest accepted local node id.
const MaxIDLen = 64

// Sentinel errors; test with errors.Is.
var (
	ErrInvalidID = errors.New("invalid node id")
	ErrExists    = errors.New("node already exists")
	ErrNotFound  = errors.New("node not found")
	ErrNotLocal  = errors.New("node is not a local node")
)

// Node is one virtual node. List and Get hand out copies with maps
// (Resources, Available, Labels) of their own. The node an event carries
// shares its maps with the other receivers of that event, and with the node
// the change returned or the caller of SyncClusterKeep handed over: none of
// them may change those maps.
type Node struct {
	ID        string             `json:"id"`
	Kind      Kind               `json:"kind"`
	Name      string             `json:"name,omitempty"`
	State     State              `json:"state"`
	Address   string             `json:"address,omitempty"`
	Port      int                `json:"port,omitempty"`      // the original's per-node port (local nodes), informational
	InboxDir  string             `json:"inbox_dir,omitempty"` // local nodes: where files are delivered
	ClusterID string             `json:"cluster_id,omitempty"`
	Hostname  string             `json:"hostname,omitempty"`
	IsHead    bool               `json:"is_head,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	Available map[string]float64 `json:"available,omitempty"`
	Labels    map[string]string  `json:"labels,omitempty"`
	Source    string             `json:"source,omitempty"` // "api", "demo", "ray-dashboard", "ray-gcs"...
	CreatedAt time.Time          `json:"created_at"`
	LastSeen  time.Time          `json:"last_seen"`
}

// clone returns n with its maps copied: the registry's own copy of maps a
// caller handed in and keeps.
func (n Node) clone() Node {
	n.Resources = maps.Clone(n.Resources)
	n.Available = maps.Clone(n.Available)
	n.Labels = maps.Clone(n.Labels)
	return n
}

// sameContent reports whether a and e's node are equal apart from
// CreatedAt and LastSeen. A nil map equals an empty one.
func sameContent(a *Node, e *entry) bool {
	b := &e.node
	return a.ID == b.ID && a.Kind == b.Kind && a.Name == b.Name && a.State == b.State &&
		a.Address == b.Address && a.Port == b.Port && a.InboxDir == b.InboxDir &&
		a.ClusterID == b.ClusterID && a.Hostname == b.Hostname && a.IsHead == b.IsHead &&
		a.Source == b.Source && e.p.same(a)
}

// ValidateID checks a local node id: 1 to MaxIDLen characters from
// [A-Za-z0-9._-], not starting with '.'. Such an id is safe as a single path
// element (no separators, never "." or "..") and in a URL path.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidID, len(id), MaxIDLen)
	}
	if id[0] == '.' {
		return fmt.Errorf("%w %q: must not start with '.'", ErrInvalidID, id)
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: character %q not allowed (use A-Z a-z 0-9 . _ -)", ErrInvalidID, id, c)
		}
	}
	return nil
}

// Persister is where local nodes are saved; *store.Store implements it.
type Persister interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Emitter receives the registry's events; the host wires it to
// events.Bus.Publish. Data is always a Node (a copy the receiver owns).
//
// It is called without the registry's lock held, one event at a time and in
// the order of the changes. It may call any Registry method. When several
// goroutines change the registry at once, one of them delivers the events
// of all, so a method may return before its own events have been emitted;
// a single goroutine's events are always emitted before its call returns
// unless it is itself inside an Emitter call.
type Emitter func(eventType string, data any)

// Filter selects nodes in List. Empty fields match anything.
type Filter struct {
	Kind      Kind
	ClusterID string
	State     State
}

func (f Filter) match(n *Node) bool {
	return (f.Kind == "" || n.Kind == f.Kind) &&
		(f.ClusterID == "" || n.ClusterID == f.ClusterID) &&
		(f.State == "" || n.State == f.State)
}

// SyncStats counts what one SyncCluster call did.
type SyncStats struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`   // changed, not to dead
	Dead      int `json:"dead"`      // became dead
	Removed   int `json:"removed"`   // gone from the set
	Unchanged int `json:"unchanged"` // only LastSeen (if anything) changed
	Skipped   int `json:"skipped"`   // rejected: empty or duplicate id, local kind, id taken by a local node or another cluster
}

// Events reports whether the sync emitted any event.
func (s SyncStats) Events() int { return s.Added + s.Updated + s.Dead + s.Removed }

// entry is the registry's own record of a node: the node without its
// maps, which are packed.
type entry struct {
	node Node
	p    packed
	gen  uint64 // SyncCluster generation that last saw it
}

// newEntry is an entry keeping n (n is not changed).
func newEntry(n Node, gen uint64) *entry {
	e := &entry{gen: gen}
	e.set(n)
	return e
}

// set makes n the entry's node.
func (e *entry) set(n Node) {
	e.p = pack(&n)
	n.Resources, n.Available, n.Labels = nil, nil, nil
	e.node = n
}

// keptStamp is one SyncClusterKeep of a kind: its generation and time.
type keptStamp struct {
	gen uint64
	at  time.Time
}

type pendingEvent struct {
	typ  string
	node Node
}

// Registry is the set of virtual nodes. It is safe for concurrent use.
type Registry struct {
	p    Persister
	emit Emitter
	now  func() time.Time

	mu       sync.RWMutex
	nodes    map[string]*entry
	clusters map[string]map[string]*entry // cluster id → node id → entry (external nodes only)
	gen      uint64
	// kinds counts each cluster's nodes by kind, and kept is, per cluster
	// and kind, the last SyncClusterKeep that kept that kind: a node of
	// that kind not synced since (entry.gen < keptStamp.gen) was last seen
	// then. Keeping a kind thus touches no node (lastSeen).
	kinds map[string]map[Kind]int
	kept  map[string]map[Kind]keptStamp
	// busy holds the local node ids whose folder or saved record is being
	// written (lockID): those slow steps run without mu, so listings and
	// syncs never wait for a disk.
	busy map[string]chan struct{}

	// Events are queued under mu, in the order the changes were made, and
	// delivered outside it by whichever caller finds nobody delivering. An
	// Emitter may therefore call back into the registry, even to change it,
	// without deadlock, and events are never reordered.
	qmu        sync.Mutex
	queue      []pendingEvent
	delivering bool
}

// New returns an empty registry. p may be nil (nothing is persisted) and
// emit may be nil (no events).
func New(p Persister, emit Emitter) *Registry {
	return &Registry{
		p:        p,
		emit:     emit,
		now:      func() time.Time { return time.Now().UTC() },
		nodes:    make(map[string]*entry),
		clusters: make(map[string]map[string]*entry),
		kinds:    make(map[string]map[Kind]int),
		kept:     make(map[string]map[Kind]keptStamp),
		busy:     make(map[string]chan struct{}),
	}
}

// lockID serialises the changes of one local node (add, remove, state)
// across their disk steps without holding r.mu there; it returns the
// unlock.
func (r *Registry) lockID(id string) func() {
	r.mu.Lock()
	for {
		ch, ok := r.busy[id]
		if !ok {
			break
		}
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	}
	ch := make(chan struct{})
	r.busy[id] = ch
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.busy, id)
		r.mu.Unlock()
		close(ch)
	}
}

// enqueue queues events; the caller holds r.mu (so the queue order is the
// order of the changes) and calls deliver after releasing it.
func (r *Registry) enqueue(evs ...pendingEvent) {
	if r.emit == nil || len(evs) == 0 {
		return
	}
	r.qmu.Lock()
	if len(r.queue) == 0 {
		r.queue = evs // the caller's slice, not a copy of it
	} else {
		r.queue = append(r.queue, evs...)
	}
	r.qmu.Unlock()
}

// deliver emits queued events unless another goroutine (or an outer frame
// of this one, when the Emitter called back into the registry) is already
// doing so; that one then delivers ours too before it returns.
func (r *Registry) deliver() {
	if r.emit == nil {
		return
	}
	r.qmu.Lock()
	if r.delivering {
		r.qmu.Unlock()
		return
	}
	r.delivering = true
	defer func() {
		// Also runs if the Emitter panics, so delivery is not wedged.
		r.qmu.Lock()
		r.delivering = false
		r.qmu.Unlock()
	}()
	for len(r.queue) > 0 {
		batch := r.queue
		r.queue = nil
		r.qmu.Unlock()
		for i := range batch {
			r.emit(batch[i].typ, batch[i].node)
			batch[i] = pendingEvent{}
		}
		r.qmu.Lock()
		if r.queue == nil {
			r.queue = batch[:0] // reuse the backing array
		}
	}
	r.qmu.Unlock()
}

// Load adds the local nodes saved in the Persister (bucket "nodes"). It
// emits no events. Nodes already in the registry are kept as they are.
// Records that cannot be decoded or are not valid local nodes are skipped
// and reported together in the returned error; the valid ones are loaded
// regardless.
func (r *Registry) Load() error {
	if r.p == nil {
		return nil
	}
	var loaded []Node
	var bad []error
	err := r.p.List(Bucket, func(key string, raw []byte) error {
		var n Node
		if err := json.Unmarshal(raw, &n); err != nil {
			bad = append(bad, fmt.Errorf("node record %q: %w", key, err))
			return nil
		}
		switch {
		case n.ID != key:
			bad = append(bad, fmt.Errorf("node record %q: holds id %q", key, n.ID))
		case n.Kind != KindLocal:
			bad = append(bad, fmt.Errorf("node record %q: kind %q is not %q", key, n.Kind, KindLocal))
		default:
			if err := ValidateID(n.ID); err != nil {
				bad = append(bad, fmt.Errorf("node record %q: %w", key, err))
				return nil
			}
			if n.State == "" {
				n.State = StateActive
			}
			loaded = append(loaded, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load nodes: %w", err)
	}
	r.mu.Lock()
	for _, n := range loaded {
		if _, ok := r.nodes[n.ID]; !ok {
			r.nodes[n.ID] = newEntry(n, 0)
		}
	}
	r.mu.Unlock()
	if len(bad) > 0 {
		return fmt.Errorf("load nodes: %d of %d records skipped: %w", len(bad), len(bad)+len(loaded), errors.Join(bad...))
	}
	return nil
}

// AddOption sets optional fields of a node added with AddLocal.
type AddOption func(*Node)

// WithSource sets Node.Source (default "api"); the host uses "demo" for its
// start-up demo nodes.
func WithSource(s string) AddOption { return func(n *Node) { n.Source = s } }

// WithName sets Node.Name.
func WithName(name string) AddOption { return func(n *Node) { n.Name = name } }

// WithLabels sets Node.Labels (copied).
func WithLabels(l map[string]string) AddOption {
	return func(n *Node) { n.Labels = maps.Clone(l) }
}

// AddLocal adds an active local node with inbox folder inboxRoot/<id>,
// creating the folder (mode 0750) if needed, saves it and emits node_added.
// Errors: ErrInvalidID, ErrExists, or a failure to create the folder or to
// save (the node is then not added).
func (r *Registry) AddLocal(id string, port int, inboxRoot string, opts ...AddOption) (Node, error) {
	if err := ValidateID(id); err != nil {
		return Node{}, fmt.Errorf("add node: %w", err)
	}
	if port < 0 || port > 65535 {
		return Node{}, fmt.Errorf("add node %s: port %d out of range 0-65535", id, port)
	}
	if inboxRoot == "" {
		return Node{}, fmt.Errorf("add node %s: no inbox root directory", id)
	}
	root, err := filepath.Abs(inboxRoot)
	if err != nil {
		return Node{}, fmt.Errorf("add node %s: inbox root %s: %w", id, inboxRoot, err)
	}
	now := r.now()
	n := Node{
		ID:        id,
		Kind:      KindLocal,
		State:     StateActive,
		Port:      port,
		InboxDir:  filepath.Join(root, id),
		Hostname:  hostname(),
		Source:    "api",
		CreatedAt: now,
		LastSeen:  now,
	}
	for _, o := range opts {
		o(&n)
	}

	// Two concurrent adds of one id cannot both succeed (lockID); the
	// mkdir and the save (an fsync) run outside r.mu.
	defer r.lockID(id)()
	r.mu.RLock()
	_, exists := r.nodes[id]
	r.mu.RUnlock()
	if exists {
		return Node{}, fmt.Errorf("add node %s: %w", id, ErrExists)
	}
	if err := os.MkdirAll(n.InboxDir, 0o750); err != nil {
		return Node{}, fmt.Errorf("add node %s: create inbox: %w", id, err)
	}
	if r.p != nil {
		if err := r.p.Put(Bucket, id, n); err != nil {
			return Node{}, fmt.Errorf("add node %s: save: %w", id, err)
		}
	}
	r.mu.Lock()
	r.nodes[id] = newEntry(n, 0)
	r.enqueue(pendingEvent{EventNodeAdded, n})
	r.mu.Unlock()
	r.deliver()
	return n, nil
}

// lastSeen is e's LastSeen: that of the last SyncClusterKeep that kept
// its kind when none synced it since. r.mu is held.
func (r *Registry) lastSeen(e *entry) time.Time {
	if e.node.ClusterID != "" {
		if k, ok := r.kept[e.node.ClusterID][e.node.Kind]; ok && k.gen > e.gen {
			return k.at
		}
	}
	return e.node.LastSeen
}

// copyOut is the copy of e's node handed out. r.mu is held.
func (r *Registry) copyOut(e *entry) Node {
	n := e.node
	e.p.unpack(&n)
	n.LastSeen = r.lastSeen(e)
	return n
}

// removed is the copy of a node that its node_removed event carries.
func removed(n Node) Node {
	n.State = StateRemoved
	return n
}

var (
	hostOnce sync.Once
	hostName string
)

func hostname() string {
	hostOnce.Do(func() { hostName, _ = os.Hostname() })
	return hostName
}

// Remove removes a local node, deletes its saved record and emits
// node_removed. Its inbox folder and the files in it are left in place.
// Errors: ErrNotFound, ErrNotLocal (external nodes come and go with their
// cluster), or a failure to delete the record (the node is then kept).
func (r *Registry) Remove(id string) (Node, error) {
	defer r.lockID(id)()
	r.mu.RLock()
	e, ok := r.nodes[id]
	var kind Kind
	var cluster string
	if ok {
		kind, cluster = e.node.Kind, e.node.ClusterID
	}
	r.mu.RUnlock()
	if !ok {
		return Node{}, fmt.Errorf("remove node %s: %w", id, ErrNotFound)
	}
	if kind != KindLocal {
		return Node{}, fmt.Errorf("remove node %s (%s of cluster %s): %w", id, kind, cluster, ErrNotLocal)
	}
	if r.p != nil {
		if err := r.p.Delete(Bucket, id); err != nil {
			return Node{}, fmt.Errorf("remove node %s: delete saved record: %w", id, err)
		}
	}
	r.mu.Lock()
	delete(r.nodes, id)
	out := r.copyOut(e)
	r.enqueue(pendingEvent{EventNodeRemoved, removed(out)})
	r.mu.Unlock()
	r.deliver()
	return out, nil
}

// SetState changes the state of a local node (for example to StateInactive
// when it is stopped), saves it and emits node_updated if it changed.
// Errors: ErrNotFound, ErrNotLocal, an unknown state, or a failure to save.
func (r *Registry) SetState(id string, s State) (Node, error) {
	switch s {
	case StateActive, StateInactive, StateDead:
	default:
		return Node{}, fmt.Errorf("set state of node %s: unknown state %q", id, s)
	}
	defer r.lockID(id)()
	r.mu.RLock()
	e, ok := r.nodes[id]
	var n Node
	if ok {
		n = r.copyOut(e)
	}
	r.mu.RUnlock()
	if !ok {
		return Node{}, fmt.Errorf("set state of node %s: %w", id, ErrNotFound)
	}
	if n.Kind != KindLocal {
		return Node{}, fmt.Errorf("set state of node %s: %w", id, ErrNotLocal)
	}
	if n.State == s {
		return n, nil
	}
	n.State = s
	n.LastSeen = r.now()
	if r.p != nil {
		if err := r.p.Put(Bucket, id, n); err != nil {
			return Node{}, fmt.Errorf("set state of node %s: save: %w", id, err)
		}
	}
	r.mu.Lock()
	e.set(n)
	r.enqueue(pendingEvent{EventNodeUpdated, n})
	r.mu.Unlock()
	r.deliver()
	return n, nil
}

// Get returns a copy of the node with the given id.
func (r *Registry) Get(id string) (Node, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.nodes[id]
	if !ok {
		return Node{}, false
	}
	return r.copyOut(e), true
}

// List returns copies of the nodes matching f, sorted by ID.
func (r *Registry) List(f Filter) []Node {
	l := r.ListLazy(f)
	out := make([]Node, l.Len())
	for i := range out {
		out[i] = l.At(i)
	}
	return out
}

// Listing is List's answer for a caller that reads the nodes one at a
// time: each node's maps are made when it is read, so a listing of 100,000
// nodes (GET /api/nodes) never holds 300,000 maps at once.
type Listing struct {
	nodes []Node // without their maps
	p     []packed
}

// Len is the number of nodes listed.
func (l *Listing) Len() int { return len(l.nodes) }

// At is the i-th node, sorted by ID, with maps of its own.
func (l *Listing) At(i int) Node {
	n := l.nodes[i]
	l.p[i].unpack(&n)
	return n
}

// ListLazy is List as a Listing.
func (r *Registry) ListLazy(f Filter) *Listing {
	l := &Listing{}
	r.mu.RLock()
	add := func(e *entry) {
		if f.match(&e.node) {
			n := e.node
			n.LastSeen = r.lastSeen(e)
			l.nodes = append(l.nodes, n)
			l.p = append(l.p, e.p)
		}
	}
	if f.ClusterID != "" {
		for _, e := range r.clusters[f.ClusterID] {
			add(e)
		}
	} else {
		l.nodes, l.p = make([]Node, 0, len(r.nodes)), make([]packed, 0, len(r.nodes))
		for _, e := range r.nodes {
			add(e)
		}
	}
	r.mu.RUnlock()
	sort.Sort(byID{l})
	return l
}

// byID sorts a Listing by node id.
type byID struct{ *Listing }

func (l byID) Less(i, j int) bool { return l.nodes[i].ID < l.nodes[j].ID }
func (l byID) Swap(i, j int) {
	l.nodes[i], l.nodes[j] = l.nodes[j], l.nodes[i]
	l.p[i], l.p[j] = l.p[j], l.p[i]
}

// Visit calls f with every node, in no order, under the registry's read
// lock and without copying them: n without its maps (nil), its Resources
// and Available as res and avail, sorted by name. f must neither keep nor
// modify what it is given, nor call the registry. It is for summaries of
// many nodes (the status report of 100,000 nodes every few seconds), where
// List's copies would cost more than the summary.
func (r *Registry) Visit(f func(n *Node, res, avail []Quantity)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.nodes {
		f(&e.node, e.p.resources, e.p.available)
	}
}

// Clusters returns the ids of the external clusters that have nodes in the
// registry, sorted.
func (r *Registry) Clusters() []string {
	r.mu.RLock()
	ids := slices.Collect(maps.Keys(r.clusters))
	r.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// SyncCluster makes nodes the complete node set of external cluster
// clusterID and emits the difference:
//   - node_added for a node not in the registry before;
//   - node_dead for a node whose state changed to dead;
//   - node_updated for any other change of a node's fields (state, address,
//     resources, available, labels, name...), but not for a change of
//     LastSeen alone, which is recorded silently;
//   - node_removed for a node of this cluster that is not in nodes.
//
// A sync that changes nothing emits no events. Each node gets ClusterID =
// clusterID; an empty Kind means KindRayNode, an empty State StateActive, a
// zero LastSeen the time of the sync; CreatedAt is kept from the first sync
// that saw the node. Nodes are skipped (and counted in Skipped) if their id
// is empty or repeated, their kind is KindLocal, or their id belongs to a
// local node or to another cluster. External nodes are not persisted. The
// registry keeps its own copies of the nodes' maps.
//
// Syncing an empty set removes the cluster's nodes (use it on disconnect).
func (r *Registry) SyncCluster(clusterID string, nodes []Node) SyncStats {
	return r.syncCluster(clusterID, nodes, nil, time.Time{}, false)
}

// SyncClusterKeep is SyncCluster for a caller that knows that the
// cluster's nodes of the kinds in keep are exactly those it handed over at
// its previous sync (it read the same answer from Ray again): nodes then
// holds the cluster's nodes of the other kinds only, and the registry's
// nodes of the kinds in keep are kept as they are, without being compared,
// their LastSeen set to seen (the time of the sync when zero) and counted
// Unchanged. The events, their order and the removals are those SyncCluster
// would give for the complete set, provided the kept nodes were not changed
// by anything else since that previous sync (MarkClusterOffline, say: the
// caller must then hand over the complete set again).
//
// Keeping a kind touches none of its nodes: it costs the same for ten
// nodes or ten thousand. Nodes of a kept kind in nodes are skipped.
//
// Unlike SyncCluster, SyncClusterKeep hands the maps of nodes (Resources,
// Available, Labels) on to its events as they are, without copying them:
// the caller hands them over and must not use them afterwards.
func (r *Registry) SyncClusterKeep(clusterID string, nodes []Node, keep []Kind, seen time.Time) SyncStats {
	return r.syncCluster(clusterID, nodes, keep, seen, true)
}

// syncCluster is SyncCluster and SyncClusterKeep; own says whether the
// nodes' maps are the registry's to keep as they are.
func (r *Registry) syncCluster(clusterID string, nodes []Node, keep []Kind, seen time.Time, own bool) SyncStats {
	var st SyncStats
	if clusterID == "" {
		st.Skipped = len(nodes)
		return st
	}
	now := r.now()
	if seen.IsZero() {
		seen = now
	}
	r.mu.Lock()
	r.gen++
	gen := r.gen
	members := r.clusters[clusterID]
	if members == nil {
		members = make(map[string]*entry, len(nodes))
	}
	kinds := r.kinds[clusterID]
	if kinds == nil {
		kinds = map[Kind]int{}
	}
	if len(keep) > 0 {
		stamps := r.kept[clusterID]
		if stamps == nil {
			stamps = map[Kind]keptStamp{}
			r.kept[clusterID] = stamps
		}
		for _, k := range keep {
			if _, dup := stamps[k]; dup && stamps[k].gen == gen {
				continue
			}
			stamps[k] = keptStamp{gen: gen, at: seen}
			st.Unchanged += kinds[k]
		}
	}
	var evs []pendingEvent
	if len(members) == 0 {
		evs = make([]pendingEvent, 0, len(nodes)) // every node is new
	}
	if grow := len(nodes) - len(members); grow > len(r.nodes) {
		// Many new nodes (a large cluster's first sync): one map of the
		// final size instead of growing it step by step while adding.
		m := make(map[string]*entry, len(r.nodes)+grow)
		for id, e := range r.nodes {
			m[id] = e
		}
		r.nodes = m
	}
	for i := range nodes {
		in := &nodes[i]
		if in.ID == "" || in.Kind == KindLocal {
			st.Skipped++
			continue
		}
		e, exists := r.nodes[in.ID]
		if exists && (e.node.Kind == KindLocal || e.node.ClusterID != clusterID) {
			st.Skipped++ // not ours to change
			continue
		}
		if exists && e.gen == gen {
			st.Skipped++ // repeated in this set; the first one wins
			continue
		}
		// Compare the incoming node, normalised, with what we hold.
		cand := *in
		cand.ClusterID = clusterID
		if cand.Kind == "" {
			cand.Kind = KindRayNode
		}
		if len(keep) > 0 && (slices.Contains(keep, cand.Kind) || exists && slices.Contains(keep, e.node.Kind)) {
			st.Skipped++ // a kind kept as it is
			continue
		}
		if cand.State == "" {
			cand.State = StateActive
		}
		if cand.LastSeen.IsZero() {
			cand.LastSeen = now
		}
		if !exists {
			if cand.CreatedAt.IsZero() {
				cand.CreatedAt = now
			}
			e = newEntry(cand, gen)
			if !own {
				cand = cand.clone() // the event's maps: the caller keeps its own
			}
			r.nodes[cand.ID] = e
			members[cand.ID] = e
			kinds[cand.Kind]++
			st.Added++
			evs = append(evs, pendingEvent{EventNodeAdded, cand})
			continue
		}
		e.gen = gen
		cand.CreatedAt = e.node.CreatedAt
		if sameContent(&cand, e) {
			e.node.LastSeen = cand.LastSeen
			st.Unchanged++
			continue
		}
		becameDead := cand.State == StateDead && e.node.State != StateDead
		if cand.Kind != e.node.Kind {
			kinds[e.node.Kind]--
			kinds[cand.Kind]++
		}
		e.set(cand)
		if !own {
			cand = cand.clone()
		}
		if becameDead {
			st.Dead++
			evs = append(evs, pendingEvent{EventNodeDead, cand})
		} else {
			st.Updated++
			evs = append(evs, pendingEvent{EventNodeUpdated, cand})
		}
	}
	// Whatever this sync did not see is gone. Removals are reported in id
	// order so that the event stream is deterministic.
	// Every member this sync saw was counted once (added, updated, dead or
	// unchanged): when they are all of them, none is gone.
	var gone []string
	if st.Added+st.Updated+st.Dead+st.Unchanged < len(members) {
		for id, e := range members {
			if e.gen != gen && !slices.Contains(keep, e.node.Kind) {
				gone = append(gone, id)
			}
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		e := members[id]
		n := r.copyOut(e)
		delete(members, id)
		delete(r.nodes, id)
		kinds[n.Kind]--
		st.Removed++
		evs = append(evs, pendingEvent{EventNodeRemoved, removed(n)})
	}
	if len(members) == 0 {
		delete(r.clusters, clusterID)
		delete(r.kinds, clusterID)
		delete(r.kept, clusterID)
	} else {
		r.clusters[clusterID] = members
		r.kinds[clusterID] = kinds
	}
	r.enqueue(evs...)
	r.mu.Unlock()
	r.deliver()
	return st
}

// MarkClusterOffline sets every active node of cluster clusterID to
// StateInactive, emitting node_updated for each. Dead nodes stay dead. The
// next SyncCluster of the cluster brings them back (node_updated again).
func (r *Registry) MarkClusterOffline(clusterID string) {
	r.mu.Lock()
	members := r.clusters[clusterID]
	ids := make([]string, 0, len(members))
	for id, e := range members {
		if e.node.State == StateActive {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	evs := make([]pendingEvent, 0, len(ids))
	for _, id := range ids {
		e := members[id]
		e.node.State = StateInactive // LastSeen stays: it is when it was last seen
		e.node.LastSeen = r.lastSeen(e)
		evs = append(evs, pendingEvent{EventNodeUpdated, r.copyOut(e)})
	}
	r.enqueue(evs...)
	r.mu.Unlock()
	r.deliver()
}

// String is for debugging.
func (s SyncStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "added=%d updated=%d dead=%d removed=%d unchanged=%d", s.Added, s.Updated, s.Dead, s.Removed, s.Unchanged)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, " skipped=%d", s.Skipped)
	}
	return b.String()
}
