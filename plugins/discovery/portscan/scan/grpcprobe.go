package scan

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gRPC method names of Ray 2.60 used by the probes.
const (
	methodCheckAlive     = "/ray.rpc.NodeInfoGcsService/CheckAlive"
	methodGetClusterID   = "/ray.rpc.NodeInfoGcsService/GetClusterId"
	methodGetAllNodeInfo = "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo"
	methodClusterInfo    = "/ray.rpc.RayletDriver/ClusterInfo"
	// methodBogus exists on no server. A server that answers a Ray method
	// with UNAUTHENTICATED but this one with UNIMPLEMENTED knows the Ray
	// method: that is how Ray's servers behave in token mode (both the C++
	// GCS and the Python client server check the method before the token).
	methodBogus = "/castray.portscan.v1.NoSuchService/NoSuchMethod"
)

// maxReplyBytes bounds one gRPC reply (GetAllNodeInfo of a large cluster is
// about 0.5 KiB per node).
const maxReplyBytes = 64 << 20

// rawCodec passes []byte through, so the probes send and read protobuf bytes
// encoded by hand (rayproto.go). Its name is "proto" so the content type is
// the usual application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// countingConn records whether the peer ever sent a byte, which tells a
// silent listener from a server speaking another protocol.
type countingConn struct {
	net.Conn
	heard *atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.heard.Store(true)
	}
	return n, err
}

// gcsFinding is what a GCS told us.
type gcsFinding struct {
	Addr          string
	RayVersion    string
	IsLeader      bool
	ClusterID     string
	TokenMode     bool // the GCS refused a call without a token
	AuthRequired  bool // token auth is on and we had no token, or ours was rejected
	TokenRejected bool
	NodesKnown    bool
	AliveNodes    []nodeInfo
	Evidence      []string
	Problems      []string // partial failures, reported as notes
}

// clientFinding is a Ray client server.
type clientFinding struct {
	Addr          string
	AuthRequired  bool
	TokenRejected bool
	Evidence      []string
}

// rpcResult is the outcome of one unary call.
type rpcResult struct {
	Code  codes.Code
	Msg   string
	Reply []byte
}

// grpcProber talks gRPC to one address over one connection.
type grpcProber struct {
	addr    string
	timeout time.Duration
	token   string
	conn    *grpc.ClientConn
}

func newGRPCProber(addr string, timeout time.Duration, token string, heard *atomic.Bool) (*grpcProber, error) {
	dial := func(ctx context.Context, a string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, heard: heard}, nil
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithUserAgent(userAgent),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: timeout, Multiplier: 1, MaxDelay: timeout},
			MinConnectTimeout: timeout,
		}),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(maxReplyBytes)),
	)
	if err != nil {
		return nil, err
	}
	return &grpcProber{addr: addr, timeout: timeout, token: token, conn: conn}, nil
}

func (g *grpcProber) Close() { _ = g.conn.Close() }

// call makes one unary call with the probe timeout; withToken adds
// `authorization: Bearer <token>`. No ray_cluster_id header is sent: Ray
// 2.60 accepts calls without it (and rejects GetClusterId with it).
func (g *grpcProber) call(ctx context.Context, method string, req []byte, withToken bool) rpcResult {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if withToken && g.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.token)
	}
	var reply []byte
	err := g.conn.Invoke(ctx, method, &req, &reply)
	if err == nil {
		return rpcResult{Code: codes.OK, Reply: reply}
	}
	st := status.Convert(err)
	return rpcResult{Code: st.Code(), Msg: st.Message()}
}

// isTransport reports a call that got no gRPC answer at all (not gRPC, or
// nothing answered in time).
func (r rpcResult) isTransport() bool {
	return r.Code == codes.Unavailable || r.Code == codes.DeadlineExceeded || r.Code == codes.Canceled
}

// grpcVerdict is what the gRPC probes made of a port.
type grpcVerdict struct {
	GCS     *gcsFinding
	Client  *clientFinding
	NotRay  string // gRPC answered, but not like Ray
	NoGRPC  bool   // no gRPC answer: try another protocol
	Timeout bool   // the first call ran out of time
}

