package ray

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
)

// DefaultProbeTimeout bounds the connect and each request of Probe and
// Identify unless they are given a timeout.
const DefaultProbeTimeout = 2 * time.Second

// ProbeOptions tune Probe.
type ProbeOptions struct {
	// Token is the Ray auth token ("" for none). It is sent only to a
	// server that has already answered like Ray without it: a GCS or client
	// server that refused a Ray method but not an unknown one, a dashboard
	// whose /api/authentication_mode asks for one. It never appears in
	// evidence.
	Token string
	// Timeout bounds the TCP connect and each request (0:
	// DefaultProbeTimeout).
	Timeout time.Duration
	// Expect is the component the port usually serves. It only orders the
	// probes: KindDashboard and KindDashboardAgent try HTTP first (the
	// latter its health check before the dashboard's endpoints), anything
	// else gRPC first. Whatever is expected, what answers decides.
	Expect Kind
	// Details makes a GCS probe also read the cluster id and the alive
	// nodes (GetClusterId, GetAllNodeInfo{state_filter: ALIVE}); failures
	// there are GCSFinding.Problems, not a verdict.
	Details bool
	// UserAgent is sent with every HTTP request and gRPC call (default
	// "castray/<Version>"; never a browser's: Ray refuses some requests
	// from a "Mozilla" User-Agent).
	UserAgent string
}

// Finding is what Probe learnt about one host:port.
type Finding struct {
	// Addr is host:port.
	Addr string
	// Kind is the Ray component that answered; "" when the port is open
	// but not Ray (see NotRay).
	Kind Kind
	// Evidence lists what was asked and answered, in order (never the
	// token).
	Evidence []string
	// GCS is set when Kind is KindGCS.
	GCS *GCSFinding
	// ClientServer is set when Kind is KindClientServer.
	ClientServer *ClientServerFinding
	// Dashboard is set when Kind is KindDashboard. A dashboard agent
	// (KindDashboardAgent) has no details of its own.
	Dashboard *DashboardFinding
	// NotRay says why an open port is not Ray (Kind == "").
	NotRay string
	// Silent: the port accepted the connection but sent nothing within
	// the timeout (then NotRay says so too, and it was not asked again in
	// another protocol).
	Silent bool
}

// AuthFinding is what a Ray server said about token auth.
type AuthFinding struct {
	// TokenMode: the server refused Ray's calls without a token (or, for a
	// dashboard, its authentication mode asks for one).
	TokenMode bool
	// AuthRequired: token mode, and no token was given or it was rejected;
	// the finding holds only what the server tells without a token.
	AuthRequired bool
	// TokenRejected: the token was sent and refused.
	TokenRejected bool
}

// GCSFinding is what a GCS told.
type GCSFinding struct {
	AuthFinding
	// RayVersion is CheckAlive's ray_version ("" when the token is
	// missing or rejected).
	RayVersion string
	// IsLeader is CheckAlive's is_leader.
	IsLeader bool
	// ClusterID is GetClusterId's cluster id in hex (ProbeOptions.Details).
	ClusterID string
	// NodesKnown: GetAllNodeInfo answered; AliveNodes is then the alive
	// nodes as the GCS sent them (ProbeOptions.Details).
	NodesKnown bool
	AliveNodes []*raypb.GcsNodeInfo
	// Problems are detail calls that failed; the GCS is still a GCS.
	Problems []string
}

// ClientServerFinding is a Ray client server.
type ClientServerFinding struct {
	AuthFinding
}

// DashboardFinding is a Ray dashboard.
type DashboardFinding struct {
	AuthFinding
	// URL is "http://host:port".
	URL string
	// AuthMode is /api/authentication_mode's answer ("disabled", "token",
	// "k8s"; "" when it gave none, as older Ray does).
	AuthMode string
	// Version is /api/version's answer, nil when it gave none (no or a
	// rejected token in token mode).
	Version *VersionInfo
}

