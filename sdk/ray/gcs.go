package ray

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path"
	"time"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxGCSReply bounds one GCS reply (GetAllNodeInfo is ~0.5 KiB per node,
// GetAllActorInfo ~0.5-1 KiB per actor).
const maxGCSReply = 256 << 20

// DefaultCallTimeout bounds each GCS call unless the context is shorter.
const DefaultCallTimeout = 30 * time.Second

// Ray's StatusCode values seen in GcsStatus (src/ray/common/status.h).
const (
	rayStatusKeyError = 2
	rayStatusNotFound = 17
)

// GCS is a client of one Ray GCS (plain gRPC, no TLS). It is safe for
// concurrent use.
type GCS struct {
	addr  string
	token string
	conn  *grpc.ClientConn
	nodes raypb.NodeInfoGcsServiceClient
	acts  raypb.ActorInfoGcsServiceClient
	kv    raypb.InternalKVGcsServiceClient
	// CallTimeout bounds each call (default DefaultCallTimeout).
	CallTimeout time.Duration
	// RayVersion is what CheckAlive answered at dial time.
	RayVersion string
}

// DialGCS connects to the GCS at addr ("host:port"; a "gcs://" or other
// scheme is refused) and checks it with CheckAlive, so a wrong address, a
// non-Ray server or a missing/wrong token fails here: an UNAUTHENTICATED
// answer is ErrAuth. token ("" for none) is sent as "authorization: Bearer
// <token>" metadata on every call. The "ray_cluster_id" metadata is never
// sent (Ray 2.60's GetClusterId rejects it even when it is right).
func DialGCS(ctx context.Context, addr, token string) (*GCS, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if a.Kind != KindUnknown && a.Kind != KindGCS {
		return nil, &AddressError{Input: addr, Problem: "a GCS address is a bare host:port"}
	}
	conn, err := grpc.NewClient("passthrough:///"+a.HostPort(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("castray/"+Version),
		grpc.WithDisableServiceConfig(),
		grpc.WithContextDialer(func(ctx context.Context, s string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", s)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGCSReply)),
	)
	if err != nil {
		return nil, fmt.Errorf("GCS %s: %w", a.HostPort(), err)
	}
	g := &GCS{
		addr: a.HostPort(), token: token, conn: conn, CallTimeout: DefaultCallTimeout,
		nodes: raypb.NewNodeInfoGcsServiceClient(conn),
		acts:  raypb.NewActorInfoGcsServiceClient(conn),
		kv:    raypb.NewInternalKVGcsServiceClient(conn),
	}
	v, err := g.CheckAlive(ctx)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	g.RayVersion = v
	return g, nil
}

// Addr is the GCS's host:port.
func (g *GCS) Addr() string { return g.addr }

// Close closes the connection.
func (g *GCS) Close() error { return g.conn.Close() }

func (g *GCS) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	t := g.CallTimeout
	if t <= 0 {
		t = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	if g.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.token)
	}
	return ctx, cancel
}

// rpcError turns a gRPC error into ours: UNAUTHENTICATED → ErrAuth,
// UNIMPLEMENTED → ErrNotRay.
func (g *GCS) rpcError(method string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unauthenticated:
		why := "no token was given"
		if g.token != "" {
			why = "the token was rejected"
		}
		return fmt.Errorf("%w: GCS %s %s → UNAUTHENTICATED (%s): %s", ErrAuth, g.addr, method, why, clip(st.Message()))
	case codes.Unimplemented:
		return fmt.Errorf("%w: GCS %s %s → UNIMPLEMENTED: %s", ErrNotRay, g.addr, method, clip(st.Message()))
	}
	return fmt.Errorf("GCS %s %s: %w", g.addr, method, err)
}

func gcsStatus(method string, s *raypb.GcsStatus) error {
	if s == nil || s.GetCode() == 0 {
		return nil
	}
	return &StatusError{Method: method, Code: s.GetCode(), Message: s.GetMessage()}
}

// CheckAlive calls NodeInfoGcsService/CheckAlive and returns the GCS's Ray
// version.
func (g *GCS) CheckAlive(ctx context.Context) (string, error) {
	ctx, cancel := g.callCtx(ctx)
	defer cancel()
	r, err := g.nodes.CheckAlive(ctx, &raypb.CheckAliveRequest{})
	if err != nil {
		return "", g.rpcError("CheckAlive", err)
	}
	if err := gcsStatus("CheckAlive", r.GetStatus()); err != nil {
		return "", err
	}
	if !plausibleVersion(r.GetRayVersion()) {
		return "", fmt.Errorf("%w: GCS %s CheckAlive answered without a Ray version", ErrNotRay, g.addr)
	}
	return r.GetRayVersion(), nil
}

// ClusterID calls NodeInfoGcsService/GetClusterId: the cluster id in hex
// (56 digits).
func (g *GCS) ClusterID(ctx context.Context) (string, error) {
	ctx, cancel := g.callCtx(ctx)
	defer cancel()
	r, err := g.nodes.GetClusterId(ctx, &raypb.GetClusterIdRequest{})
	if err != nil {
		return "", g.rpcError("GetClusterId", err)
	}
	if err := gcsStatus("GetClusterId", r.GetStatus()); err != nil {
		return "", err
	}
	if len(r.GetClusterId()) == 0 {
		return "", fmt.Errorf("GCS %s GetClusterId: empty cluster id", g.addr)
	}
	return hex.EncodeToString(r.GetClusterId()), nil
}

// Nodes calls NodeInfoGcsService/GetAllNodeInfo without a state filter or
// limit: every node the GCS knows, dead ones as State "DEAD" (with the death
// reason in StateReason). The GCS reports no available resources.
func (g *GCS) Nodes(ctx context.Context) ([]Node, error) {
	ctx, cancel := g.callCtx(ctx)
	defer cancel()
	r, err := g.nodes.GetAllNodeInfo(ctx, &raypb.GetAllNodeInfoRequest{})
	if err != nil {
		return nil, g.rpcError("GetAllNodeInfo", err)
	}
	if err := gcsStatus("GetAllNodeInfo", r.GetStatus()); err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(r.GetNodeInfoList()))
	for _, n := range r.GetNodeInfoList() {
		out = append(out, nodeFromGCS(n))
	}
	return out, nil
}

