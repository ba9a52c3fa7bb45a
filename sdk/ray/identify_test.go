package ray

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func probe(t *testing.T, addr string, opts ProbeOptions) *Finding {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	h, p := splitAddr(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	f, err := Probe(ctx, h, p, opts)
	if err != nil {
		t.Fatalf("Probe %s: %v", addr, err)
	}
	if strings.Contains(strings.Join(f.Evidence, "\n")+f.NotRay, testToken) {
		t.Fatal("token in evidence")
	}
	return f
}

func TestProbeGCSDetails(t *testing.T) {
	_, open := startFakeGCS(t, "")
	_, tok := startFakeGCS(t, testToken)
	check := func(what string, f *Finding) {
		t.Helper()
		g := f.GCS
		if f.Kind != KindGCS || g == nil || g.RayVersion != "2.60.0" || !g.IsLeader || g.ClusterID != hex.EncodeToString(headID) ||
			!g.NodesKnown || len(g.AliveNodes) != 1 || g.AliveNodes[0].GetSessionDir() == "" || len(g.Problems) != 0 || g.AuthRequired {
			t.Errorf("%s: %+v %+v", what, f, g)
		}
	}
	check("auth off", probe(t, open, ProbeOptions{Details: true}))
	f := probe(t, tok, ProbeOptions{Details: true, Token: testToken})
	check("token", f)
	if !f.GCS.TokenMode {
		t.Errorf("token mode not reported: %+v", f.GCS)
	}

	// Without details, no detail call is made.
	if f := probe(t, open, ProbeOptions{}); f.GCS.ClusterID != "" || f.GCS.NodesKnown {
		t.Errorf("details without Details: %+v", f.GCS)
	}
	// Without a (valid) token: recognised, nothing read.
	for _, tc := range []struct {
		token    string
		rejected bool
	}{{"", false}, {"wrong", true}} {
		f := probe(t, tok, ProbeOptions{Details: true, Token: tc.token})
		if g := f.GCS; f.Kind != KindGCS || !g.TokenMode || !g.AuthRequired || g.TokenRejected != tc.rejected || g.RayVersion != "" || g.NodesKnown || g.ClusterID != "" {
			t.Errorf("token %q: %+v", tc.token, g)
		}
	}
}

// A GCS that answers CheckAlive but fails the detail calls is still a GCS,
// with problems.
func TestProbeGCSProblems(t *testing.T) {
	g, addr := startFakeGCS(t, "")
	g.clusterID = nil
	f := probe(t, addr, ProbeOptions{Details: true})
	if f.Kind != KindGCS || len(f.GCS.Problems) != 1 || !strings.Contains(f.GCS.Problems[0], "empty cluster id") || !f.GCS.NodesKnown {
		t.Errorf("%+v", f.GCS)
	}
}

// authRecorder is a gRPC interceptor that records credentials.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (a *authRecorder) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		a.mu.Lock()
		a.seen = append(a.seen, v[0])
		a.mu.Unlock()
	}
}

func (a *authRecorder) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func startGRPC(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestProbeNonRayGRPC: a gRPC server without Ray's methods, and one that
// refuses every method without credentials, are not Ray, and never get
// the token.
func TestProbeNonRayGRPC(t *testing.T) {
	var rec authRecorder
	unary := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		rec.record(ctx)
		return h(ctx, req)
	})
	plain := grpc.NewServer(unary)
	healthpb.RegisterHealthServer(plain, health.NewServer())
	f := probe(t, startGRPC(t, plain), ProbeOptions{Token: testToken})
	if f.Kind != "" || !strings.Contains(f.NotRay, "without Ray's methods") {
		t.Errorf("plain gRPC: %+v", f)
	}

	deny := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
		rec.record(s.Context())
		return status.Error(codes.Unauthenticated, "no")
	}))
	f = probe(t, startGRPC(t, deny), ProbeOptions{Token: testToken})
	if f.Kind != "" || !strings.Contains(f.NotRay, "cannot tell") {
		t.Errorf("refuse-all gRPC: %+v", f)
	}
	if seen := rec.all(); len(seen) > 0 {
		t.Errorf("non-Ray servers received credentials: %v", seen)
	}
}

