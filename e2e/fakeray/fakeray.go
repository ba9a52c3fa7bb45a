package fakeray

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Defaults copied from the real Ray 2.60.0 captures (api_version.json).
const (
	DefaultRayVersion  = "2.60.0"
	DefaultRayCommit   = "b7f4259e944bf6959f721b106adc366ddfa0c356"
	DefaultSessionName = "session_2026-11-25_20-23-23_346120_17941"

	// maxFromDataSource is RAY_MAX_LIMIT_FROM_DATA_SOURCE: the GCS never
	// hands the dashboard more rows than this.
	maxFromDataSource = 10000
	// maxFromAPIServer is RAY_MAX_LIMIT_FROM_API_SERVER: a larger ?limit is
	// answered 400.
	maxFromAPIServer = 10000
	defaultLimit     = 100

	// baseStartMs is the captured head's start_time_ms; fake node i starts
	// i ms later so that ids and times are deterministic.
	baseStartMs = 1795638205990
)

// Options describe the fake cluster.
type Options struct {
	Nodes, Actors int // e.g. 10_000 and 50_000; Nodes < 1 means 1 (a cluster has a head)
	// Token "" disables auth (authentication_mode "disabled"); otherwise token
	// mode: 401 without a token, 403 with a wrong one, bodies as captured.
	Token       string
	SessionName string // default DefaultSessionName
	RayVersion  string // default DefaultRayVersion
	Seed        int64  // ids are a function of Seed (and of the Restart count)
}

type node struct {
	id, ip, name string
	head         bool
	dead         bool
	stateMsg     string
	startMs      int64
	endMs        int64
	res          []kv
	ports        [8]int // nm, om, metricsExport, metricsAgent, dashAgent, runtimeEnvAgent, agentPid, rayletPid

	row, rowDetail []byte // encoded State API rows, rebuilt on change
}

type actor struct {
	id, class, jobID, name, nodeID, ns string
	state                              string
	pid                                int

	row, rowDetail []byte
}

// Server is a running fake dashboard.
type Server struct {
	URL string

	opts Options
	ts   *httptest.Server

	mu        sync.RWMutex
	rng       *rand.Rand
	session   string
	clusterID string
	nodes     []*node // insertion (GCS) order
	nodeByID  map[string]*node
	actors    []*actor
	actorByID map[string]*actor
	nextIP    int
	gen       uint64 // bumped on every mutation; keys the body cache

	cacheMu sync.Mutex
	cache   map[string]cached // by route+raw query, valid for gen

	fail  atomic.Int64 // status to answer, 0 = none
	delay atomic.Int64 // nanoseconds

	reqMu sync.Mutex
	reqs  map[string]int
}

type cached struct {
	gen    uint64
	status int
	ctype  string
	body   []byte
}

// Start builds the fake cluster and serves it until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// New builds the fake cluster and serves it on a loopback port until Close,
// for programs that are not tests (e2e/bench runs a hundred of them).
func New(opts Options) *Server {
	if opts.Nodes < 1 {
		opts.Nodes = 1
	}
	if opts.SessionName == "" {
		opts.SessionName = DefaultSessionName
	}
	if opts.RayVersion == "" {
		opts.RayVersion = DefaultRayVersion
	}
	s := &Server{
		opts:  opts,
		rng:   rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed_fa4e_7a1d)),
		cache: map[string]cached{},
		reqs:  map[string]int{},
	}
	s.populate(opts.SessionName, opts.Nodes, opts.Actors)
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	return s
}

// Close stops serving (what New started; Start's server closes by itself
// at the end of the test). It waits for requests in flight.
func (s *Server) Close() { s.ts.Close() }

// populate (re)creates the cluster. Callers hold mu or own s exclusively.
func (s *Server) populate(session string, nNodes, nActors int) {
	s.session = session
	s.clusterID = s.hex(28)
	s.nodes = make([]*node, 0, nNodes)
	s.nodeByID = make(map[string]*node, nNodes)
	s.actors = make([]*actor, 0, nActors)
	s.actorByID = make(map[string]*actor, nActors)
	s.nextIP = 1
	for i := 0; i < nNodes; i++ {
		s.addNodeLocked(i == 0)
	}
	alive := s.nodes
	for i := 0; i < nActors; i++ {
		n := alive[i%len(alive)]
		name := ""
		if i%10 == 0 {
			name = "actor-" + strconv.Itoa(i)
		}
		s.addActorLocked(n.id, actorClasses[i%len(actorClasses)], name)
	}
	s.gen++
}

var actorClasses = []string{"Worker", "ParameterServer", "Replica", "Collector"}

// hex returns n random bytes as lower-case hex (ids are binary in the GCS).
func (s *Server) hex(n int) string {
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := byte(s.rng.Uint32())
		b[2*i], b[2*i+1] = hexDigits[v>>4], hexDigits[v&15]
	}
	return string(b)
}

func ipFor(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", i/62500%250, i/250%250, i%250+1)
}

