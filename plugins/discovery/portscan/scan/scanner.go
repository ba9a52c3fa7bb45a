package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// Name and Version identify the plugin.
const (
	Name    = "portscan"
	Version = "0.1.0"
)

// userAgent is sent with every HTTP request and gRPC call (never a
// browser's: Ray refuses some requests from a "Mozilla" User-Agent).
const userAgent = "castray-discovery/" + Version

// DefaultProbeTimeout is used when the request gives no probe timeout.
const DefaultProbeTimeout = time.Second

// Config is the plugin's config block.
type Config struct {
	// Hosts are host names, IP addresses or CIDR blocks to scan.
	Hosts []string `json:"hosts"`
	// GCSPorts are GCS ports to probe besides 6379.
	GCSPorts []int `json:"gcs_ports"`
	// ExtraPorts are more ports to fingerprint.
	ExtraPorts []int `json:"extra_ports"`
	// Concurrency bounds the ports probed at once.
	Concurrency int `json:"concurrency"`
	// RatePerSecond bounds new connection attempts per second.
	RatePerSecond float64 `json:"rate_per_second"`
	// AllowWideScan permits blocks of more than 256 addresses.
	AllowWideScan bool `json:"allow_wide_scan"`
	// AuthToken is the Ray auth token; empty: RAY_AUTH_TOKEN,
	// RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token.
	AuthToken string `json:"auth_token"`
}

// DefaultConfig is the configuration without a config block.
func DefaultConfig() Config {
	return Config{Hosts: []string{"127.0.0.1"}, Concurrency: 64, RatePerSecond: 500}
}

func (c Config) clone() Config {
	c.Hosts = slices.Clone(c.Hosts)
	c.GCSPorts = slices.Clone(c.GCSPorts)
	c.ExtraPorts = slices.Clone(c.ExtraPorts)
	return c
}

// validate checks a decoded config; every problem names its key.
func (c Config) validate() []*sdk.ConfigError {
	var errs []*sdk.ConfigError
	bad := func(key, format string, a ...any) {
		errs = append(errs, &sdk.ConfigError{Key: key, Message: fmt.Sprintf(format, a...)})
	}
	if len(c.Hosts) == 0 {
		bad("hosts", "must list at least one host")
	}
	for i, h := range c.Hosts {
		if _, err := parseHostEntry(h, c.AllowWideScan); err != nil {
			bad(fmt.Sprintf("hosts[%d]", i), "%v", err)
		}
	}
	for _, list := range []struct {
		key   string
		ports []int
	}{{"gcs_ports", c.GCSPorts}, {"extra_ports", c.ExtraPorts}} {
		for i, p := range list.ports {
			if p < 1 || p > 65535 {
				bad(fmt.Sprintf("%s[%d]", list.key, i), "port must be between 1 and 65535, got %d", p)
			}
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("concurrency", "must be between 1 and 1024, got %d", c.Concurrency)
	}
	if !(c.RatePerSecond > 0) || c.RatePerSecond > 100000 {
		bad("rate_per_second", "must be more than 0 and at most 100000, got %v", c.RatePerSecond)
	}
	return errs
}

// Scanner implements sdk.Discoverer.
type Scanner struct {
	log hclog.Logger

	mu  sync.Mutex
	cfg Config

	// clock paces the rate limiter; nil is the real one (tests use a fake
	// clock that never waits).
	clock clock
}

// New returns a Scanner with the default configuration.
func New(log hclog.Logger) *Scanner {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Scanner{log: log, cfg: DefaultConfig()}
}

// Info implements sdk.Plugin.
func (s *Scanner) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          Name,
		Kind:          sdk.KindDiscovery,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Scans hosts (loopback by default) on Ray's well-known ports and fingerprints GCS, dashboard, client server and dashboard agent by protocol.",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (s *Scanner) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "hosts", Type: "list(string)", Description: "Host names, IP addresses or CIDR blocks to scan. A block of more than 256 addresses needs allow_wide_scan; more than 65536 are refused.", DefaultJson: `["127.0.0.1"]`},
		{Name: "gcs_ports", Type: "list(int)", Description: "GCS ports to probe besides 6379.", DefaultJson: `[]`},
		{Name: "extra_ports", Type: "list(int)", Description: "More ports to fingerprint (any Ray protocol), after 6379, gcs_ports, 10001, 8265-8269 and 52365.", DefaultJson: `[]`},
		{Name: "concurrency", Type: "int", Description: "Ports probed at once (1-1024).", DefaultJson: "64"},
		{Name: "rate_per_second", Type: "float", Description: "New connection attempts per second (token bucket; burst = min(concurrency, rate)).", DefaultJson: "500"},
		{Name: "allow_wide_scan", Type: "bool", Description: "Allow CIDR blocks wider than a /24 (IPv4) or /120 (IPv6), in the config and in requests.", DefaultJson: "false"},
		{Name: "auth_token", Type: "string", Description: "Ray auth token. Empty: RAY_AUTH_TOKEN, then the file named by RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token. Sent only to ports that already answered like Ray.", DefaultJson: `""`},
	}}, nil
}