func nodeFromGCS(n *raypb.GcsNodeInfo) Node {
	node := Node{
		NodeID:          hex.EncodeToString(n.GetNodeId()),
		Address:         n.GetNodeManagerAddress(),
		Hostname:        n.GetNodeManagerHostname(),
		NodeName:        n.GetNodeName(),
		IsHead:          n.GetIsHeadNode(),
		State:           "ALIVE",
		ResourcesTotal:  n.GetResourcesTotal(),
		Labels:          n.GetLabels(),
		NodeManagerPort: int(n.GetNodeManagerPort()),
		StartTimeMs:     n.GetStartTimeMs(),
		EndTimeMs:       n.GetEndTimeMs(),
		SessionDir:      n.GetSessionDir(),
	}
	if n.GetState() != raypb.GcsNodeInfo_ALIVE {
		node.State = "DEAD"
		if n.GetState() != raypb.GcsNodeInfo_DEAD {
			node.State = n.GetState().String()
		}
	}
	if di := n.GetDeathInfo(); di != nil {
		node.StateReason = di.GetReasonMessage()
		if node.StateReason == "" && di.GetReason() != raypb.NodeDeathInfo_UNSPECIFIED {
			node.StateReason = di.GetReason().String()
		}
	}
	if node.SessionDir != "" {
		node.SessionName = path.Base(node.SessionDir)
	}
	return node
}

// Actors calls ActorInfoGcsService/GetAllActorInfo with the filter
// state = ALIVE (and checks the state of every row it gets back).
func (g *GCS) Actors(ctx context.Context) ([]Actor, error) {
	alive := raypb.ActorTableData_ALIVE
	as, err := g.actors(ctx, &raypb.GetAllActorInfoRequest{Filters: &raypb.GetAllActorInfoRequest_Filters{State: &alive}})
	if err != nil {
		return nil, err
	}
	kept := as[:0]
	for _, a := range as {
		if a.State == "ALIVE" {
			kept = append(kept, a)
		}
	}
	return kept, nil
}

