package scan_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/castray/castray/sdk/plugintest"
	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
)

// Fakes of Ray's servers for the tests. They replay, byte for byte, the
// replies captured from a real Ray 2.60.0 head (the HTTP bodies in
// testdata/live-2.60.0, the gRPC replies in sdk/ray's
// testdata/gcs-live-2.60.0; see their READMEs) and answer status-only cases
// with the codes and messages the real servers gave.

func live(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grpcCapture reads a captured gRPC reply from sdk/ray's testdata.
func grpcCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "sdk", "ray", "testdata", "gcs-live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Values inside the captured replies.
const (
	liveClusterID   = "952fd970cf8e28e90d67bbfe6561c52abbd57cd36dc800ce9d030996"
	liveSessionName = "session_2026-11-25_20-13-21_979646_24237"
	liveSessionDir  = "/tmp/crt-68011693/" + liveSessionName
)

type bytesCodec struct{}

func (bytesCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (bytesCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (bytesCodec) Name() string { return "proto" }

// authLog records the authorization credentials a fake server received.
type authLog struct {
	mu   sync.Mutex
	seen []string
}

func (a *authLog) add(v string) {
	if v == "" {
		return
	}
	a.mu.Lock()
	a.seen = append(a.seen, v)
	a.mu.Unlock()
}

func (a *authLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

type fakeGRPC struct {
	port int
	auth authLog
}

// startFakeRay serves the given Ray methods (method → reply) the way Ray's
// servers do: unknown methods UNIMPLEMENTED, known ones UNAUTHENTICATED
// without the right token when token is set.
func startFakeRay(t *testing.T, token, unauthMsg string, methods map[string]func(req []byte) ([]byte, error)) *fakeGRPC {
	t.Helper()
	f := &fakeGRPC{}
	handler := func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		var got string
		if v := md.Get("authorization"); len(v) > 0 {
			got = v[0]
		}
		f.auth.add(got)
		h, ok := methods[method]
		if !ok {
			return status.Error(codes.Unimplemented, "")
		}
		if token != "" && got != "Bearer "+token {
			return status.Error(codes.Unauthenticated, unauthMsg)
		}
		var req []byte
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		resp, err := h(req)
		if err != nil {
			return err
		}
		return stream.SendMsg(&resp)
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(bytesCodec{}), grpc.UnknownServiceHandler(handler))
	f.port = serveGRPC(t, srv)
	return f
}

func serveGRPC(t *testing.T, srv *grpc.Server) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

func replay(b []byte) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) { return b, nil }
}

// startFakeGCS replays the captured GCS replies; GetAllNodeInfo's head node
// gets agentPort as its dashboard agent port (0: as captured).
func startFakeGCS(t *testing.T, token string, agentPort int) *fakeGRPC {
	nodes := grpcCapture(t, "get_all_node_info_reply.pb")
	if agentPort > 0 {
		nodes = patchAgentPort(t, nodes, agentPort)
	}
	return startFakeRay(t, token, "InvalidAuthToken: Authentication token is missing or incorrect", map[string]func([]byte) ([]byte, error){
		"/ray.rpc.NodeInfoGcsService/CheckAlive":     replay(grpcCapture(t, "check_alive_reply.pb")),
		"/ray.rpc.NodeInfoGcsService/GetClusterId":   replay(grpcCapture(t, "get_cluster_id_reply.pb")),
		"/ray.rpc.NodeInfoGcsService/GetAllNodeInfo": replay(nodes),
	})
}

func startFakeClientServer(t *testing.T, token string) *fakeGRPC {
	ping := grpcCapture(t, "client_cluster_info_ping_reply.pb")
	return startFakeRay(t, token, "Invalid or missing authentication token", map[string]func([]byte) ([]byte, error){
		"/ray.rpc.RayletDriver/ClusterInfo": func(req []byte) ([]byte, error) {
			if string(req) != "\x08\x06" { // only PING is answered without a specific server
				return nil, status.Error(codes.NotFound, "Failed to serialize response!")
			}
			return ping, nil
		},
	})
}

// patchAgentPort sets dashboard_agent_listen_port of every node in a
// GetAllNodeInfoReply (the fields it does not declare survive as unknown
// fields).
func patchAgentPort(t *testing.T, reply []byte, port int) []byte {
	t.Helper()
	var r raypb.GetAllNodeInfoReply
	if err := proto.Unmarshal(reply, &r); err != nil {
		t.Fatal(err)
	}
	for _, n := range r.GetNodeInfoList() {
		n.DashboardAgentListenPort = int32(port)
	}
	b, err := proto.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startNonRayGRPC is an ordinary gRPC server (only the health service).
func startNonRayGRPC(t *testing.T, opts ...grpc.ServerOption) *fakeGRPC {
	f := &fakeGRPC{}
	opts = append(opts, grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("authorization"); len(v) > 0 {
			f.auth.add(v[0])
		}
		return h(ctx, req)
	}))
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	f.port = serveGRPC(t, srv)
	return f
}

// fakeHTTP is an httptest server that records Authorization headers.
type fakeHTTP struct {
	srv  *httptest.Server
	port int
	auth authLog
}

func startHTTP(t *testing.T, h http.HandlerFunc) *fakeHTTP {
	t.Helper()
	f := &fakeHTTP{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.auth.add(r.Header.Get("Authorization"))
		if ua := r.Header.Get("User-Agent"); len(ua) >= 7 && ua[:7] == "Mozilla" {
			http.Error(w, "browser", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	_, p, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	f.port, _ = strconv.Atoi(p)
	return f
}

// startFakeDashboard answers like Ray 2.60's dashboard in token mode (token
// != "") or with auth disabled.
func startFakeDashboard(t *testing.T, token string) *fakeHTTP {
	version := live(t, "dashboard_api_version.json")
	return startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/authentication_mode":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			if token != "" {
				_, _ = w.Write(live(t, "dashboard_api_authentication_mode_token.json"))
			} else {
				_, _ = w.Write([]byte(`{"authentication_mode": "disabled"}`))
			}
		case "/api/gcs_healthz":
			_, _ = w.Write(live(t, "dashboard_api_gcs_healthz.txt"))
		case "/api/version":
			got := r.Header.Get("Authorization")
			switch {
			case token != "" && got == "":
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write(live(t, "dashboard_api_version_401.txt"))
			case token != "" && got != "Bearer "+token:
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write(live(t, "dashboard_api_version_403.txt"))
			default:
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				_, _ = w.Write(version)
			}
		default:
			http.NotFound(w, r)
		}
	})
}

func startFakeAgent(t *testing.T) *fakeHTTP {
	return startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/local_raylet_healthz" {
			_, _ = w.Write(live(t, "agent_local_raylet_healthz.txt"))
			return
		}
		http.NotFound(w, r)
	})
}

// silentListener accepts connections and never writes; it reports how many
// accepted connections are still open.
type silentListener struct {
	port int
	mu   sync.Mutex
	open int
	all  int
}

func startSilent(t *testing.T) *silentListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentListener{port: ln.Addr().(*net.TCPAddr).Port}
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			s.mu.Lock()
			s.open++
			s.all++
			s.mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				s.mu.Lock()
				s.open--
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

// reset forgets the connections already closed.
func (s *silentListener) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = s.open
}

func (s *silentListener) counts() (open, all int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.all
}

// closedPorts returns n ports on 127.0.0.1 that refuse connections.
func closedPorts(t *testing.T, n int) []uint32 {
	t.Helper()
	var lns []net.Listener
	var out []uint32
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, uint32(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// collector is a DiscoverSink that keeps everything.
type collector struct{ plugintest.Sink }