// Configure implements sdk.Plugin.
func (s *Scanner) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cfg := DefaultConfig()
	if errs := sdk.DecodeConfig(req.GetConfigJson(), &cfg); errs != nil {
		return errs, nil
	}
	if errs := cfg.validate(); errs != nil {
		return errs, nil
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	return nil, nil
}

func (s *Scanner) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.clone()
}

// output is where the probes report, straight to the sink (a DiscoverSink
// is safe for concurrent use). It keeps the sink's first error (the caller
// went away), which stops the scan through stop.
type output struct {
	sink sdk.DiscoverSink
	stop context.CancelFunc
	err  atomic.Pointer[error]
}

func (o *output) failed(err error) error {
	if err != nil && o.err.CompareAndSwap(nil, &err) {
		o.stop()
	}
	return o.error()
}

func (o *output) candidate(c *sdk.ClusterCandidate) error {
	if err := o.error(); err != nil {
		return err
	}
	return o.failed(o.sink.Candidate(c))
}

func (o *output) note(level, target, format string, a ...any) {
	if o.error() == nil {
		o.failed(o.sink.Note(&sdk.DiscoverNote{Level: level, Target: target, Message: fmt.Sprintf(format, a...)}))
	}
}

func (o *output) error() error {
	if p := o.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Discover implements sdk.Discoverer.
func (s *Scanner) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	start := time.Now()
	cfg := s.config()
	if raw := req.GetConfigJson(); len(bytes.TrimSpace(raw)) > 0 {
		if errs := sdk.DecodeConfig(raw, &cfg); errs != nil {
			return nil, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(errs))
		}
		if errs := cfg.validate(); errs != nil {
			return nil, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(errs))
		}
	}
	parent := ctx
	budget := ctx
	if ms := req.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		budget, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	ctx, stop := context.WithCancel(budget)
	defer stop()
	probeTimeout := DefaultProbeTimeout
	if ms := req.GetProbeTimeoutMs(); ms > 0 {
		probeTimeout = time.Duration(ms) * time.Millisecond
	}

	out := &output{sink: sink, stop: stop}
	sum := &sdk.DiscoverSummary{}
	token, tokenSource, problem := resolveToken(cfg.AuthToken)
	if problem != "" {
		out.note("warn", "auth token", "%s", problem)
	}
	if token != "" {
		s.log.Debug("auth token available", "source", tokenSource)
	}

	// Scope: the request's hosts and ports, else the configuration's.
	hostList := cfg.Hosts
	if len(req.GetHosts()) > 0 {
		hostList = req.GetHosts()
	}
	var entries []hostEntry
	for _, h := range hostList {
		e, err := parseHostEntry(h, cfg.AllowWideScan)
		if err != nil {
			msg := fmt.Sprintf("host %v; not scanned", err)
			out.note("error", h, "%s", msg)
			sum.Errors = append(sum.Errors, msg)
			continue
		}
		entries = append(entries, e)
	}
	ports := defaultPorts(cfg.GCSPorts, cfg.ExtraPorts)
	if len(req.GetPorts()) > 0 {
		ports = requestPorts(req.GetPorts(), ports)
	}
	extra := addressTargets(req.GetAddresses(), entries, ports)

	clk := s.clock
	if clk == nil {
		clk = realClock{}
	}
	sc := &scan{
		ctx: ctx, log: s.log, out: out, timeout: probeTimeout, token: token,
		limiter: &limiter{
			lim:   rate.NewLimiter(rate.Limit(cfg.RatePerSecond), min(cfg.Concurrency, max(1, int(cfg.RatePerSecond)))),
			clock: clk,
		},
		local: localAddrs(),
	}
	total := len(extra)
	for _, e := range entries {
		total += e.count * len(ports)
	}
	sc.run(entries, ports, extra, min(cfg.Concurrency, max(total, 1)))

	sum.Probes = uint32(sc.probes.Load())
	sum.Candidates = uint32(sc.candidates.Load())
	sum.ElapsedMs = uint32(time.Since(start).Milliseconds())
	if err := parent.Err(); err != nil {
		return nil, err
	}
	if err := out.error(); err != nil {
		return nil, err
	}
	if budget.Err() != nil {
		sum.Errors = append(sum.Errors, fmt.Sprintf("time budget of %d ms ran out after %d of %d probes", req.GetTimeoutMs(), sc.probes.Load(), total))
	}
	return sum, nil
}