// AllActors calls GetAllActorInfo without filters: actors in every state
// (the GCS keeps dead ones for a while).
func (g *GCS) AllActors(ctx context.Context) ([]Actor, error) {
	return g.actors(ctx, &raypb.GetAllActorInfoRequest{})
}

func (g *GCS) actors(ctx context.Context, req *raypb.GetAllActorInfoRequest) ([]Actor, error) {
	ctx, cancel := g.callCtx(ctx)
	defer cancel()
	r, err := g.acts.GetAllActorInfo(ctx, req)
	if err != nil {
		return nil, g.rpcError("GetAllActorInfo", err)
	}
	if err := gcsStatus("GetAllActorInfo", r.GetStatus()); err != nil {
		return nil, err
	}
	out := make([]Actor, 0, len(r.GetActorTableData()))
	for _, a := range r.GetActorTableData() {
		out = append(out, actorFromGCS(a))
	}
	return out, nil
}

func actorFromGCS(a *raypb.ActorTableData) Actor {
	act := Actor{
		ActorID:           hex.EncodeToString(a.GetActorId()),
		ClassName:         a.GetClassName(),
		Name:              a.GetName(),
		Namespace:         a.GetRayNamespace(),
		State:             a.GetState().String(),
		JobID:             hex.EncodeToString(a.GetJobId()),
		PID:               a.GetPid(),
		RequiredResources: a.GetRequiredResources(),
	}
	if a.NodeId != nil {
		act.NodeID = hex.EncodeToString(a.GetNodeId())
	}
	if addr := a.GetAddress(); addr != nil {
		if act.NodeID == "" && len(addr.GetNodeId()) > 0 && !allZero(addr.GetNodeId()) {
			act.NodeID = hex.EncodeToString(addr.GetNodeId())
		}
		if addr.GetIpAddress() != "" && addr.GetPort() > 0 {
			act.Address = net.JoinHostPort(addr.GetIpAddress(), fmt.Sprint(addr.GetPort()))
		}
	}
	return act
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// KVGet calls InternalKVGcsService/InternalKVGet. A missing key is
// ErrNotFound. Useful keys: namespace "dashboard" key "dashboard" → the
// dashboard's "host:port"; namespace "session" keys "session_name",
// "session_dir", "temp_dir".
func (g *GCS) KVGet(ctx context.Context, namespace, key string) ([]byte, error) {
	ctx, cancel := g.callCtx(ctx)
	defer cancel()
	r, err := g.kv.InternalKVGet(ctx, &raypb.InternalKVGetRequest{Key: []byte(key), Namespace: []byte(namespace)})
	if err != nil {
		return nil, g.rpcError("InternalKVGet", err)
	}
	if err := gcsStatus("InternalKVGet", r.GetStatus()); err != nil {
		var se *StatusError
		if errors.As(err, &se) && (se.Code == rayStatusNotFound || se.Code == rayStatusKeyError) {
			return nil, fmt.Errorf("%w: GCS KV %s/%s: %s", ErrNotFound, namespace, key, clip(se.Message))
		}
		return nil, err
	}
	return r.GetValue(), nil
}

// DashboardAddress is KV dashboard/dashboard: the dashboard's "host:port"
// (no scheme; 127.0.0.1 unless --dashboard-host was set).
func (g *GCS) DashboardAddress(ctx context.Context) (string, error) {
	v, err := g.KVGet(ctx, "dashboard", "dashboard")
	if err != nil {
		return "", err
	}
	if !validHostPort(string(v)) {
		return "", fmt.Errorf("GCS KV dashboard/dashboard: not host:port: %q", clip(string(v)))
	}
	return string(v), nil
}

// SessionName is KV session/session_name.
func (g *GCS) SessionName(ctx context.Context) (string, error) {
	v, err := g.KVGet(ctx, "session", "session_name")
	if err != nil {
		return "", err
	}
	return string(v), nil
}
