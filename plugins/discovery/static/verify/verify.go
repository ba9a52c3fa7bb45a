package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/castray/castray/sdk/ray"
)

// verdict is what checking one address of a cluster concluded.
type verdict string

const (
	// verified: the address answered as Ray (the dashboard's /api/version,
	// the GCS's CheckAlive), with the token where one was needed.
	verified verdict = "verified"
	// authRequired: token auth is on and the token was missing or rejected.
	authRequired verdict = "auth_required"
	// unreachable: no TCP connection, or no answer within the timeout.
	unreachable verdict = "unreachable"
	// notRay: something answered, but not as Ray's dashboard or GCS.
	notRay verdict = "not_ray"
	// failed: Ray-like, but the check failed otherwise (an HTTP 5xx, a
	// non-OK GCS status, a TLS error).
	failed verdict = "error"
)

// rank orders the verdicts of an unverified cluster: the one it is
// reported under is the most telling.
var rank = map[verdict]int{verified: 0, authRequired: 1, notRay: 2, failed: 3, unreachable: 4}

// check is what verifying one address of a cluster learnt.
type check struct {
	part    string // "dashboard" or "gcs"
	target  string // the dashboard URL or GCS host:port checked
	verdict verdict
	problem string // why it is not verified, in words
	elapsed time.Duration

	rayVersion, sessionName, clusterID, sessionDir string
	// dashboardURL and gcsAddress are the addresses this check vouches
	// for: its own target once verified, and what the cluster told of the
	// other one.
	dashboardURL, gcsAddress string
	nodeCount                int32 // -1: unknown
	resources                map[string]float64
	attrs                    map[string]string
	evidence                 []string
	// warnings are detail requests that failed after the address was
	// verified; the cluster is still verified.
	warnings []string
}

// verifier checks addresses with one token and timeout.
type verifier struct {
	tok     token
	timeout time.Duration // the whole cluster's budget; also each request's
	now     func() time.Time
	// local says whether a host is this machine (loopback or one of its
	// interface addresses).
	local func(host string) bool

	mu sync.Mutex // guards the check's slices during parallel detail calls
}

func newCheck(part, target string) *check {
	return &check{part: part, target: target, nodeCount: -1, attrs: map[string]string{}}
}

func (v *verifier) ms(since time.Time) string {
	return strconv.FormatInt(v.now().Sub(since).Milliseconds(), 10) + " ms"
}