func (s *Server) addNodeLocked(head bool) *node {
	i := s.nextIP
	s.nextIP++
	ip := ipFor(i)
	n := &node{
		id:      s.hex(28),
		ip:      ip,
		name:    ip,
		head:    head,
		startMs: baseStartMs + int64(i),
	}
	// Resource order as in the captured head (a protobuf map: the GCS's order).
	if head {
		n.res = []kv{{"node:__internal_head__", 1}, {"object_store_memory", 7298460057}, {"memory", 17029740135}, {"node:" + ip, 1}, {"CPU", 8}}
	} else {
		n.res = []kv{{"object_store_memory", 7298460057}, {"memory", 17029740135}, {"node:" + ip, 1}, {"CPU", 8}}
	}
	for j := range n.ports {
		n.ports[j] = 30000 + int(s.rng.Uint32()%30000)
	}
	n.encode()
	s.nodes = append(s.nodes, n)
	s.nodeByID[n.id] = n
	return n
}

func (s *Server) addActorLocked(nodeID, class, name string) *actor {
	// ActorID: 12 unique bytes + the 4-byte JobID (01000000 = job 1).
	a := &actor{
		id:     s.hex(12) + "01000000",
		class:  class,
		jobID:  "01000000",
		name:   name,
		nodeID: nodeID,
		ns:     "fake-namespace",
		state:  "ALIVE",
		pid:    10000 + len(s.actors),
	}
	if n := s.nodeByID[nodeID]; n != nil && n.dead {
		a.state = "DEAD"
	}
	a.encode()
	s.actors = append(s.actors, a)
	s.actorByID[a.id] = a
	return a
}

// encode builds the node's /api/v0/nodes rows. Key order is NodeState's
// column order (filter_fields), checked against api_v0_nodes.txt.
func (n *node) encode() {
	b := make([]byte, 0, 512)
	b = append(b, `{"node_id": `...)
	b = appendPyStr(b, n.id)
	b = append(b, `, "node_ip": `...)
	b = appendPyStr(b, n.ip)
	b = append(b, `, "is_head_node": `...)
	b = appendPyBool(b, n.head)
	b = append(b, `, "state": `...)
	b = appendPyStr(b, n.stateStr())
	b = append(b, `, "state_message": `...)
	if n.dead {
		b = appendPyStr(b, n.stateMsg)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `, "node_name": `...)
	b = appendPyStr(b, n.name)
	b = append(b, `, "resources_total": `...)
	b = appendPyFloatMap(b, n.res, nil)
	b = append(b, `, "labels": {"ray.io/node-id": `...)
	b = appendPyStr(b, n.id)
	b = append(b, '}')
	n.row = append(b[:len(b):len(b)], '}')
	d := append(b, `, "start_time_ms": `...)
	d = strconv.AppendInt(d, n.startMs, 10)
	d = append(d, `, "end_time_ms": `...)
	d = strconv.AppendInt(d, n.endMs, 10)
	n.rowDetail = append(d, '}')
}

func (n *node) stateStr() string {
	if n.dead {
		return "DEAD"
	}
	return "ALIVE"
}

// encode builds the actor's /api/v0/actors rows in ActorState's column
// order. NOT YET VERIFIED against a capture of a real Ray 2.60.0 actor
// list: the fields and order come from ray-facts §3 and ActorState in
// python/ray/util/state/common.py; the detail values (num_restarts as a
// protobuf-JSON string, death_cause's inner keys) are best guesses.
func (a *actor) encode() {
	b := make([]byte, 0, 512)
	b = append(b, `{"actor_id": `...)
	b = appendPyStr(b, a.id)
	b = append(b, `, "class_name": `...)
	b = appendPyStr(b, a.class)
	b = append(b, `, "state": `...)
	b = appendPyStr(b, a.state)
	b = append(b, `, "job_id": `...)
	b = appendPyStr(b, a.jobID)
	b = append(b, `, "name": `...)
	b = appendPyStr(b, a.name)
	b = append(b, `, "node_id": `...)
	b = appendPyStr(b, a.nodeID)
	b = append(b, `, "pid": `...)
	b = strconv.AppendInt(b, int64(a.pid), 10)
	b = append(b, `, "ray_namespace": `...)
	b = appendPyStr(b, a.ns)
	a.row = append(b[:len(b):len(b)], '}')
	d := append(b, `, "serialized_runtime_env": "{}", "required_resources": {"CPU": 1.0}, "death_cause": `...)
	if a.state == "DEAD" {
		d = append(d, `{"actor_died_error_context": {"error_message": "The actor is dead.", "actor_id": `...)
		d = appendPyStr(d, a.id)
		d = append(d, `, "pid": `...)
		d = strconv.AppendInt(d, int64(a.pid), 10)
		d = append(d, `, "name": `...)
		d = appendPyStr(d, a.name)
		d = append(d, `, "ray_namespace": `...)
		d = appendPyStr(d, a.ns)
		d = append(d, `, "class_name": `...)
		d = appendPyStr(d, a.class)
		d = append(d, `}}`...)
	} else {
		d = append(d, "null"...)
	}
	d = append(d, `, "is_detached": false, "placement_group_id": null, "repr_name": "", "num_restarts": "0", "num_restarts_due_to_lineage_reconstruction": 0}`...)
	a.rowDetail = d
}

