package ray

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// bogusMethod exists on no server. Ray's servers check the method before
// the token (both the C++ GCS and the Python client server), so in token
// mode a Ray method gets UNAUTHENTICATED while this one gets UNIMPLEMENTED
// (verified on 2.60.0).
const bogusMethod = "/castray.ray.v1.NoSuchService/NoSuchMethod"

// maxProbeReply bounds one gRPC reply of a probe (GetAllNodeInfo of a
// large cluster is about 0.5 KiB per node).
const maxProbeReply = 64 << 20

// Method names in the evidence.
const (
	evCheckAlive     = "gRPC " + raypb.NodeInfoGcsService_CheckAlive_FullMethodName
	evGetClusterID   = "gRPC " + raypb.NodeInfoGcsService_GetClusterId_FullMethodName
	evGetAllNodeInfo = "gRPC " + raypb.NodeInfoGcsService_GetAllNodeInfo_FullMethodName
	evClusterInfo    = "gRPC " + raypb.RayletDriver_ClusterInfo_FullMethodName + "(PING)"
)

// AliveNodesRequest is the GetAllNodeInfo request of a probe: state_filter
// ALIVE, written explicitly although it is the enum's zero value (proto3
// optional), so the GCS filters.
func AliveNodesRequest() *raypb.GetAllNodeInfoRequest {
	return &raypb.GetAllNodeInfoRequest{StateFilter: raypb.GcsNodeInfo_ALIVE.Enum()}
}

// PingRequest is RayletDriver/ClusterInfo{type: PING}, the first call a
// Ray client makes; the client server answers it itself, starting no
// driver.
func PingRequest() *raypb.ClusterInfoRequest {
	return &raypb.ClusterInfoRequest{Type: raypb.ClusterInfoType_PING}
}

// grpcCall is one unary call's outcome.
type grpcCall struct {
	code codes.Code
	msg  string
}

// transport reports a call that got no gRPC answer at all (not gRPC, or
// nothing answered in time).
func (c grpcCall) transport() bool {
	return c.code == codes.Unavailable || c.code == codes.DeadlineExceeded || c.code == codes.Canceled
}

// grpcProbe is the gRPC side of one Probe call, on one connection.
type grpcProbe struct {
	p      *prober
	conn   *grpc.ClientConn
	gcs    raypb.NodeInfoGcsServiceClient
	driver raypb.RayletDriverClient
	bogus  *grpcCall // asked at most once, lazily
}

// call makes one unary call with the probe timeout; withToken adds
// `authorization: Bearer <token>`. No ray_cluster_id header is sent: Ray
// 2.60 accepts calls without it (and rejects GetClusterId with it).
func (g *grpcProbe) call(ctx context.Context, withToken bool, fn func(ctx context.Context) error) grpcCall {
	ctx, cancel := context.WithTimeout(ctx, g.p.opts.Timeout)
	defer cancel()
	if withToken && g.p.opts.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.p.opts.Token)
	}
	st := status.Convert(fn(ctx))
	return grpcCall{code: st.Code(), msg: clip(st.Message())}
}

// knowsMethods reports whether an unknown method gets UNIMPLEMENTED (the
// server checks methods before credentials, as Ray's do).
func (g *grpcProbe) knowsMethods(ctx context.Context) bool {
	if g.bogus == nil {
		r := g.call(ctx, false, func(ctx context.Context) error {
			return g.conn.Invoke(ctx, bogusMethod, &raypb.CheckAliveRequest{}, &raypb.CheckAliveReply{})
		})
		g.bogus = &r
	}
	return g.bogus.code == codes.Unimplemented
}

const cannotTell = "gRPC server that refuses every method without credentials; cannot tell whether it is Ray"