// target is one host with the ports to probe on it.
type target struct {
	host  string
	ports []portSpec
}

// addressTargets turns the request's known addresses ("host:port",
// "ray://host:port", "http://host:port") into probes of exactly those
// ports, leaving out those the scan covers anyway.
func addressTargets(addrs []string, entries []hostEntry, ports []portSpec) []target {
	byHost := map[string]*target{}
	var order []string
	for _, a := range addrs {
		r := roleUnknown
		switch {
		case strings.HasPrefix(a, "ray://"):
			r, a = roleClient, strings.TrimPrefix(a, "ray://")
		case strings.HasPrefix(a, "http://"):
			r, a = roleDashboard, strings.TrimPrefix(a, "http://")
		case strings.Contains(a, "://"):
			continue
		}
		a = strings.TrimRight(a, "/")
		host, p, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		var port int
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil || port < 1 || port > 65535 || fmt.Sprint(port) != p {
			continue
		}
		if e, err := parseHostEntry(host, false); err != nil || e.host == "" {
			continue
		}
		if covered(host, port, entries, ports) {
			continue
		}
		t := byHost[host]
		if t == nil {
			t = &target{host: host}
			byHost[host] = t
			order = append(order, host)
		}
		if !slices.ContainsFunc(t.ports, func(ps portSpec) bool { return ps.Port == port }) {
			t.ports = append(t.ports, portSpec{Port: port, Role: r})
		}
	}
	out := make([]target, 0, len(order))
	for _, h := range order {
		out = append(out, *byHost[h])
	}
	return out
}

func covered(host string, port int, entries []hostEntry, ports []portSpec) bool {
	if !slices.ContainsFunc(ports, func(ps portSpec) bool { return ps.Port == port }) {
		return false
	}
	for _, e := range entries {
		if e.host != "" && e.host == host {
			return true
		}
		if e.prefix.IsValid() {
			for a := range e.addrs() {
				if a == host {
					return true
				}
			}
		}
	}
	return false
}

// localAddrs lists the addresses of this machine's interfaces.
func localAddrs() map[string]bool {
	m := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				m[ipn.IP.String()] = true
			}
		}
	}
	return m
}

// scan is one Discover call's work.
type scan struct {
	ctx     context.Context
	log     hclog.Logger
	out     *output
	timeout time.Duration
	token   string
	limiter *limiter
	local   map[string]bool

	probes     atomic.Int64
	candidates atomic.Int64
}

// hostState collects one host's port results until all are in.
type hostState struct {
	host    string
	start   time.Time
	mu      sync.Mutex
	pending int
	results []portResult
}