// mutate runs f under the write lock and invalidates every cached body.
func (s *Server) mutate(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.gen++
}

// NodeIDs returns the node ids in the GCS's (insertion) order, dead ones included.
func (s *Server) NodeIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.id
	}
	return out
}

// ActorIDs returns the actor ids in insertion order.
func (s *Server) ActorIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.actors))
	for i, a := range s.actors {
		out[i] = a.id
	}
	return out
}

// SessionName is the current session name (changes with Restart).
func (s *Server) SessionName() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.session
}

// ClusterID is the current cluster id served at /cluster_id.
func (s *Server) ClusterID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clusterID
}

// deadNodeMessage is what compose_state_message makes of
// UNEXPECTED_TERMINATION plus the GCS's health-check reason (not captured).
const deadNodeMessage = "Unexpected termination: health check failed due to missing too many heartbeats"

// KillNode marks the node DEAD (end_time_ms, state_message set); its actors
// become DEAD. The node stays in the table, as the GCS keeps dead nodes.
func (s *Server) KillNode(id string) {
	s.mutate(func() {
		n := s.nodeByID[id]
		if n == nil || n.dead {
			return
		}
		n.dead = true
		n.stateMsg = deadNodeMessage
		n.endMs = max(time.Now().UnixMilli(), n.startMs+1)
		n.encode()
		for _, a := range s.actors {
			if a.nodeID == id && a.state != "DEAD" {
				a.state = "DEAD"
				a.encode()
			}
		}
	})
}

// KillNodes is KillNode of every id as one change: a sync sees all of
// them dead or none.
func (s *Server) KillNodes(ids []string) {
	s.mutate(func() {
		killed := make(map[string]bool, len(ids))
		for _, id := range ids {
			n := s.nodeByID[id]
			if n == nil || n.dead {
				continue
			}
			n.dead = true
			n.stateMsg = deadNodeMessage
			n.endMs = max(time.Now().UnixMilli(), n.startMs+1)
			n.encode()
			killed[id] = true
		}
		for _, a := range s.actors {
			if killed[a.nodeID] && a.state != "DEAD" {
				a.state = "DEAD"
				a.encode()
			}
		}
	})
}

// AddNode adds an ALIVE worker node and returns its id.
func (s *Server) AddNode() string {
	var id string
	s.mutate(func() { id = s.addNodeLocked(false).id })
	return id
}

// RemoveNode deletes the node from the table entirely (its actors stay,
// still naming it).
func (s *Server) RemoveNode(id string) {
	s.mutate(func() {
		if s.nodeByID[id] == nil {
			return
		}
		delete(s.nodeByID, id)
		for i, n := range s.nodes {
			if n.id == id {
				s.nodes = append(s.nodes[:i], s.nodes[i+1:]...)
				break
			}
		}
	})
}

// SetResources replaces the node's resources_total with res (keys sorted).
func (s *Server) SetResources(id string, res map[string]float64) {
	s.mutate(func() {
		n := s.nodeByID[id]
		if n == nil {
			return
		}
		keys := make([]string, 0, len(res))
		for k := range res {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n.res = make([]kv, 0, len(keys))
		for _, k := range keys {
			n.res = append(n.res, kv{k, res[k]})
		}
		n.encode()
	})
}

// KillActor marks the actor DEAD.
func (s *Server) KillActor(id string) {
	s.mutate(func() {
		if a := s.actorByID[id]; a != nil && a.state != "DEAD" {
			a.state = "DEAD"
			a.encode()
		}
	})
}

// AddActor adds an ALIVE actor (DEAD if the node is dead) and returns its id.
func (s *Server) AddActor(nodeID, className, name string) string {
	var id string
	s.mutate(func() { id = s.addActorLocked(nodeID, className, name).id })
	return id
}

// Restart models a restarted cluster: a new session name (generated when
// newSession is ""), a new cluster id, new node ids (same count, ALIVE,
// same IPs) and new actors (same count).
func (s *Server) Restart(newSession string) {
	s.mutate(func() {
		if newSession == "" {
			newSession = fmt.Sprintf("session_2026-11-25_21-%02d-%02d_%06d_%d", s.rng.IntN(60), s.rng.IntN(60), s.rng.IntN(1000000), 10000+s.rng.IntN(50000))
		}
		n, a := len(s.nodes), len(s.actors)
		if n < 1 {
			n = 1
		}
		s.populate(newSession, n, a)
	})
}

// Fail makes every request (any path, before auth) answer status until
// Fail(0).
func (s *Server) Fail(status int) { s.fail.Store(int64(status)) }

// Delay adds d before every answer (0 removes it).
func (s *Server) Delay(d time.Duration) { s.delay.Store(int64(d)) }

// Requests returns how many requests each path (URL.Path, no query) got,
// failed and unauthorized ones included.
func (s *Server) Requests() map[string]int {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	out := make(map[string]int, len(s.reqs))
	for k, v := range s.reqs {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the counters.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.reqs = map[string]int{}
}