// fingerprintGRPC asks the port whether it is a Ray GCS, then whether it is
// a Ray client server.
func (g *grpcProber) fingerprint(ctx context.Context) grpcVerdict {
	first := g.call(ctx, methodCheckAlive, checkAliveRequest, false)
	if first.isTransport() {
		return grpcVerdict{NoGRPC: true, Timeout: first.Code == codes.DeadlineExceeded}
	}
	// bogus is asked at most once, lazily.
	var bogus *rpcResult
	knowsMethods := func() bool {
		if bogus == nil {
			r := g.call(ctx, methodBogus, nil, false)
			bogus = &r
		}
		return bogus.Code == codes.Unimplemented
	}

	switch first.Code {
	case codes.OK:
		if f := g.gcsFromCheckAlive(ctx, first, false); f != nil {
			return grpcVerdict{GCS: f}
		}
		return grpcVerdict{NotRay: "gRPC server answered CheckAlive, but not with Ray's reply"}
	case codes.Unauthenticated:
		if !knowsMethods() {
			return grpcVerdict{NotRay: "gRPC server that refuses every method without credentials; cannot tell whether it is Ray"}
		}
		return grpcVerdict{GCS: g.gcsWithAuth(ctx)}
	}

	ping := g.call(ctx, methodClusterInfo, clusterInfoPingRequest, false)
	switch ping.Code {
	case codes.OK:
		resp, err := decodeClusterInfoResponse(ping.Reply)
		if err != nil || !json.Valid([]byte(resp.JSON)) {
			return grpcVerdict{NotRay: "gRPC server answered RayletDriver/ClusterInfo, but not with Ray's reply"}
		}
		return grpcVerdict{Client: &clientFinding{Addr: g.addr, Evidence: []string{
			fmt.Sprintf("gRPC %s(PING) on %s → OK (Ray client server, auth off)", methodClusterInfo, g.addr)}}}
	case codes.Unauthenticated:
		if !knowsMethods() {
			return grpcVerdict{NotRay: "gRPC server that refuses every method without credentials; cannot tell whether it is Ray"}
		}
		return grpcVerdict{Client: g.clientWithAuth(ctx)}
	}
	if ping.isTransport() {
		return grpcVerdict{NotRay: fmt.Sprintf("gRPC server; CheckAlive → %s, ClusterInfo → %s", first.Code, ping.Code)}
	}
	return grpcVerdict{NotRay: fmt.Sprintf("gRPC server without Ray's methods (CheckAlive → %s, ClusterInfo → %s)", first.Code, ping.Code)}
}

