package ray

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	raypb "github.com/castray/castray/sdk/ray/proto/ray/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// bogusMethod exists on no server. Ray's servers check the method before the
// token, so in token mode a Ray method gets UNAUTHENTICATED while this one
// gets UNIMPLEMENTED (portscan README, verified on 2.60.0).
const bogusMethod = "/castray.sdk/ray.NoSuchService/NoSuchMethod"

// Identify tells what answers on host:port: a Ray dashboard, GCS, client
// server or dashboard agent. evidence lists what was asked and answered
// (never the token). timeout bounds each probe (0: 2 s); a refused
// connection fails at once. Anything else is an error matching ErrNotRay.
//
// Order: TCP connect; gRPC NodeInfoGcsService/CheckAlive (GCS); gRPC
// RayletDriver/ClusterInfo{PING} (client server); HTTP GET
// /api/authentication_mode and /api/gcs_healthz (dashboard, both open in
// token mode), /api/local_raylet_healthz (agent). A port that accepted the
// connection but sent nothing is not asked again over HTTP. The token is
// sent only to a server that already answered like Ray without it (to read
// the version for the evidence); a token-mode server is recognised without
// it (UNAUTHENTICATED for a Ray method, UNIMPLEMENTED for an unknown one).
// A rejected token does not fail identification; the evidence says so.
func Identify(ctx context.Context, host string, port int, token string, timeout time.Duration) (Kind, []string, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if port < 1 || port > 65535 {
		return "", nil, &AddressError{Input: strconv.Itoa(port), Problem: "port out of range 1-65535"}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var ev []string

	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", addr, err)
	}
	_ = c.Close()

	var heard atomic.Bool
	kind, gev, silent := identifyGRPC(ctx, addr, token, timeout, &heard)
	ev = append(ev, gev...)
	if kind != "" {
		return kind, ev, nil
	}
	if err := ctx.Err(); err != nil {
		return "", ev, err
	}
	if silent {
		return "", ev, fmt.Errorf("%w: %s accepted the connection but sent nothing within %s", ErrNotRay, addr, timeout)
	}
	kind, hev := identifyHTTP(ctx, addr, token, timeout)
	ev = append(ev, hev...)
	if kind != "" {
		return kind, ev, nil
	}
	if err := ctx.Err(); err != nil {
		return "", ev, err
	}
	return "", ev, fmt.Errorf("%w: %s answers neither Ray's gRPC methods nor the dashboard's HTTP endpoints", ErrNotRay, addr)
}

// countingConn records whether the peer ever sent a byte.
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

