package verify

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/castray/castray/sdk"
	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
)

const (
	testToken  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	wrongToken = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	clusterA   = "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3"
	clusterB   = "82184c8a1710787e984406e7a0632de0587aec7b8591224e3edb10f1"
	sessionA   = "session_2026-11-25_20-22-06_905902_14150"
	sessionB   = "session_2026-11-25_21-29-08_322878_21016"
	headNodeID = "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89"
	deadNodeID = "dead13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89"
)

// fakeDashboard serves the few endpoints the plugin reads, with Ray 2.60's
// token rules: in token mode everything but /api/authentication_mode needs
// the token (401 without, 403 wrong), before routing. mode "old" is a Ray
// before 2.52 (no /api/authentication_mode, no auth); "html" is a web
// server that is not Ray; "broken" answers /api/version with 500.
type fakeDashboard struct {
	mode      string
	token     string
	session   string
	clusterID string
	// gate, when set, runs at the start of every /api/authentication_mode
	// request (a barrier for the tests of concurrency and cancellation).
	gate func(r *http.Request)
	srv  *httptest.Server

	mu   sync.Mutex
	seen []seenReq
}

type seenReq struct{ path, auth string }

func newFakeDashboard(t *testing.T, mode, token string) *fakeDashboard {
	t.Helper()
	f := &fakeDashboard{mode: mode, token: token, session: sessionA, clusterID: clusterA}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDashboard) url() string { return f.srv.URL }

func (f *fakeDashboard) requests() []seenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenReq(nil), f.seen...)
}

func (f *fakeDashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, seenReq{path: r.URL.Path, auth: r.Header.Get("Authorization")})
	f.mu.Unlock()
	if f.mode == "html" {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>hello</body></html>"))
		return
	}
	if r.URL.Path == "/api/authentication_mode" {
		if f.gate != nil {
			f.gate(r)
		}
		mode := "disabled"
		switch f.mode {
		case "old":
			http.NotFound(w, r)
			return
		case "token":
			mode = "token"
		}
		_, _ = fmt.Fprintf(w, `{"authentication_mode": %q}`, mode)
		return
	}
	if f.mode == "token" {
		switch got := r.Header.Get("Authorization"); {
		case got == "":
			w.WriteHeader(401)
			_, _ = w.Write([]byte("Unauthorized: Missing authentication token"))
			return
		case got != "Bearer "+f.token:
			w.WriteHeader(403)
			_, _ = w.Write([]byte("Forbidden: Invalid authentication token"))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/version":
		if f.mode == "broken" {
			w.WriteHeader(500)
			_, _ = w.Write([]byte("500 Internal Server Error"))
			return
		}
		_, _ = fmt.Fprintf(w, `{"version": "4", "ray_version": "2.60.0", "ray_commit": "abc", "session_name": %q}`, f.session)
	case "/cluster_id":
		_, _ = fmt.Fprintf(w, `{"result": true, "msg": "", "data": {"clusterId": %q}}`, f.clusterID)
	case "/api/v0/nodes":
		rows := []map[string]any{
			{"node_id": headNodeID, "node_ip": "192.0.2.2", "is_head_node": true, "state": "ALIVE", "node_name": "192.0.2.2",
				"resources_total": map[string]float64{"CPU": 2, "memory": 1e9}, "labels": map[string]string{}},
			{"node_id": deadNodeID, "node_ip": "192.0.2.3", "is_head_node": false, "state": "DEAD", "node_name": "192.0.2.3",
				"resources_total": map[string]float64{"CPU": 8}, "labels": map[string]string{}},
		}
		body, _ := json.Marshal(map[string]any{"result": true, "msg": "", "data": map[string]any{"result": map[string]any{
			"total": 2, "num_after_truncation": 2, "num_filtered": 2, "result": rows}}})
		_, _ = w.Write(body)
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte("404: Not Found"))
	}
}

// fakeGCS implements the GCS services the plugin calls like Ray 2.60: in
// token mode every call needs the token (UNAUTHENTICATED without or with a
// wrong one).
type fakeGCS struct {
	raypb.UnimplementedNodeInfoGcsServiceServer
	raypb.UnimplementedInternalKVGcsServiceServer
	token     string
	clusterID string
	session   string
	dashboard string // KV dashboard/dashboard; "" none
	addr      string

	mu    sync.Mutex
	auths []string // the authorization metadata of every call
}

func newFakeGCS(t *testing.T, token string) *fakeGCS {
	t.Helper()
	g := &fakeGCS{token: token, clusterID: clusterA, session: sessionA, dashboard: "127.0.0.1:8265"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(g.auth))
	raypb.RegisterNodeInfoGcsServiceServer(s, g)
	raypb.RegisterInternalKVGcsServiceServer(s, g)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	g.addr = ln.Addr().String()
	return g
}

func (g *fakeGCS) sentAuth() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.auths...)
}