func TestProbeDashboardAndAgent(t *testing.T) {
	fd, dash := newFakeDashboard(t, testToken)
	for _, tc := range []struct {
		token         string
		version       bool
		authRequired  bool
		tokenRejected bool
		expect        Kind // KindDashboard: HTTP first, no gRPC asked
	}{
		{testToken, true, false, false, KindDashboard},
		{"", false, true, false, ""},
		{"wrong", false, true, true, KindDashboard},
	} {
		f := probe(t, dash.URL, ProbeOptions{Token: tc.token, Expect: tc.expect})
		d := f.Dashboard
		if f.Kind != KindDashboard || d == nil || d.URL != dash.URL || d.AuthMode != "token" || !d.TokenMode || (d.Version != nil) != tc.version ||
			d.AuthRequired != tc.authRequired || d.TokenRejected != tc.tokenRejected {
			t.Errorf("token %q: %+v %+v", tc.token, f, d)
		}
		if tc.version && (d.Version.RayVersion != "2.60.0" || d.Version.SessionName == "") {
			t.Errorf("version: %+v", d.Version)
		}
		if grpcAsked := strings.Contains(strings.Join(f.Evidence, "\n"), "gRPC"); grpcAsked != (tc.expect == "") {
			t.Errorf("Expect %q: gRPC asked = %v: %q", tc.expect, grpcAsked, f.Evidence)
		}
	}
	// Only the dashboard's API was asked ("*" is gRPC's HTTP/2 preface,
	// sent when gRPC is tried first).
	fd.mu.Lock()
	seen := append([]string(nil), fd.seen...)
	fd.mu.Unlock()
	for _, s := range seen {
		if !strings.HasPrefix(s, "/api/") && s != "*" {
			t.Errorf("unexpected request %q", s)
		}
	}

	var mu sync.Mutex
	var agentAuth, agentPaths []string
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agentPaths = append(agentPaths, r.URL.Path)
		if a := r.Header.Get("Authorization"); a != "" {
			agentAuth = append(agentAuth, a)
		}
		mu.Unlock()
		if r.URL.Path == "/api/local_raylet_healthz" {
			_, _ = w.Write([]byte("success"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(agent.Close)
	if f := probe(t, agent.URL, ProbeOptions{Token: testToken, Expect: KindDashboardAgent}); f.Kind != KindDashboardAgent || f.Dashboard != nil {
		t.Errorf("agent: %+v", f)
	}
	mu.Lock()
	if len(agentPaths) != 1 || agentPaths[0] != "/api/local_raylet_healthz" {
		t.Errorf("agent first: asked %v", agentPaths)
	}
	agentPaths = nil
	mu.Unlock()
	if f := probe(t, agent.URL, ProbeOptions{Token: testToken}); f.Kind != KindDashboardAgent {
		t.Errorf("agent, gRPC first: %+v", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agentAuth) > 0 {
		t.Errorf("agent received credentials: %v", agentAuth)
	}
	if agentPaths[len(agentPaths)-1] != "/api/local_raylet_healthz" {
		t.Errorf("agent last: asked %v", agentPaths)
	}
}

func TestProbeSilentAndPlainHTTP(t *testing.T) {
	// The silent listener is given up on after the probe timeout; not a
	// bound on the time.
	f := probe(t, silentListener(t), ProbeOptions{Timeout: 300 * time.Millisecond, Expect: KindDashboard})
	if f.Kind != "" || !f.Silent || !strings.Contains(f.NotRay, "sent nothing") {
		t.Errorf("silent: %+v", f)
	}
	f = probe(t, httptestServer(t), ProbeOptions{Token: testToken})
	if f.Kind != "" || f.Silent || !strings.Contains(f.NotRay, "HTTP server without Ray's") {
		t.Errorf("plain HTTP: %+v", f)
	}
}

func TestProbeArguments(t *testing.T) {
	if _, err := Probe(context.Background(), "127.0.0.1", 0, ProbeOptions{}); err == nil {
		t.Error("port 0 accepted")
	}
	if !IsHealthy(200, []byte("success\n")) || IsHealthy(503, []byte("success")) || IsHealthy(200, []byte("successful")) {
		t.Error("IsHealthy")
	}
}

// Compile-time check that the fakes implement the generated services.
var _ raypb.NodeInfoGcsServiceServer = (*fakeGCS)(nil)