// run probes every port of every host, at most `limit` at once, and emits
// each host's candidates as soon as its last port is done.
func (sc *scan) run(entries []hostEntry, ports []portSpec, extra []target, limit int) {
	var g errgroup.Group
	g.SetLimit(limit)
	send := func(t target) bool {
		if len(t.ports) == 0 {
			return true
		}
		h := &hostState{host: t.host, pending: len(t.ports), start: time.Now()}
		for i, p := range t.ports {
			if sc.ctx.Err() != nil {
				// Account for the ports never handed out, so the host is
				// still reported with what its probed ports found.
				h.mu.Lock()
				h.pending -= len(t.ports) - i
				done := h.pending == 0
				h.mu.Unlock()
				if done {
					sc.emit(h)
				}
				return false
			}
			// Blocks while `limit` probes run; a cancelled scan ends
			// them promptly.
			g.Go(func() error {
				sc.do(h, p)
				return nil
			})
		}
		return true
	}
feed:
	for _, e := range entries {
		for a := range e.addrs() {
			if !send(target{host: a, ports: ports}) {
				break feed
			}
		}
	}
	if sc.ctx.Err() == nil {
		for _, t := range extra {
			if !send(t) {
				break
			}
		}
	}
	_ = g.Wait() // the probes report through sc.out, never an error
}

// do probes one port and, if it was the host's last, emits the host.
func (sc *scan) do(h *hostState, ps portSpec) {
	var res portResult
	res.port, res.role = ps.Port, ps.Role
	if err := sc.limiter.wait(sc.ctx); err != nil {
		res.skipped = true
	} else {
		sc.probes.Add(1)
		res = sc.probe(h.host, ps)
	}
	h.mu.Lock()
	h.results = append(h.results, res)
	h.pending--
	done := h.pending == 0
	h.mu.Unlock()
	if done {
		sc.emit(h)
	}
}

// portResult is what one port turned out to be.
type portResult struct {
	port    int
	role    role
	skipped bool // the scan ended before this port was probed
	closed  bool
	dialErr error
	found   *ray.Finding // the port answered (Ray or not: see found.Kind)
}

// probe connects to one port and, if it is open, fingerprints it with
// sdk/ray's Probe: the protocol the port's role suggests first, then the
// other one (a listener that said nothing is not asked twice).
func (sc *scan) probe(host string, ps portSpec) portResult {
	res := portResult{port: ps.Port, role: ps.Role}
	f, err := ray.Probe(sc.ctx, host, ps.Port, ray.ProbeOptions{
		Token:     sc.token,
		Timeout:   sc.timeout,
		Expect:    ps.Role.kind(),
		Details:   true,
		UserAgent: userAgent,
	})
	switch {
	case err == nil:
		res.found = f
	case errors.Is(err, syscall.ECONNREFUSED):
		res.closed = true
	case sc.ctx.Err() != nil:
		res.skipped = true
	default:
		res.dialErr = err
	}
	return res
}

// clock is the rate limiter's time.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limiter paces the new connection attempts of one Discover call: a token
// bucket (rate.Limiter) read on clock, so tests need not wait.
type limiter struct {
	lim   *rate.Limiter
	clock clock
}

// wait takes one token, sleeping until it is due or ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.clock.Now()
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("rate limiter: burst %d is below 1", l.lim.Burst())
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := l.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(l.clock.Now())
			return err
		}
	}
	return nil
}

// emit groups a finished host's findings into candidates and notes.
func (sc *scan) emit(h *hostState) {
	h.mu.Lock()
	results := slices.Clone(h.results)
	h.mu.Unlock()
	slices.SortFunc(results, func(a, b portResult) int { return a.port - b.port })
	cands, notes := group(h.host, results, sc.local)
	elapsed := uint32(time.Since(h.start).Milliseconds())
	for _, n := range notes {
		sc.out.note(n.GetLevel(), n.GetTarget(), "%s", n.GetMessage())
	}
	for _, c := range cands {
		c.ElapsedMs = elapsed
		if sc.out.candidate(c) == nil {
			sc.candidates.Add(1)
		}
	}
}