func (g *fakeGCS) auth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a := strings.Join(md.Get("authorization"), ",")
	g.mu.Lock()
	g.auths = append(g.auths, a)
	g.mu.Unlock()
	if g.token != "" && a != "Bearer "+g.token {
		return nil, status.Error(codes.Unauthenticated, "InvalidAuthToken: Authentication token is missing or incorrect")
	}
	return h(ctx, req)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *fakeGCS) CheckAlive(context.Context, *raypb.CheckAliveRequest) (*raypb.CheckAliveReply, error) {
	return &raypb.CheckAliveReply{Status: &raypb.GcsStatus{}, RayVersion: "2.60.0", IsLeader: true}, nil
}

func (g *fakeGCS) GetClusterId(context.Context, *raypb.GetClusterIdRequest) (*raypb.GetClusterIdReply, error) {
	return &raypb.GetClusterIdReply{Status: &raypb.GcsStatus{}, ClusterId: mustHex(g.clusterID)}, nil
}

func (g *fakeGCS) GetAllNodeInfo(context.Context, *raypb.GetAllNodeInfoRequest) (*raypb.GetAllNodeInfoReply, error) {
	nodes := []*raypb.GcsNodeInfo{
		{NodeId: mustHex(headNodeID), NodeManagerAddress: "192.0.2.2", IsHeadNode: true,
			ResourcesTotal: map[string]float64{"CPU": 2, "memory": 1e9}, SessionDir: "/tmp/ray/" + g.session},
		{NodeId: mustHex(deadNodeID), NodeManagerAddress: "192.0.2.3", State: raypb.GcsNodeInfo_DEAD,
			ResourcesTotal: map[string]float64{"CPU": 8}},
	}
	return &raypb.GetAllNodeInfoReply{Status: &raypb.GcsStatus{}, NodeInfoList: nodes, Total: 2}, nil
}

func (g *fakeGCS) InternalKVGet(_ context.Context, r *raypb.InternalKVGetRequest) (*raypb.InternalKVGetReply, error) {
	var v string
	switch string(r.GetNamespace()) + "/" + string(r.GetKey()) {
	case "session/session_name":
		v = g.session
	case "dashboard/dashboard":
		v = g.dashboard
	}
	if v == "" {
		return &raypb.InternalKVGetReply{Status: &raypb.GcsStatus{Code: 17, Message: "Failed to find the key"}}, nil
	}
	return &raypb.InternalKVGetReply{Status: &raypb.GcsStatus{}, Value: []byte(v)}, nil
}

// closedAddr is a loopback host:port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// recorder is a DiscoverSink.
type recorder struct {
	mu    sync.Mutex
	cands []*sdk.ClusterCandidate
	notes []*sdk.DiscoverNote
}

func (r *recorder) Candidate(c *sdk.ClusterCandidate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cands = append(r.cands, c)
	return nil
}

func (r *recorder) Note(n *sdk.DiscoverNote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, n)
	return nil
}

func (r *recorder) notesText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, n := range r.notes {
		fmt.Fprintf(&b, "%s %s: %s\n", n.GetLevel(), n.GetTarget(), n.GetMessage())
	}
	return b.String()
}

// newTestDiscoverer returns a Discoverer with a fixed clock, the token
// environment env (no home file) and cfg applied.
func newTestDiscoverer(t *testing.T, env map[string]string, cfg string) *Discoverer {
	t.Helper()
	d := New(nil)
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d.now = func() time.Time { return fixed }
	home := t.TempDir()
	d.env = tokenEnv{getenv: func(k string) string { return env[k] }, homeDir: func() (string, error) { return home, nil }}
	if errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg), ApiVersion: sdk.APIVersion}); err != nil || errs != nil {
		t.Fatalf("Configure(%s): %v %s", cfg, err, sdk.ConfigErrorsString(errs))
	}
	return d
}

func discover(t *testing.T, d sdk.Discoverer, req *sdk.DiscoverRequest) (*recorder, *sdk.DiscoverSummary) {
	t.Helper()
	if req == nil {
		req = &sdk.DiscoverRequest{}
	}
	rec := &recorder{}
	sum, err := d.Discover(context.Background(), req, rec)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return rec, sum
}

func onlyCandidate(t *testing.T, rec *recorder) *sdk.ClusterCandidate {
	t.Helper()
	if len(rec.cands) != 1 {
		t.Fatalf("%d candidates, want 1: %v\nnotes:\n%s", len(rec.cands), rec.cands, rec.notesText())
	}
	return rec.cands[0]
}

// noLeak fails if a token shows up in anything the plugin reported.
func noLeak(t *testing.T, rec *recorder, toks ...string) {
	t.Helper()
	all := fmt.Sprint(rec.cands) + rec.notesText()
	for _, tok := range toks {
		if strings.Contains(all, tok) {
			t.Fatalf("a token leaked into candidates or notes")
		}
	}
}

// gate is a barrier for fakeDashboard.gate: every request announces itself
// on arrived and waits for one release (or its own cancellation).
type gate struct {
	arrived  chan struct{}
	release  chan struct{}
	inflight atomic.Int32
	max      atomic.Int32
}

func newGate() *gate { return &gate{arrived: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) hold(r *http.Request) {
	n := g.inflight.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	defer g.inflight.Add(-1)
	select {
	case g.arrived <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	select {
	case <-g.release:
	case <-r.Context().Done():
	}
}

// hang is a fakeDashboard.gate that never lets a request through: it ends
// when the client gives up.
func hang(r *http.Request) { <-r.Context().Done() }
