package connector

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

// Source reads one cluster's tables.
type Source interface {
	Info(ctx context.Context) (ray.ClusterInfo, error)
	Nodes(ctx context.Context) ([]ray.Node, error)
	Actors(ctx context.Context) ([]ray.Actor, error)
	Close() error
}

// Attempt is one way of reaching a cluster that was tried.
type Attempt struct {
	Method     string `json:"method"` // "dashboard", "gcs", "identify", ...
	Address    string `json:"address"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Dialed is what a Dialer reached.
type Dialed struct {
	Source   Source
	Via      string // "dashboard" or "gcs"
	Attempts []Attempt
}

// Dialer reaches a cluster by the address a user gave.
type Dialer interface {
	Dial(ctx context.Context, address string) (Dialed, error)
}

// DialError is a failed dial, listing every attempt.
type DialError struct {
	Address  string
	Attempts []Attempt
	// Timeout is true when the connection timeout ran out.
	Timeout bool
	Err     error
}

func (e *DialError) Error() string {
	var parts []string
	for _, a := range e.Attempts {
		if !a.OK {
			parts = append(parts, fmt.Sprintf("%s %s: %s", a.Method, a.Address, a.Error))
		}
	}
	msg := fmt.Sprintf("cannot reach a Ray cluster at %s: %v", e.Address, e.Err)
	if len(parts) > 0 {
		msg += " (tried " + strings.Join(parts, "; ") + ")"
	}
	return msg
}

func (e *DialError) Unwrap() error { return e.Err }

// AddressError is an address that cannot be parsed; the API answers 400.
type AddressError struct{ Err error }

func (e *AddressError) Error() string { return e.Err.Error() }
func (e *AddressError) Unwrap() error { return e.Err }

// ErrNotFound is returned for an unknown cluster id.
var ErrNotFound = errors.New("no such cluster connection")

// changeSource is a Source that can tell that a table is the same as at a
// previous read without decoding it: the dashboard, whose answers are
// compared by their ray.Digest. A sync in which Ray answers the same bytes
// then costs the requests and a hash, and nothing per node.
type changeSource interface {
	Source
	// NodesIfChanged returns (nil, prev, false, nil) when the node table
	// is the one read with Digest prev, else the nodes, their Digest (0:
	// none, decode again next time) and true.
	NodesIfChanged(ctx context.Context, prev ray.Digest) ([]ray.Node, ray.Digest, bool, error)
	// ActorsIfChanged is NodesIfChanged for the alive actors.
	ActorsIfChanged(ctx context.Context, prev ray.Digest) ([]ray.Actor, ray.Digest, bool, error)
}

// Registry is what the connector needs of the node registry.
type Registry interface {
	SyncCluster(clusterID string, nodes []registry.Node) registry.SyncStats
	SyncClusterKeep(clusterID string, nodes []registry.Node, keep []registry.Kind, seen time.Time) registry.SyncStats
	MarkClusterOffline(clusterID string)
	List(f registry.Filter) []registry.Node
	Get(id string) (registry.Node, bool)
}

// ActorFilter chooses which actors become virtual nodes.
type ActorFilter struct {
	// Named includes every actor with a name.
	Named bool
	// ClassPatterns are path.Match patterns on the class name, e.g.
	// "*Node*"; the original CastRay matched Node, Worker and Demo.
	ClassPatterns []string
}

// DefaultActorFilter is the original's: named actors and classes with Node,
// Worker or Demo in their name.
var DefaultActorFilter = ActorFilter{Named: true, ClassPatterns: []string{"*Node*", "*Worker*", "*Demo*"}}

func (f ActorFilter) match(a ray.Actor) bool {
	if f.Named && a.Name != "" {
		return true
	}
	for _, p := range f.ClassPatterns {
		if ok, _ := path.Match(p, a.ClassName); ok {
			return true
		}
	}
	return false
}

// Options configure a Connector.
type Options struct {
	Registry Registry
	Dialer   Dialer
	Emit     func(typ string, data any)
	Log      hclog.Logger
	// SyncInterval is the time between syncs (default 5 s).
	SyncInterval time.Duration
	// Timeout bounds a connect and one sync (default 10 s).
	Timeout time.Duration
	// BackoffMax caps the wait between reconnect attempts (default 30 s).
	BackoffMax  time.Duration
	ActorFilter ActorFilter
	Now         func() time.Time
	// OnSync, optional, is told of every sync of a connection: its id, how
	// long the sync took and how it ended (metrics).
	OnSync func(cluster string, took time.Duration, err error)
}

// States of a cluster connection.
const (
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
	// StateConnecting: an address the configuration names that has not
	// answered yet (Keep), dialed again with capped backoff.
	StateConnecting = "connecting"
)

// Cluster is one connection's state, as the API shows it.
type Cluster struct {
	ID           string    `json:"id"`
	Address      string    `json:"address"`
	Via          string    `json:"via"`
	State        string    `json:"state"`
	ClusterID    string    `json:"cluster_id,omitempty"`
	SessionName  string    `json:"session_name,omitempty"`
	RayVersion   string    `json:"ray_version,omitempty"`
	DashboardURL string    `json:"dashboard_url,omitempty"`
	GCSAddress   string    `json:"gcs_address,omitempty"`
	Nodes        int       `json:"nodes"`
	AliveNodes   int       `json:"alive_nodes"`
	Actors       int       `json:"actors"`
	ConnectedAt  time.Time `json:"connected_at,omitzero"`
	LastSync     time.Time `json:"last_sync,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	Reconnects   int       `json:"reconnects"`
	Attempts     []Attempt `json:"attempts,omitempty"`
	// NextAttemptAt is when a connecting cluster is dialed next.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

// Connector manages every cluster connection.
type Connector struct {
	opts Options
	log  hclog.Logger

	mu    sync.Mutex
	conns map[string]*conn
	// pending are the addresses Keep dials until they answer.
	pending map[string]*pendingConn
	wg      sync.WaitGroup
}

// pendingConn is an address Keep has not connected yet.
type pendingConn struct {
	state  Cluster
	cancel context.CancelFunc
}

// conn is one cluster connection and its sync loop.
type conn struct {
	c      *Connector
	stop   chan struct{}
	mu     sync.Mutex
	src    Source
	state  Cluster
	closed bool
	// regMu orders this connection's registry writes with Disconnect's
	// clearing of its nodes: a sync in flight when the connection is
	// dropped never writes them back.
	regMu sync.Mutex
	// memo is what the last sync handed to the registry, valid for the
	// source of epoch memoEpoch (under mu; reconnecting bumps the epoch).
	memo      syncMemo
	memoEpoch uint64
	// skipped counts the tables syncs did not decode because Ray answered
	// the same bytes: nodes, actors (under mu; read by tests).
	skipped [2]int
	// head is the alive head node's id as the last sync that read the
	// node table saw it (under mu): the identity of last resort of a
	// cluster that told neither its cluster id nor its session (see
	// sameCluster).
	head string
}

// syncMemo is what a connection remembers of the last sync it applied to
// the registry, so that the next one can skip the tables Ray answers with
// the same bytes (a changeSource): their digests, and what the sync's
// state needs of a node table not decoded again. (An actor whose node
// table was skipped takes its node's address from the registry.) The zero
// value remembers nothing: the next sync reads everything.
type syncMemo struct {
	nodes, actors          ray.Digest
	nNodes, alive, nActors int
}

// New returns a Connector.
func New(opts Options) *Connector {
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.Emit == nil {
		opts.Emit = func(string, any) {}
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Connector{opts: opts, log: opts.Log.Named("connector"), conns: map[string]*conn{}, pending: map[string]*pendingConn{}}
}

// Connect reaches the cluster at address, syncs it once and keeps it in
// sync. Connecting to a cluster that is already connected returns it.
func (c *Connector) Connect(ctx context.Context, address string) (Cluster, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	d, err := c.opts.Dialer.Dial(ctx, address)
	if err != nil {
		return Cluster{}, false, err
	}
	info, err := d.Source.Info(ctx)
	if err != nil {
		d.Source.Close()
		return Cluster{}, false, &DialError{Address: address, Attempts: d.Attempts, Err: fmt.Errorf("read cluster info: %w", err), Timeout: ctx.Err() != nil}
	}
	id := connID(info, address)

	c.mu.Lock()
	existing := c.sameCluster(id, info, "")
	head := ""
	if existing == nil && c.anonymous(info) {
		// A cluster that named neither its cluster id nor its session on one
		// side (an older Ray's dashboard before its head's agent has reported:
		// docs/compat.md): compare the alive head node's id instead.
		c.mu.Unlock()
		if nodes, err := d.Source.Nodes(ctx); err == nil {
			if h, ok := ray.AliveHead(nodes); ok {
				head = h.NodeID
			}
		}
		c.mu.Lock()
		existing = c.sameCluster(id, info, head)
	}
	if existing != nil {
		c.mu.Unlock()
		d.Source.Close()
		return existing.snapshot(), false, nil
	}
	k := &conn{c: c, stop: make(chan struct{}), src: d.Source, head: head, state: Cluster{
		ID: id, Address: address, Via: d.Via, State: StateConnected, ConnectedAt: c.opts.Now().UTC(), Attempts: d.Attempts,
	}}
	k.setInfo(info)
	c.conns[id] = k
	c.mu.Unlock()

	if err := k.sync(ctx); err != nil {
		c.drop(id)
		return Cluster{}, false, &DialError{Address: address, Attempts: d.Attempts, Err: fmt.Errorf("first sync: %w", err), Timeout: ctx.Err() != nil}
	}
	c.opts.Emit(events.TypeExternalClusterConnected, k.snapshot())
	c.log.Info("connected to Ray cluster", "id", id, "address", address, "via", d.Via, "nodes", k.snapshot().Nodes)
	c.wg.Add(1)
	go k.loop()
	return k.snapshot(), true, nil
}

// sameCluster is the connection to the cluster info describes: the one
// with id, or one with the same Ray cluster id or session name (a cluster
// reached by another address, through which its Ray told less of itself,
// is still one connection), or, when head is given, the same alive head
// node. c.mu is held.
func (c *Connector) sameCluster(id string, info ray.ClusterInfo, head string) *conn {
	if k, ok := c.conns[id]; ok {
		return k
	}
	for _, k := range c.conns {
		k.mu.Lock()
		st, kh := k.state, k.head
		k.mu.Unlock()
		if info.ClusterID != "" && st.ClusterID == info.ClusterID || info.SessionName != "" && st.SessionName == info.SessionName ||
			head != "" && kh == head {
			return k
		}
	}
	return nil
}

// anonymous is true when info or a connection names neither a cluster id
// nor a session, so that only the head node can tell whether they are the
// same cluster. c.mu is held.
func (c *Connector) anonymous(info ray.ClusterInfo) bool {
	if info.ClusterID == "" && info.SessionName == "" {
		return true
	}
	for _, k := range c.conns {
		k.mu.Lock()
		st := k.state
		k.mu.Unlock()
		if st.ClusterID == "" && st.SessionName == "" {
			return true
		}
	}
	return false
}

// connID names a connection after the cluster's identity.
func connID(info ray.ClusterInfo, address string) string {
	switch {
	case info.ClusterID != "":
		return "c-" + shorten(info.ClusterID, 12)
	case info.SessionName != "":
		return "s-" + strings.TrimPrefix(info.SessionName, "session_")
	}
	return "a-" + addressID(address)
}

// addressID is an address as an id part.
func addressID(address string) string {
	return strings.NewReplacer(":", "-", "/", "-", "[", "", "]", "").Replace(address)
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Keep connects to address like Connect and, when that fails, keeps
// dialing it with capped exponential backoff until it answers, ctx ends or
// the entry is disconnected, listing it meanwhile as a "connecting" cluster
// with id "p-<address>" and the last error. It is for the addresses the
// configuration names, which may come up after the daemon.
func (c *Connector) Keep(ctx context.Context, address string) (Cluster, error) {
	st, _, err := c.Connect(ctx, address)
	if err == nil {
		return st, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = c.opts.SyncInterval/2, c.opts.BackoffMax, 0
	p := &pendingConn{cancel: cancel, state: Cluster{ID: "p-" + addressID(address), Address: address, State: StateConnecting,
		LastError: err.Error(), NextAttemptAt: c.opts.Now().UTC().Add(b.NextBackOff())}}
	c.mu.Lock()
	if _, dup := c.pending[p.state.ID]; dup {
		c.mu.Unlock()
		cancel()
		return Cluster{}, fmt.Errorf("address %s: already being connected", address)
	}
	c.pending[p.state.ID] = p
	st = p.state
	c.mu.Unlock()
	c.log.Warn("Ray cluster not reachable yet; dialing it again with backoff", "address", address, "error", err)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		for {
			c.mu.Lock()
			wait := p.state.NextAttemptAt.Sub(c.opts.Now())
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				c.forget(p)
				return
			case <-time.After(wait):
			}
			_, _, err := c.Connect(ctx, address)
			if err == nil || ctx.Err() != nil {
				c.forget(p)
				return
			}
			c.mu.Lock()
			p.state.LastError, p.state.NextAttemptAt = err.Error(), c.opts.Now().UTC().Add(b.NextBackOff())
			c.mu.Unlock()
		}
	}()
	return st, nil
}

// forget removes a pending entry (once connected or given up).
func (c *Connector) forget(p *pendingConn) {
	c.mu.Lock()
	if c.pending[p.state.ID] == p {
		delete(c.pending, p.state.ID)
	}
	c.mu.Unlock()
}

// Disconnect ends one connection and removes its nodes from the registry;
// for a connecting one it stops the dialing.
func (c *Connector) Disconnect(id string) (Cluster, error) {
	c.mu.Lock()
	p, pending := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if pending {
		p.cancel()
		st := p.state
		st.State = StateDisconnected
		c.log.Info("stopped dialing Ray cluster", "address", st.Address)
		return st, nil
	}
	k := c.drop(id)
	if k == nil {
		return Cluster{}, fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	st := k.snapshot()
	st.State = StateDisconnected
	k.regMu.Lock()
	c.opts.Registry.SyncCluster(id, nil)
	k.regMu.Unlock()
	c.opts.Emit(events.TypeExternalClusterDisconnected, map[string]any{"cluster": st, "reason": "disconnected by request"})
	c.log.Info("disconnected from Ray cluster", "id", id)
	return st, nil
}

// DisconnectAll ends every connection.
func (c *Connector) DisconnectAll() []Cluster {
	var out []Cluster
	for _, st := range c.Clusters() {
		if d, err := c.Disconnect(st.ID); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// drop stops a connection's loop and forgets it.
func (c *Connector) drop(id string) *conn {
	c.mu.Lock()
	k, ok := c.conns[id]
	delete(c.conns, id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	k.close()
	return k
}

// Clusters lists every connection, connecting ones included, sorted by id.
func (c *Connector) Clusters() []Cluster {
	c.mu.Lock()
	out := make([]Cluster, 0, len(c.conns)+len(c.pending))
	for _, k := range c.conns {
		out = append(out, k.snapshot())
	}
	for _, p := range c.pending {
		out = append(out, p.state)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns one connection.
func (c *Connector) Get(id string) (Cluster, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.conns[id]
	if !ok {
		p, ok := c.pending[id]
		if !ok {
			return Cluster{}, false
		}
		return p.state, true
	}
	return k.snapshot(), true
}

// Shutdown stops every sync loop; the registry keeps the nodes (the daemon
// is going away anyway).
func (c *Connector) Shutdown() {
	c.mu.Lock()
	conns, pending := c.conns, c.pending
	c.conns, c.pending = map[string]*conn{}, map[string]*pendingConn{}
	c.mu.Unlock()
	for _, p := range pending {
		p.cancel()
	}
	for _, k := range conns {
		k.close()
	}
	c.wg.Wait()
}

// errDropped ends a sync of a connection dropped meanwhile.
var errDropped = errors.New("connection dropped")

func (k *conn) isClosed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.closed
}

func (k *conn) close() {
	k.mu.Lock()
	if !k.closed {
		k.closed = true
		close(k.stop)
		if k.src != nil {
			k.src.Close()
		}
	}
	k.mu.Unlock()
}

func (k *conn) snapshot() Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.state
	st.Attempts = append([]Attempt(nil), k.state.Attempts...)
	return st
}

func (k *conn) setInfo(info ray.ClusterInfo) {
	k.state.ClusterID, k.state.SessionName, k.state.RayVersion = info.ClusterID, info.SessionName, info.RayVersion
	if info.DashboardURL != "" {
		k.state.DashboardURL = info.DashboardURL
	}
	if info.GCSAddress != "" {
		k.state.GCSAddress = info.GCSAddress
	}
}

// sync reads the tables once and hands the virtual nodes to the registry.
//
// With a changeSource, a table Ray answers with the same bytes as at the
// last sync applied is neither decoded nor mapped nor compared: the
// registry keeps that kind's nodes (SyncClusterKeep), which gives the same
// registry and the same events as handing it the whole set again. The
// actors are read in full whenever the node table changed, since an
// actor's address may come from its node's.
func (k *conn) sync(ctx context.Context) (err error) {
	k.mu.Lock()
	src, id, via, memo, epoch := k.src, k.state.ID, k.state.Via, k.memo, k.memoEpoch
	k.mu.Unlock()
	if on := k.c.opts.OnSync; on != nil {
		start := time.Now()
		defer func() { on(id, time.Since(start), err) }()
	}
	var (
		nodes                 []ray.Node
		actors                []ray.Actor
		next                  syncMemo
		nodesSame, actorsSame bool
	)
	if cs, ok := src.(changeSource); ok {
		var changed bool
		nodes, next.nodes, changed, err = cs.NodesIfChanged(ctx, memo.nodes)
		if err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
		nodesSame = !changed
		prevActors := memo.actors
		if changed {
			prevActors = 0
		}
		actors, next.actors, changed, err = cs.ActorsIfChanged(ctx, prevActors)
		if err != nil {
			return fmt.Errorf("actors: %w", err)
		}
		actorsSame = !changed
	} else {
		if nodes, err = src.Nodes(ctx); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
		if actors, err = src.Actors(ctx); err != nil {
			return fmt.Errorf("actors: %w", err)
		}
	}
	now := k.c.opts.Now().UTC()
	var virtual []registry.Node
	var keep []registry.Kind
	known := map[string]string{}
	nodeIP := func(nodeHex string) string { // a node table not read again: the registry's
		addr, ok := known[nodeHex]
		if !ok { // once per node, not per actor
			n, _ := k.c.opts.Registry.Get(NodeID(id, nodeHex))
			addr, known[nodeHex] = n.Address, n.Address
		}
		return addr
	}
	if nodesSame {
		keep = append(keep, registry.KindRayNode)
		next.nNodes, next.alive = memo.nNodes, memo.alive
	} else {
		var ips map[string]string
		virtual = make([]registry.Node, 0, len(nodes)+len(actors))
		virtual, next.alive, ips = nodesToVirtual(virtual, id, via, nodes, now)
		nodeIP = func(nodeHex string) string { return ips[nodeHex] }
		next.nNodes = len(nodes)
		if h, ok := ray.AliveHead(nodes); ok {
			k.mu.Lock()
			k.head = h.NodeID
			k.mu.Unlock()
		}
	}
	if actorsSame {
		keep = append(keep, registry.KindRayActor)
		next.nActors = memo.nActors
	} else {
		virtual, next.nActors = actorsToVirtual(virtual, id, via, actors, nodeIP, k.c.opts.ActorFilter, now)
	}
	k.regMu.Lock()
	if k.isClosed() {
		k.regMu.Unlock()
		return errDropped
	}
	stats := k.c.opts.Registry.SyncClusterKeep(id, virtual, keep, now)
	k.regMu.Unlock()
	if stats.Added > 0 && stats.Removed > 0 && stats.Unchanged == 0 && stats.Updated == 0 {
		// Every node is new: the cluster restarted between two syncs (a new
		// session); read its identity again.
		if info, err := src.Info(ctx); err == nil {
			k.mu.Lock()
			k.setInfo(info)
			k.mu.Unlock()
		}
	}
	k.mu.Lock()
	k.state.Nodes, k.state.AliveNodes, k.state.Actors, k.state.LastSync, k.state.LastError = next.nNodes, next.alive, next.nActors, now, ""
	if k.memoEpoch == epoch {
		k.memo = next
	}
	if nodesSame {
		k.skipped[0]++
	}
	if actorsSame {
		k.skipped[1]++
	}
	k.mu.Unlock()
	return nil
}

// loop syncs every interval; on failure it marks the cluster disconnected
// and reconnects with capped backoff.
func (k *conn) loop() {
	defer k.c.wg.Done()
	tick := time.NewTicker(k.c.opts.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.c.opts.Timeout)
		err := k.sync(ctx)
		cancel()
		if err == nil {
			continue
		}
		if k.isClosed() {
			return // dropped (Disconnect, Shutdown): not an outage
		}
		if !k.reconnect(err) {
			return
		}
	}
}

// reconnect handles a failed sync: the cluster goes offline, then the
// address is dialed again with capped exponential backoff until it answers
// or the connection is dropped. It returns false when the connection was
// dropped meanwhile.
func (k *conn) reconnect(cause error) bool {
	k.mu.Lock()
	id, address := k.state.ID, k.state.Address
	k.state.State, k.state.LastError = StateDisconnected, cause.Error()
	k.memo, k.memoEpoch = syncMemo{}, k.memoEpoch+1 // the registry's nodes go offline: the next sync hands them all over
	st := k.state
	if k.src != nil {
		k.src.Close()
		k.src = nil
	}
	k.mu.Unlock()
	k.c.opts.Registry.MarkClusterOffline(id)
	k.c.opts.Emit(events.TypeExternalClusterDisconnected, map[string]any{"cluster": st, "reason": cause.Error()})
	k.c.log.Warn("Ray cluster lost; reconnecting", "id", id, "error", cause)

	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = k.c.opts.SyncInterval/2, k.c.opts.BackoffMax, 0
	for {
		select {
		case <-k.stop:
			return false
		case <-time.After(b.NextBackOff()):
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.c.opts.Timeout)
		err := k.redial(ctx, address)
		cancel()
		if err == nil {
			k.c.opts.Emit(events.TypeExternalClusterConnected, k.snapshot())
			k.c.log.Info("Ray cluster back", "id", id, "session", k.snapshot().SessionName)
			return true
		}
		k.mu.Lock()
		k.state.LastError = err.Error()
		k.mu.Unlock()
	}
}

// redial reaches the address again and syncs; the cluster may come back
// as a new session, whose nodes then replace the old ones.
func (k *conn) redial(ctx context.Context, address string) error {
	d, err := k.c.opts.Dialer.Dial(ctx, address)
	if err != nil {
		return err
	}
	info, err := d.Source.Info(ctx)
	if err != nil {
		d.Source.Close()
		return err
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		d.Source.Close()
		return errDropped
	}
	k.src, k.state.Via, k.state.Attempts = d.Source, d.Via, d.Attempts
	k.memo, k.memoEpoch = syncMemo{}, k.memoEpoch+1
	k.setInfo(info)
	k.mu.Unlock()
	if err := k.sync(ctx); err != nil {
		return err
	}
	k.mu.Lock()
	k.state.State = StateConnected
	k.state.Reconnects++
	k.mu.Unlock()
	return nil
}