func (v *verifier) addEvidence(c *check, format string, args ...any) {
	v.mu.Lock()
	c.evidence = append(c.evidence, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

func (v *verifier) warn(c *check, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	v.mu.Lock()
	c.evidence = append(c.evidence, msg)
	c.warnings = append(c.warnings, msg)
	v.mu.Unlock()
}

// reach opens (and closes) a TCP connection to hostPort, so that an
// unreachable address is told apart from one that answers badly.
func (v *verifier) reach(ctx context.Context, c *check, hostPort string) bool {
	start := v.now()
	d := net.Dialer{Timeout: v.timeout}
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		c.verdict = unreachable
		if isTimeout(ctx, err) {
			c.problem = fmt.Sprintf("TCP connect to %s: no answer within %d ms", hostPort, v.timeout.Milliseconds())
		} else {
			c.problem = fmt.Sprintf("TCP connect to %s: %v", hostPort, unwrapOp(err))
		}
		v.addEvidence(c, "%s (%s)", c.problem, v.ms(start))
		return false
	}
	_ = conn.Close()
	return true
}

// dashboard verifies a dashboard URL.
func (v *verifier) dashboard(ctx context.Context, a ray.Address) *check {
	c := newCheck("dashboard", a.String())
	start := v.now()
	defer func() { c.elapsed = v.now().Sub(start) }()
	if !v.reach(ctx, c, a.HostPort()) {
		return c
	}
	open, err := ray.NewDashboard(c.target, "", v.timeout)
	if err != nil {
		c.verdict, c.problem = failed, err.Error()
		return c
	}
	defer open.Close()

	// The authentication mode is open in every mode (Ray ≥ 2.52); the
	// token goes only to a dashboard that asks for it.
	t := v.now()
	mode, err := open.AuthMode(ctx)
	switch {
	case err == nil:
		c.attrs["auth_mode"] = mode
		v.addEvidence(c, "GET %s/api/authentication_mode → %s (%s)", c.target, mode, v.ms(t))
	case errors.Is(err, ray.ErrNotFound):
		v.addEvidence(c, "GET %s/api/authentication_mode → 404: Ray before 2.52, no token auth (%s)", c.target, v.ms(t))
	case isTimeout(ctx, err):
		c.verdict, c.problem = unreachable, fmt.Sprintf("GET %s/api/authentication_mode: no answer within %d ms", c.target, v.timeout.Milliseconds())
		v.addEvidence(c, "%s", c.problem)
		return c
	default:
		v.addEvidence(c, "%v (%s)", err, v.ms(t))
	}
	wantsToken := mode == "token" || mode == "k8s" || errors.Is(err, ray.ErrAuth)
	client, sent := open, false
	if wantsToken && v.tok.value != "" {
		client, err = ray.NewDashboard(c.target, v.tok.value, v.timeout)
		if err != nil {
			c.verdict, c.problem = failed, err.Error()
			return c
		}
		defer client.Close()
		sent = true
		c.attrs["token_source"] = v.tok.source
	}

	t = v.now()
	info, err := client.Version(ctx)
	if err != nil {
		v.fail(ctx, c, err, sent, "the dashboard")
		v.addEvidence(c, "GET %s/api/version: %s (%v) (%s)", c.target, c.verdict, err, v.ms(t))
		return c
	}
	c.verdict = verified
	c.rayVersion, c.sessionName, c.dashboardURL = info.RayVersion, info.SessionName, c.target
	v.addEvidence(c, "GET %s/api/version → ray %s, %s (%s)", c.target, info.RayVersion, orNone(info.SessionName, "no session name"), v.ms(t))

	var wg sync.WaitGroup
	wg.Go(func() {
		t := v.now()
		id, err := client.ClusterID(ctx)
		if err != nil {
			v.warn(c, "GET %s/cluster_id: %v (%s)", c.target, err, v.ms(t))
			return
		}
		v.mu.Lock()
		c.clusterID = id
		v.mu.Unlock()
		v.addEvidence(c, "GET %s/cluster_id → %s (%s)", c.target, id, v.ms(t))
	})
	wg.Go(func() {
		t := v.now()
		nodes, err := client.Nodes(ctx)
		truncated := errors.Is(err, ray.ErrTruncated)
		if err != nil && !truncated {
			v.warn(c, "GET %s/api/v0/nodes: %v (%s)", c.target, err, v.ms(t))
			return
		}
		summary := v.setNodes(c, nodes, truncated)
		v.addEvidence(c, "GET %s/api/v0/nodes → %s (%s)", c.target, summary, v.ms(t))
	})
	wg.Wait()
	return c
}

// gcs verifies a GCS address.
func (v *verifier) gcs(ctx context.Context, a ray.Address) *check {
	c := newCheck("gcs", a.HostPort())
	start := v.now()
	defer func() { c.elapsed = v.now().Sub(start) }()
	if !v.reach(ctx, c, c.target) {
		return c
	}
	// A GCS in token mode refuses CheckAlive without the token; it is sent
	// only then.
	t := v.now()
	g, err := ray.DialGCS(ctx, c.target, "")
	sent := false
	if errors.Is(err, ray.ErrAuth) {
		c.attrs["auth_mode"] = "token"
		v.addEvidence(c, "GCS %s CheckAlive without a token → UNAUTHENTICATED: token auth is on (%s)", c.target, v.ms(t))
		if v.tok.value != "" {
			t = v.now()
			g, err = ray.DialGCS(ctx, c.target, v.tok.value)
			sent = true
			c.attrs["token_source"] = v.tok.source
		}
	}
	if err != nil {
		v.fail(ctx, c, err, sent, "the GCS")
		v.addEvidence(c, "GCS %s CheckAlive: %s (%v) (%s)", c.target, c.verdict, err, v.ms(t))
		return c
	}
	defer g.Close()
	g.CallTimeout = v.timeout
	c.verdict = verified
	c.rayVersion, c.gcsAddress = g.RayVersion, c.target
	v.addEvidence(c, "GCS %s CheckAlive → ray %s (%s)", c.target, g.RayVersion, v.ms(t))

	var wg sync.WaitGroup
	wg.Go(func() {
		t := v.now()
		id, err := g.ClusterID(ctx)
		if err != nil {
			v.warn(c, "GCS %s GetClusterId: %v (%s)", c.target, err, v.ms(t))
			return
		}
		v.mu.Lock()
		c.clusterID = id
		v.mu.Unlock()
		v.addEvidence(c, "GCS %s GetClusterId → %s (%s)", c.target, id, v.ms(t))
	})
	var headSession, kvSession string
	wg.Go(func() {
		t := v.now()
		nodes, err := g.Nodes(ctx)
		if err != nil {
			v.warn(c, "GCS %s GetAllNodeInfo: %v (%s)", c.target, err, v.ms(t))
			return
		}
		summary := v.setNodes(c, nodes, false)
		if h, ok := ray.AliveHead(nodes); ok && h.SessionDir != "" {
			v.mu.Lock()
			c.sessionDir, headSession = h.SessionDir, h.SessionName
			v.mu.Unlock()
		}
		v.addEvidence(c, "GCS %s GetAllNodeInfo → %s (%s)", c.target, summary, v.ms(t))
	})
	wg.Go(func() {
		t := v.now()
		s, err := g.SessionName(ctx)
		if err != nil {
			v.warn(c, "GCS %s KV session/session_name: %v (%s)", c.target, err, v.ms(t))
			return
		}
		v.mu.Lock()
		kvSession = s
		v.mu.Unlock()
		v.addEvidence(c, "GCS %s KV session/session_name → %s (%s)", c.target, s, v.ms(t))
	})
	wg.Go(func() {
		t := v.now()
		d, err := g.DashboardAddress(ctx)
		if errors.Is(err, ray.ErrNotFound) {
			v.addEvidence(c, "GCS %s KV dashboard/dashboard: none (no dashboard) (%s)", c.target, v.ms(t))
			return
		}
		if err != nil {
			v.warn(c, "GCS %s KV dashboard/dashboard: %v (%s)", c.target, err, v.ms(t))
			return
		}
		u, why := v.dashboardFromKV(a.Host, d)
		v.mu.Lock()
		c.dashboardURL = u
		if u == "" {
			c.attrs["gcs_kv_dashboard"] = d
		}
		v.mu.Unlock()
		if u == "" {
			v.addEvidence(c, "GCS %s KV dashboard/dashboard → %s: %s (%s)", c.target, d, why, v.ms(t))
		} else {
			v.addEvidence(c, "GCS %s KV dashboard/dashboard → %s (%s)", c.target, d, v.ms(t))
		}
	})
	wg.Wait()
	c.sessionName = kvSession
	if c.sessionName == "" {
		c.sessionName = headSession
	}
	return c
}

// fail sets the verdict and problem of a failed verification request.
func (v *verifier) fail(ctx context.Context, c *check, err error, sent bool, who string) {
	var se *ray.StatusError
	switch {
	case errors.Is(err, ray.ErrAuth):
		c.verdict = authRequired
		if sent {
			c.problem = fmt.Sprintf("auth required: %s rejected the token from %s", who, v.tok.source)
		} else {
			c.problem = "auth required: token auth is on and no token was found " +
				"(set auth_token or auth_token_file for this cluster, or RAY_AUTH_TOKEN)"
		}
	case isTimeout(ctx, err):
		c.verdict = unreachable
		c.problem = fmt.Sprintf("connected, but no answer within %d ms", v.timeout.Milliseconds())
	case errors.Is(err, ray.ErrNotRay), errors.Is(err, ray.ErrNotFound):
		c.verdict = notRay
		if who == "the dashboard" {
			c.problem = "not a Ray dashboard: " + err.Error()
		} else {
			c.problem = "not a Ray GCS: " + err.Error()
		}
	case errors.As(err, &se):
		c.verdict, c.problem = failed, err.Error()
	case status.Code(err) == codes.Unavailable:
		// The TCP connect succeeded, so this is no gRPC (HTTP/2) server.
		c.verdict = notRay
		msg := err.Error()
		var se interface{ GRPCStatus() *status.Status }
		if errors.As(err, &se) {
			msg = se.GRPCStatus().Message()
		}
		c.problem = "not a Ray GCS: no gRPC answer: " + msg
	default:
		c.verdict, c.problem = failed, err.Error()
	}
}

// setNodes records the alive nodes and their summed resources (ray.AliveTotals)
// and says them in words for the evidence.
func (v *verifier) setNodes(c *check, nodes []ray.Node, truncated bool) string {
	alive, res := ray.AliveTotals(nodes)
	summary := fmt.Sprintf("%d alive of %d nodes", alive, len(nodes))
	v.mu.Lock()
	defer v.mu.Unlock()
	c.nodeCount = int32(alive)
	if truncated {
		c.nodeCount = -1
		c.attrs["nodes_truncated"] = "true"
		summary += " (truncated: more nodes than the State API lists)"
	}
	if len(res) > 0 {
		c.resources = res
	}
	return summary
}

// dashboardFromKV turns the GCS's KV dashboard/dashboard ("host:port") into
// a URL reachable from here: a wildcard host means the GCS's host; a
// loopback host is only this machine's if the GCS is on this machine too,
// else the URL is withheld (why says so) rather than point at a dashboard
// on this machine that is not the cluster's.
func (v *verifier) dashboardFromKV(gcsHost, kv string) (url, why string) {
	host, port, err := net.SplitHostPort(kv)
	if err != nil {
		return "", "not host:port"
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.IsUnspecified():
		host = gcsHost
	case (ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost")) && !v.local(gcsHost):
		return "", "the dashboard listens on the head's loopback only (start it with --dashboard-host=0.0.0.0 to reach it from here)"
	}
	return "http://" + net.JoinHostPort(host, port), ""
}

// isLocalHost is true for loopback names and addresses and this machine's
// interface addresses; host names other than localhost are not resolved.
func isLocalHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// isTimeout is true when the cluster's budget ran out (ctx ended) or a
// request timed out: ray.IsTimeout for HTTP and TCP, DEADLINE_EXCEEDED for
// the GCS's gRPC calls.
func isTimeout(ctx context.Context, err error) bool {
	return ctx.Err() != nil || ray.IsTimeout(err) || status.Code(err) == codes.DeadlineExceeded
}

// unwrapOp drops the "dial tcp host:port:" prefix the caller already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