func identifyGRPC(ctx context.Context, addr, token string, timeout time.Duration, heard *atomic.Bool) (kind Kind, ev []string, silent bool) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("castray/"+Version),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, heard: heard}, nil
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: timeout, Multiplier: 1, MaxDelay: timeout},
			// Longer than the call's own deadline: a port that accepts and
			// stays silent must end the call with DeadlineExceeded (silent),
			// never with the connect attempt's Unavailable that raced it.
			MinConnectTimeout: 2 * timeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<20)),
	)
	if err != nil {
		return "", []string{"gRPC: " + err.Error()}, false
	}
	defer conn.Close()
	call := func(withToken bool, f func(ctx context.Context) error) codes.Code {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if withToken {
			cctx = metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+token)
		}
		return status.Code(f(cctx))
	}
	transport := func(c codes.Code) bool {
		return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.Canceled
	}
	knowsMethods := func() bool {
		c := call(false, func(ctx context.Context) error {
			return conn.Invoke(ctx, bogusMethod, &raypb.CheckAliveRequest{}, &raypb.CheckAliveReply{})
		})
		return c == codes.Unimplemented
	}

	gcs := raypb.NewNodeInfoGcsServiceClient(conn)
	var version string
	checkAlive := func(withToken bool) codes.Code {
		return call(withToken, func(ctx context.Context) error {
			r, err := gcs.CheckAlive(ctx, &raypb.CheckAliveRequest{})
			if err == nil {
				if !plausibleVersion(r.GetRayVersion()) {
					return status.Error(codes.Internal, "no ray_version")
				}
				version = r.GetRayVersion()
			}
			return err
		})
	}
	const ca = "gRPC /ray.rpc.NodeInfoGcsService/CheckAlive"
	first := checkAlive(false)
	switch {
	case first == codes.OK:
		return KindGCS, []string{fmt.Sprintf("%s on %s → OK, ray %s (auth off)", ca, addr, version)}, false
	case transport(first):
		return "", []string{fmt.Sprintf("%s on %s → %s (no gRPC answer)", ca, addr, first)}, first == codes.DeadlineExceeded && !heard.Load()
	case first == codes.Unauthenticated && knowsMethods():
		ev = append(ev, fmt.Sprintf("%s on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray GCS in token mode)", ca, addr))
		switch {
		case token == "":
			ev = append(ev, "no auth token given")
		case checkAlive(true) == codes.OK:
			ev = append(ev, fmt.Sprintf("%s with the token → OK, ray %s", ca, version))
		default:
			ev = append(ev, ca+" with the token → UNAUTHENTICATED (token rejected)")
		}
		return KindGCS, ev, false
	}
	ev = append(ev, fmt.Sprintf("%s on %s → %s", ca, addr, first))

	driver := raypb.NewRayletDriverClient(conn)
	ping := func(withToken bool) codes.Code {
		return call(withToken, func(ctx context.Context) error {
			r, err := driver.ClusterInfo(ctx, &raypb.ClusterInfoRequest{Type: raypb.ClusterInfoType_PING})
			if err == nil && !json.Valid([]byte(r.GetJson())) {
				return status.Error(codes.Internal, "not JSON")
			}
			return err
		})
	}
	const ci = "gRPC /ray.rpc.RayletDriver/ClusterInfo(PING)"
	p := ping(false)
	switch {
	case p == codes.OK:
		return KindClientServer, append(ev, fmt.Sprintf("%s on %s → OK (Ray client server, auth off)", ci, addr)), false
	case p == codes.Unauthenticated && knowsMethods():
		ev = append(ev, fmt.Sprintf("%s on %s → UNAUTHENTICATED without a token, an unknown method → UNIMPLEMENTED (a Ray client server in token mode)", ci, addr))
		switch {
		case token == "":
			ev = append(ev, "no auth token given")
		case ping(true) == codes.OK:
			ev = append(ev, ci+" with the token → OK")
		default:
			ev = append(ev, ci+" with the token → refused (token rejected)")
		}
		return KindClientServer, ev, false
	}
	return "", append(ev, fmt.Sprintf("%s on %s → %s", ci, addr, p)), false
}

func identifyHTTP(ctx context.Context, addr, token string, timeout time.Duration) (Kind, []string) {
	client := &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: timeout}).DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	base := "http://" + addr
	get := func(path, tok string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("User-Agent", "castray/"+Version)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, scrubURLError(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, b, err
	}
	var ev []string
	code, body, err := get("/api/authentication_mode", "")
	if err != nil {
		return "", append(ev, fmt.Sprintf("GET %s/api/authentication_mode → %v", base, err))
	}
	if mode, perr := DecodeAuthMode(body); code == 200 && perr == nil {
		ev = append(ev, fmt.Sprintf("GET %s/api/authentication_mode → 200 %q (a Ray dashboard)", base, mode))
		tok := ""
		if mode == "token" {
			tok = token
		}
		if mode != "token" || token != "" {
			if c, b, err := get("/api/version", tok); err == nil && c == 200 {
				if v, err := DecodeVersion(b); err == nil {
					ev = append(ev, fmt.Sprintf("GET %s/api/version → 200 ray %s", base, v.RayVersion))
				}
			} else if err == nil && (c == 401 || c == 403) {
				ev = append(ev, fmt.Sprintf("GET %s/api/version with the token → %d (token rejected)", base, c))
			}
		}
		return KindDashboard, ev
	}
	ev = append(ev, fmt.Sprintf("GET %s/api/authentication_mode → %d", base, code))
	if c, b, err := get("/api/gcs_healthz", ""); err == nil && c == 200 && string(bytes.TrimSpace(b)) == "success" {
		return KindDashboard, append(ev, fmt.Sprintf("GET %s/api/gcs_healthz → 200 success (a Ray dashboard)", base))
	}
	if c, b, err := get("/api/local_raylet_healthz", ""); err == nil && c == 200 && string(bytes.TrimSpace(b)) == "success" {
		return KindDashboardAgent, append(ev, fmt.Sprintf("GET %s/api/local_raylet_healthz → 200 success (a Ray dashboard agent)", base))
	}
	return "", ev
}