// grpc asks the port whether it is a Ray GCS, then whether it is a Ray
// client server.
func (p *prober) grpc(ctx context.Context, f *Finding) stepResult {
	conn, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return p.dial(ctx, "tcp", a) }),
		grpc.WithUserAgent(p.opts.UserAgent),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: p.opts.Timeout, Multiplier: 1, MaxDelay: p.opts.Timeout},
			// Longer than the call's own deadline: a port that accepts and
			// stays silent must end the call with DeadlineExceeded (silent),
			// never with the connect attempt's Unavailable that raced it.
			MinConnectTimeout: 2 * p.opts.Timeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxProbeReply)),
	)
	if err != nil {
		f.NotRay = "gRPC client: " + err.Error()
		return stepDone
	}
	defer conn.Close()
	g := &grpcProbe{p: p, conn: conn, gcs: raypb.NewNodeInfoGcsServiceClient(conn), driver: raypb.NewRayletDriverClient(conn)}

	var reply *raypb.CheckAliveReply
	checkAlive := func(withToken bool) grpcCall {
		return g.call(ctx, withToken, func(ctx context.Context) (err error) {
			reply, err = g.gcs.CheckAlive(ctx, &raypb.CheckAliveRequest{})
			return err
		})
	}
	first := checkAlive(false)
	switch {
	case first.transport():
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → %s (no gRPC answer)", evCheckAlive, p.addr, first.code))
		if first.code == codes.DeadlineExceeded {
			return stepTimedOut
		}
		return stepNoAnswer
	case first.code == codes.OK:
		if !plausibleVersion(reply.GetRayVersion()) {
			f.NotRay = "gRPC server answered CheckAlive, but not with Ray's reply"
			return stepDone
		}
		gf := &GCSFinding{RayVersion: reply.GetRayVersion(), IsLeader: reply.GetIsLeader()}
		f.Kind, f.GCS = KindGCS, gf
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → OK, ray %s (auth off)", evCheckAlive, p.addr, gf.RayVersion))
		g.details(ctx, f, false)
		return stepDone
	case first.code == codes.Unauthenticated:
		if !g.knowsMethods(ctx) {
			f.NotRay = cannotTell
			return stepDone
		}
		gf := &GCSFinding{AuthFinding: AuthFinding{TokenMode: true, AuthRequired: true}}
		f.Kind, f.GCS = KindGCS, gf
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray GCS in token mode)", evCheckAlive, p.addr))
		if p.opts.Token == "" {
			f.Evidence = append(f.Evidence, "no auth token given")
			return stepDone
		}
		r := checkAlive(true)
		switch {
		case r.code == codes.OK && plausibleVersion(reply.GetRayVersion()):
			gf.AuthRequired = false
			gf.RayVersion, gf.IsLeader = reply.GetRayVersion(), reply.GetIsLeader()
			f.Evidence = append(f.Evidence, fmt.Sprintf("%s with the token → OK, ray %s", evCheckAlive, gf.RayVersion))
			g.details(ctx, f, true)
		case r.code == codes.Unauthenticated:
			gf.TokenRejected = true
			f.Evidence = append(f.Evidence, evCheckAlive+" with the token → UNAUTHENTICATED (token rejected)")
		default:
			gf.Problems = append(gf.Problems, fmt.Sprintf("CheckAlive with the token → %s %s", r.code, r.msg))
		}
		return stepDone
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → %s", evCheckAlive, p.addr, first.code))

	var resp *raypb.ClusterInfoResponse
	ping := func(withToken bool) grpcCall {
		return g.call(ctx, withToken, func(ctx context.Context) (err error) {
			resp, err = g.driver.ClusterInfo(ctx, PingRequest())
			return err
		})
	}
	r := ping(false)
	switch {
	case r.code == codes.OK:
		if !json.Valid([]byte(resp.GetJson())) {
			f.NotRay = "gRPC server answered RayletDriver/ClusterInfo, but not with Ray's reply"
			return stepDone
		}
		f.Kind, f.ClientServer = KindClientServer, &ClientServerFinding{}
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → OK (Ray client server, auth off)", evClusterInfo, p.addr))
		return stepDone
	case r.code == codes.Unauthenticated:
		if !g.knowsMethods(ctx) {
			f.NotRay = cannotTell
			return stepDone
		}
		cf := &ClientServerFinding{AuthFinding: AuthFinding{TokenMode: true, AuthRequired: true}}
		f.Kind, f.ClientServer = KindClientServer, cf
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray client server in token mode)", evClusterInfo, p.addr))
		if p.opts.Token == "" {
			f.Evidence = append(f.Evidence, "no auth token given")
			return stepDone
		}
		switch r := ping(true); r.code {
		case codes.OK:
			cf.AuthRequired = false
			f.Evidence = append(f.Evidence, evClusterInfo+" with the token → OK")
		case codes.Unauthenticated:
			cf.TokenRejected = true
			f.Evidence = append(f.Evidence, evClusterInfo+" with the token → UNAUTHENTICATED (token rejected)")
		default:
			f.Evidence = append(f.Evidence, fmt.Sprintf("%s with the token → %s", evClusterInfo, r.code))
		}
		return stepDone
	case r.transport():
		f.NotRay = fmt.Sprintf("gRPC server; CheckAlive → %s, ClusterInfo → %s", first.code, r.code)
	default:
		f.NotRay = fmt.Sprintf("gRPC server without Ray's methods (CheckAlive → %s, ClusterInfo → %s)", first.code, r.code)
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("%s on %s → %s", evClusterInfo, p.addr, r.code))
	return stepDone
}

// details reads a GCS's cluster id and alive nodes when asked to; failures
// are problems, not verdicts.
func (g *grpcProbe) details(ctx context.Context, f *Finding, withToken bool) {
	if !g.p.opts.Details {
		return
	}
	gf := f.GCS
	var idr *raypb.GetClusterIdReply
	r := g.call(ctx, withToken, func(ctx context.Context) (err error) {
		idr, err = g.gcs.GetClusterId(ctx, &raypb.GetClusterIdRequest{})
		return err
	})
	switch {
	case r.code != codes.OK:
		gf.Problems = append(gf.Problems, fmt.Sprintf("GetClusterId → %s %s", r.code, r.msg))
	case gcsStatus("GetClusterId", idr.GetStatus()) != nil:
		gf.Problems = append(gf.Problems, gcsStatus("GetClusterId", idr.GetStatus()).Error())
	case len(idr.GetClusterId()) == 0:
		gf.Problems = append(gf.Problems, "GetClusterId: empty cluster id")
	default:
		gf.ClusterID = hex.EncodeToString(idr.GetClusterId())
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s → cluster id %s", evGetClusterID, gf.ClusterID))
	}

	var nr *raypb.GetAllNodeInfoReply
	r = g.call(ctx, withToken, func(ctx context.Context) (err error) {
		nr, err = g.gcs.GetAllNodeInfo(ctx, AliveNodesRequest())
		return err
	})
	switch {
	case r.code != codes.OK:
		gf.Problems = append(gf.Problems, fmt.Sprintf("GetAllNodeInfo → %s %s", r.code, r.msg))
		return
	case gcsStatus("GetAllNodeInfo", nr.GetStatus()) != nil:
		gf.Problems = append(gf.Problems, gcsStatus("GetAllNodeInfo", nr.GetStatus()).Error())
		return
	}
	gf.NodesKnown = true
	for _, n := range nr.GetNodeInfoList() {
		// The filter is the GCS's; a node in another state is not kept.
		if n.GetState() == raypb.GcsNodeInfo_ALIVE {
			gf.AliveNodes = append(gf.AliveNodes, n)
		}
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("%s → %d alive node(s)", evGetAllNodeInfo, len(gf.AliveNodes)))
}