// Identify tells what answers on host:port: a Ray dashboard, GCS, client
// server or dashboard agent. evidence lists what was asked and answered
// (never the token). timeout bounds each probe (0: DefaultProbeTimeout); a
// refused connection fails at once. An open port that is not Ray is an
// error matching ErrNotRay.
//
// It is Probe without details, gRPC first: TCP connect; gRPC
// NodeInfoGcsService/CheckAlive (GCS); gRPC RayletDriver/ClusterInfo{PING}
// (client server); HTTP GET /api/authentication_mode, /api/version and
// /api/gcs_healthz (dashboard), /api/local_raylet_healthz (agent). A port
// that accepted the connection but sent nothing is not asked again over
// HTTP. A token-mode server is recognised without the token
// (UNAUTHENTICATED for a Ray method, UNIMPLEMENTED for an unknown one); a
// rejected token does not fail identification, the evidence says so.
func Identify(ctx context.Context, host string, port int, token string, timeout time.Duration) (Kind, []string, error) {
	f, err := Probe(ctx, host, port, ProbeOptions{Token: token, Timeout: timeout})
	if err != nil {
		var ev []string
		if f != nil {
			ev = f.Evidence
		}
		return "", ev, err
	}
	if f.Kind == "" {
		return "", f.Evidence, fmt.Errorf("%w: %s: %s", ErrNotRay, f.Addr, f.NotRay)
	}
	return f.Kind, f.Evidence, nil
}

// Probe connects to host:port and fingerprints what answers by protocol
// (see Identify for the requests, ProbeOptions for the order and the
// token). A port counts as Ray only when it answers a Ray-specific request
// the way Ray does: a gRPC server that knows none of Ray's methods, an HTTP
// server without Ray's endpoints and a listener that says nothing are
// findings with Kind "" and a NotRay reason, not errors.
//
// The error is the failed TCP connect (errors.Is(err,
// syscall.ECONNREFUSED) for a closed port), an *AddressError for a port
// out of range, or ctx's error when ctx ended before the port was
// fingerprinted (the finding then holds the evidence so far). Probe closes
// every connection it opened before it returns.
func Probe(ctx context.Context, host string, port int, opts ProbeOptions) (*Finding, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "castray/" + Version
	}
	if port < 1 || port > 65535 {
		return nil, &AddressError{Input: strconv.Itoa(port), Problem: "port out of range 1-65535"}
	}
	p := &prober{host: host, port: port, addr: net.JoinHostPort(host, strconv.Itoa(port)), opts: opts}
	f := &Finding{Addr: p.addr}

	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", p.addr)
	cancel()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return f, cerr
		}
		return f, fmt.Errorf("%s: %w", p.addr, err)
	}
	_ = c.Close()

	steps := []func(context.Context, *Finding) stepResult{p.grpc, p.http}
	if opts.Expect == KindDashboard || opts.Expect == KindDashboardAgent {
		steps = []func(context.Context, *Finding) stepResult{p.http, p.grpc}
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return f, err
		}
		switch step(ctx, f) {
		case stepDone:
			return f, nil
		case stepTimedOut:
			if !p.heard.Load() {
				f.Silent = true
				f.NotRay = fmt.Sprintf("accepts connections but sent nothing within %v", opts.Timeout)
				return f, nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return f, err
	}
	f.NotRay = "open, but answers neither Ray's gRPC methods nor the dashboard's HTTP endpoints"
	return f, nil
}

// stepResult is how one protocol's probes ended.
type stepResult int

const (
	// stepDone: the finding is complete (Ray, or not Ray with a reason).
	stepDone stepResult = iota
	// stepNoAnswer: no answer in this protocol; try the other one.
	stepNoAnswer
	// stepTimedOut: no answer in this protocol before the timeout; the
	// other one is tried only if the peer ever sent a byte.
	stepTimedOut
)

// prober holds one Probe call's state.
type prober struct {
	host  string
	port  int
	addr  string
	opts  ProbeOptions
	heard atomic.Bool // the peer sent at least one byte, in any protocol
}

// dial opens a TCP connection that records in p.heard whether the peer
// ever sent a byte, which tells a silent listener from a server speaking
// another protocol.
func (p *prober) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, heard: &p.heard}, nil
}

// countingConn records whether the peer ever sent a byte.
type countingConn struct {
	net.Conn
	heard *atomic.Bool
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.heard.Store(true)
	}
	return n, err
}
