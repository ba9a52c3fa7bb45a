package ray

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeDashboard replays the captures with Ray 2.60's token rules: in token
// mode everything but / , /api/authentication_mode and /api/gcs_healthz
// needs the token (401 without, 403 wrong), before routing.
type fakeDashboard struct {
	t     testing.TB
	token string // "" = auth disabled
	mu    sync.Mutex
	// routes maps path?query (or path) to a body; missing → 404.
	routes map[string][]byte
	// seen records request URIs and User-Agents.
	seen []string
	uas  []string
}

func newFakeDashboard(t testing.TB, token string) (*fakeDashboard, *httptest.Server) {
	f := &fakeDashboard{t: t, token: token, routes: map[string][]byte{
		"/api/version":        capture(t, "api_version.json"),
		"/cluster_id":         capture(t, "cluster_id.body"),
		"/api/v0/nodes":       capture(t, "api_v0_nodes_detail.json"),
		"/nodes?view=summary": capture(t, "nodes_view_summary.json"),
		"/api/v0/actors":      capture(t, "api_v0_actors_detail_alive.json"),
		"/api/gcs_healthz":    []byte("success"),
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeDashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.URL.RequestURI())
	f.uas = append(f.uas, r.UserAgent())
	f.mu.Unlock()
	mode := "disabled"
	if f.token != "" {
		mode = "token"
	}
	switch r.URL.Path {
	case "/api/authentication_mode":
		_, _ = w.Write([]byte(`{"authentication_mode": "` + mode + `"}`))
		return
	case "/api/gcs_healthz":
		_, _ = w.Write([]byte("success"))
		return
	}
	if f.token != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case r.Header.Get("Authorization") == "":
			w.WriteHeader(401)
			_, _ = w.Write([]byte("Unauthorized: Missing authentication token"))
			return
		case got != f.token:
			w.WriteHeader(403)
			_, _ = w.Write([]byte("Forbidden: Invalid authentication token"))
			return
		}
	}
	f.mu.Lock()
	body, ok := f.routes[r.URL.Path+"?"+r.URL.RawQuery]
	if !ok {
		body, ok = f.routes[r.URL.Path]
	}
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(404)
		_, _ = w.Write([]byte("404: Not Found"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (f *fakeDashboard) set(path string, body []byte) {
	f.mu.Lock()
	f.routes[path] = body
	f.mu.Unlock()
}

// fakeGCS implements the generated services like Ray 2.60: token checked
// for known methods only (UNAUTHENTICATED), unknown ones UNIMPLEMENTED.
type fakeGCS struct {
	raypb.UnimplementedNodeInfoGcsServiceServer
	raypb.UnimplementedActorInfoGcsServiceServer
	raypb.UnimplementedInternalKVGcsServiceServer
	token     string
	nodes     []*raypb.GcsNodeInfo
	actors    []*raypb.ActorTableData
	kv        map[string]string // "ns/key" → value
	clusterID []byte
	sawCID    bool // a ray_cluster_id header was sent
	mu        sync.Mutex
}

func (g *fakeGCS) CheckAlive(context.Context, *raypb.CheckAliveRequest) (*raypb.CheckAliveReply, error) {
	return &raypb.CheckAliveReply{Status: &raypb.GcsStatus{}, RayVersion: "2.60.0", IsLeader: true}, nil
}

func (g *fakeGCS) GetClusterId(context.Context, *raypb.GetClusterIdRequest) (*raypb.GetClusterIdReply, error) {
	return &raypb.GetClusterIdReply{Status: &raypb.GcsStatus{}, ClusterId: g.clusterID}, nil
}

func (g *fakeGCS) GetAllNodeInfo(_ context.Context, r *raypb.GetAllNodeInfoRequest) (*raypb.GetAllNodeInfoReply, error) {
	var out []*raypb.GcsNodeInfo
	for _, n := range g.nodes {
		if r.StateFilter == nil || n.GetState() == r.GetStateFilter() {
			out = append(out, n)
		}
	}
	return &raypb.GetAllNodeInfoReply{Status: &raypb.GcsStatus{}, NodeInfoList: out, Total: int64(len(g.nodes)), NumFiltered: int64(len(g.nodes) - len(out))}, nil
}

func (g *fakeGCS) GetAllActorInfo(_ context.Context, r *raypb.GetAllActorInfoRequest) (*raypb.GetAllActorInfoReply, error) {
	var out []*raypb.ActorTableData
	for _, a := range g.actors {
		if f := r.GetFilters(); f != nil && f.State != nil && a.GetState() != f.GetState() {
			continue
		}
		out = append(out, a)
	}
	return &raypb.GetAllActorInfoReply{Status: &raypb.GcsStatus{}, ActorTableData: out, Total: int64(len(g.actors))}, nil
}

func (g *fakeGCS) InternalKVGet(_ context.Context, r *raypb.InternalKVGetRequest) (*raypb.InternalKVGetReply, error) {
	v, ok := g.kv[string(r.GetNamespace())+"/"+string(r.GetKey())]
	if !ok {
		return &raypb.InternalKVGetReply{Status: &raypb.GcsStatus{Code: 17, Message: "Failed to find the key"}}, nil
	}
	return &raypb.InternalKVGetReply{Status: &raypb.GcsStatus{}, Value: []byte(v)}, nil
}

func (g *fakeGCS) auth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("ray_cluster_id")) > 0 {
		g.mu.Lock()
		g.sawCID = true
		g.mu.Unlock()
	}
	if g.token != "" {
		if a := md.Get("authorization"); len(a) != 1 || a[0] != "Bearer "+g.token {
			return nil, status.Error(codes.Unauthenticated, "InvalidAuthToken: Authentication token is missing or incorrect")
		}
	}
	return h(ctx, req)
}