// gcsFromCheckAlive builds a finding from an OK CheckAlive reply and reads
// the cluster id and nodes; nil when the reply is not Ray's.
func (g *grpcProber) gcsFromCheckAlive(ctx context.Context, r rpcResult, withToken bool) *gcsFinding {
	rep, err := decodeCheckAliveReply(r.Reply)
	if err != nil || rep.RayVersion == "" {
		return nil
	}
	f := &gcsFinding{Addr: g.addr, RayVersion: rep.RayVersion, IsLeader: rep.IsLeader}
	auth := "auth off"
	if withToken {
		auth = "with token"
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s on %s → OK ray %s (%s)", methodCheckAlive, g.addr, rep.RayVersion, auth))
	g.details(ctx, f, withToken)
	return f
}

// gcsWithAuth handles a GCS in token mode: retry with our token, if any.
func (g *grpcProber) gcsWithAuth(ctx context.Context) *gcsFinding {
	ev := fmt.Sprintf("gRPC %s on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray GCS in token mode)", methodCheckAlive, g.addr)
	if g.token == "" {
		return &gcsFinding{Addr: g.addr, TokenMode: true, AuthRequired: true, Evidence: []string{ev, "no auth token available"}}
	}
	r := g.call(ctx, methodCheckAlive, checkAliveRequest, true)
	if r.Code == codes.OK {
		if f := g.gcsFromCheckAlive(ctx, r, true); f != nil {
			f.TokenMode = true
			f.Evidence = append([]string{ev}, f.Evidence...)
			return f
		}
	}
	f := &gcsFinding{Addr: g.addr, TokenMode: true, AuthRequired: true, Evidence: []string{ev}}
	if r.Code == codes.Unauthenticated {
		f.TokenRejected = true
		f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s with our token → UNAUTHENTICATED (token rejected)", methodCheckAlive))
	} else {
		f.Problems = append(f.Problems, fmt.Sprintf("%s with token → %s %s", methodCheckAlive, r.Code, r.Msg))
	}
	return f
}

// details reads the cluster id and the alive nodes; failures are problems,
// not verdicts.
func (g *grpcProber) details(ctx context.Context, f *gcsFinding, withToken bool) {
	r := g.call(ctx, methodGetClusterID, getClusterIDRequest, withToken)
	if r.Code == codes.OK {
		rep, err := decodeClusterIDReply(r.Reply)
		switch {
		case err != nil:
			f.Problems = append(f.Problems, fmt.Sprintf("%s: undecodable reply: %v", methodGetClusterID, err))
		case rep.Status.Code != 0:
			f.Problems = append(f.Problems, fmt.Sprintf("%s: GCS status %d %s", methodGetClusterID, rep.Status.Code, rep.Status.Message))
		case len(rep.ClusterID) == 0:
			f.Problems = append(f.Problems, methodGetClusterID+": empty cluster id")
		default:
			f.ClusterID = hex.EncodeToString(rep.ClusterID)
			f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s → cluster id %s", methodGetClusterID, f.ClusterID))
		}
	} else {
		f.Problems = append(f.Problems, fmt.Sprintf("%s → %s %s", methodGetClusterID, r.Code, r.Msg))
	}

	r = g.call(ctx, methodGetAllNodeInfo, getAllNodeInfoRequest, withToken)
	if r.Code != codes.OK {
		f.Problems = append(f.Problems, fmt.Sprintf("%s → %s %s", methodGetAllNodeInfo, r.Code, r.Msg))
		return
	}
	rep, err := decodeNodeInfoReply(r.Reply)
	switch {
	case err != nil:
		f.Problems = append(f.Problems, fmt.Sprintf("%s: undecodable reply: %v", methodGetAllNodeInfo, err))
		return
	case rep.Status.Code != 0:
		f.Problems = append(f.Problems, fmt.Sprintf("%s: GCS status %d %s", methodGetAllNodeInfo, rep.Status.Code, rep.Status.Message))
		return
	}
	f.NodesKnown = true
	for _, n := range rep.Nodes {
		if n.State == nodeStateAlive {
			f.AliveNodes = append(f.AliveNodes, n)
		}
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s → %d alive node(s)", methodGetAllNodeInfo, len(f.AliveNodes)))
}

// clientWithAuth handles a client server in token mode.
func (g *grpcProber) clientWithAuth(ctx context.Context) *clientFinding {
	f := &clientFinding{Addr: g.addr, Evidence: []string{fmt.Sprintf(
		"gRPC %s(PING) on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray client server in token mode)", methodClusterInfo, g.addr)}}
	if g.token == "" {
		f.AuthRequired = true
		f.Evidence = append(f.Evidence, "no auth token available")
		return f
	}
	r := g.call(ctx, methodClusterInfo, clusterInfoPingRequest, true)
	switch r.Code {
	case codes.OK:
		f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s(PING) with token → OK", methodClusterInfo))
	case codes.Unauthenticated:
		f.AuthRequired, f.TokenRejected = true, true
		f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s(PING) with our token → UNAUTHENTICATED (token rejected)", methodClusterInfo))
	default:
		f.AuthRequired = true
		f.Evidence = append(f.Evidence, fmt.Sprintf("gRPC %s(PING) with token → %s", methodClusterInfo, r.Code))
	}
	return f
}