var (
	headID  = []byte{0x82, 0x18, 0x4c, 0x8a, 0x17, 0x10, 0x78, 0x7e, 0x98, 0x44, 0x06, 0xe7, 0xa0, 0x63, 0x2d, 0xe0, 0x58, 0x7a, 0xec, 0x7b, 0x85, 0x91, 0x22, 0x4e, 0x3e, 0xdb, 0x10, 0xf1}
	deadID  = append([]byte{0xde, 0xad}, headID[2:]...)
	actorID = []byte{0xa7, 0xac, 0xbf, 0xa1, 0x6d, 0xe1, 0x2a, 0x4e, 0xd5, 0xa0, 0x6b, 0x90, 0x01, 0x00, 0x00, 0x00}
)

func startFakeGCS(t testing.TB, token string) (*fakeGCS, string) {
	g := &fakeGCS{
		token:     token,
		clusterID: headID,
		kv: map[string]string{
			"dashboard/dashboard":  "127.0.0.1:8265",
			"session/session_name": "session_2026-11-25_21-29-08_322878_21016",
		},
		nodes: []*raypb.GcsNodeInfo{
			{NodeId: headID, NodeManagerAddress: "192.0.2.2", NodeManagerHostname: "vm", NodeManagerPort: 35733, NodeName: "192.0.2.2",
				ResourcesTotal: map[string]float64{"CPU": 2, "memory": 1.7e10}, IsHeadNode: true, StartTimeMs: 1795642151755,
				Labels: map[string]string{"ray.io/node-id": "82184c8a"}, SessionDir: "/tmp/x/session_2026-11-25_21-29-08_322878_21016"},
			{NodeId: deadID, NodeManagerAddress: "192.0.2.3", State: raypb.GcsNodeInfo_DEAD, EndTimeMs: 5,
				DeathInfo: &raypb.NodeDeathInfo{Reason: raypb.NodeDeathInfo_EXPECTED_TERMINATION, ReasonMessage: "received SIGTERM"}},
		},
		actors: []*raypb.ActorTableData{
			{ActorId: actorID, JobId: []byte{1, 0, 0, 0}, State: raypb.ActorTableData_ALIVE, Name: "castray-probe", ClassName: "CastrayProbe",
				RayNamespace: "castray", Pid: 21503, NodeId: headID, Address: &raypb.Address{NodeId: headID, IpAddress: "192.0.2.2", Port: 10021},
				RequiredResources: map[string]float64{"CPU": 1}},
			{ActorId: append([]byte{0xff}, actorID[1:]...), State: raypb.ActorTableData_DEAD, ClassName: "Gone"},
		},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(g.auth))
	raypb.RegisterNodeInfoGcsServiceServer(s, g)
	raypb.RegisterActorInfoGcsServiceServer(s, g)
	raypb.RegisterInternalKVGcsServiceServer(s, g)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return g, lis.Addr().String()
}

// fakeClientServer answers RayletDriver/ClusterInfo(PING) like Ray's proxy.
type fakeClientServer struct {
	raypb.UnimplementedRayletDriverServer
	token string
}

func (c *fakeClientServer) ClusterInfo(ctx context.Context, r *raypb.ClusterInfoRequest) (*raypb.ClusterInfoResponse, error) {
	if c.token != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if a := md.Get("authorization"); len(a) != 1 || a[0] != "Bearer "+c.token {
			return nil, status.Error(codes.Unauthenticated, "Invalid or missing authentication token")
		}
	}
	return &raypb.ClusterInfoResponse{Type: r.GetType(), Json: "{}"}, nil
}

func startFakeClientServer(t testing.TB, token string) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	raypb.RegisterRayletDriverServer(s, &fakeClientServer{token: token})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}
