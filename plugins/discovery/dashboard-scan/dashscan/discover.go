package dashscan

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/castray/castray/sdk"
)

const (
	// Name is the plugin's name, also the candidates' source.
	Name = "dashboard-scan"
	// Version is the plugin's own version.
	Version = "0.1.0"
	// maxNotRayNotes bounds the per-target notes about HTTP servers that
	// are not Ray; the rest are counted in the closing note.
	maxNotRayNotes = 10
)

// Discoverer implements sdk.Discoverer.
type Discoverer struct {
	log hclog.Logger

	mu  sync.Mutex
	cfg Config

	// getenv and homeDir are os.Getenv and os.UserHomeDir; tests replace
	// them.
	getenv  func(string) string
	homeDir func() (string, error)
}

// New returns a Discoverer with the default configuration.
func New(log hclog.Logger) *Discoverer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Discoverer{log: log, cfg: defaultConfig(), getenv: os.Getenv, homeDir: os.UserHomeDir}
}

// Info implements sdk.Plugin.
func (d *Discoverer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          Name,
		Kind:          sdk.KindDiscovery,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Finds Ray dashboards on configured hosts and ports (8265-8269 by default) and reads their nodes and resources.",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (d *Discoverer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return schema(), nil
}

// Configure implements sdk.Plugin.
func (d *Discoverer) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cfg, errs := applyConfig(defaultConfig(), req.GetConfigJson())
	if errs != nil {
		return errs, nil
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	return nil, nil
}

func (d *Discoverer) config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// scope is what one Discover call probes.
type scope struct {
	cfg          Config
	targets      []target
	probeTimeout time.Duration
}

// scopeOf resolves the request against the configuration.
func (d *Discoverer) scopeOf(req *sdk.DiscoverRequest) (scope, error) {
	cfg := d.config()
	if raw := req.GetConfigJson(); len(bytes.TrimSpace(raw)) > 0 {
		c, errs := applyConfig(cfg, raw)
		if errs != nil {
			return scope{}, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(errs))
		}
		cfg = c
	}
	hostEntries := cfg.Hosts
	if len(req.GetHosts()) > 0 {
		hostEntries = req.GetHosts()
	}
	hosts, err := expandHosts(hostEntries, cfg.MaxHosts, cfg.AllowWideScan)
	if err != nil {
		return scope{}, fmt.Errorf("hosts: %w", err)
	}
	ports := cfg.portList()
	if len(req.GetPorts()) > 0 {
		set := map[int]bool{}
		for _, p := range req.GetPorts() {
			if p < 1 || p > 65535 {
				return scope{}, fmt.Errorf("ports: %d is not a TCP port", p)
			}
			set[int(p)] = true
		}
		ports = ports[:0:0]
		for p := range set {
			ports = append(ports, p)
		}
		sort.Ints(ports)
		if len(ports) > narrowMaxPorts && !cfg.AllowWideScan {
			return scope{}, fmt.Errorf("ports: %d ports exceed %d without allow_wide_scan", len(ports), narrowMaxPorts)
		}
	}
	sc := scope{cfg: cfg, probeTimeout: time.Duration(cfg.ProbeTimeoutMS) * time.Millisecond}
	if ms := req.GetProbeTimeoutMs(); ms > 0 {
		sc.probeTimeout = time.Duration(ms) * time.Millisecond
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, p := range ports {
			t := makeTarget(cfg.Scheme, h, p)
			if !seen[t.base] {
				seen[t.base] = true
				sc.targets = append(sc.targets, t)
			}
		}
	}
	// Addresses the caller knows of: dashboard URLs are probed as well
	// (a GCS address or ray:// is for other strategies).
	for _, a := range req.GetAddresses() {
		if t, ok := dashboardTarget(a); ok && !seen[t.base] {
			seen[t.base] = true
			sc.targets = append(sc.targets, t)
		}
	}
	return sc, nil
}

// dashboardTarget accepts "http://host:port" or "https://host:port"
// (a trailing slash is fine; a path is not).
func dashboardTarget(a string) (target, bool) {
	u, err := url.Parse(strings.TrimSpace(a))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return target{}, false
	}
	port := u.Port()
	if port == "" {
		return target{}, false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return target{}, false
	}
	return makeTarget(u.Scheme, u.Hostname(), p), true
}

// output is where the workers report, straight to the sink (a DiscoverSink
// is safe for concurrent use). It keeps the sink's first error (the caller
// went away) and then cancels the work.
type output struct {
	sink   sdk.DiscoverSink
	err    atomic.Pointer[error]
	cancel context.CancelFunc
}

func (o *output) failed(err error) {
	if err != nil && o.err.CompareAndSwap(nil, &err) {
		o.cancel()
	}
}

func (o *output) candidate(c *sdk.ClusterCandidate) {
	if o.error() == nil {
		o.failed(o.sink.Candidate(c))
	}
}

func (o *output) note(n *sdk.DiscoverNote) {
	if o.error() == nil {
		o.failed(o.sink.Note(n))
	}
}

func (o *output) error() error {
	if p := o.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Discover implements sdk.Discoverer: it probes every host × port of the
// scope with at most concurrency probes in flight and streams a candidate
// per Ray dashboard as soon as its probe ends.
func (d *Discoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	start := time.Now()
	sc, err := d.scopeOf(req)
	if err != nil {
		return nil, err
	}
	cfg := sc.cfg

	// Work stops a little before the call's budget so that the summary
	// still gets out.
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	if ms := req.GetTimeoutMs(); ms > 0 {
		budget := time.Duration(ms) * time.Millisecond
		budget -= min(budget/10, 250*time.Millisecond)
		var c2 context.CancelFunc
		work, c2 = context.WithTimeout(work, budget)
		defer c2()
	}

	ls := &output{sink: sink, cancel: cancel}
	tok, tokProblem := resolveToken(cfg.AuthToken, d.getenv, d.homeDir)
	if tokProblem != "" {
		ls.note(&sdk.DiscoverNote{Level: "warn", Message: tokProblem + "; probing without a token"})
	}

	client := newClient(cfg, sc.probeTimeout)
	defer client.CloseIdleConnections()
	p := &prober{
		client:        client,
		tok:           tok,
		probeTimeout:  sc.probeTimeout,
		detailTimeout: max(time.Duration(cfg.DetailTimeoutMS)*time.Millisecond, sc.probeTimeout),
		nodeLimit:     cfg.NodeLimit,
	}

	var probes, candidates, closed, timedOut, notRay, notRayNoted atomic.Int64
	// At most cfg.Concurrency targets at once; none is started once the
	// round is over.
	var pool errgroup.Group
	pool.SetLimit(cfg.Concurrency)
	for _, t := range sc.targets {
		if work.Err() != nil {
			break
		}
		pool.Go(func() error {
			if work.Err() != nil {
				return nil
			}
			probes.Add(1)
			o := p.probe(work, t)
			switch {
			case o.candidate != nil:
				for _, n := range o.notes {
					ls.note(n)
				}
				ls.candidate(o.candidate)
				candidates.Add(1)
				d.log.Debug("dashboard found", "url", o.candidate.DashboardUrl, "ray", o.candidate.RayVersion,
					"auth_required", o.candidate.AuthRequired, "elapsed_ms", o.candidate.ElapsedMs)
			case o.kind == failClosed:
				closed.Add(1)
			case o.kind == failTimeout:
				timedOut.Add(1)
			case o.notRay != "" && work.Err() == nil:
				notRay.Add(1)
				if notRayNoted.Add(1) <= maxNotRayNotes {
					ls.note(&sdk.DiscoverNote{Level: "info", Target: t.base, Message: "not a Ray dashboard: " + o.notRay})
				}
			}
			return nil
		})
	}
	_ = pool.Wait() // the workers report through ls, never an error

	if err := ls.error(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sum := &sdk.DiscoverSummary{
		Probes:     uint32(probes.Load()),
		Candidates: uint32(candidates.Load()),
		ElapsedMs:  uint32(time.Since(start).Milliseconds()),
	}
	if n := int64(len(sc.targets)) - probes.Load(); n > 0 || work.Err() != nil {
		sum.Errors = append(sum.Errors, fmt.Sprintf("time budget of %d ms ran out: %d of %d targets not probed, some probes cut short",
			req.GetTimeoutMs(), n, len(sc.targets)))
	}
	ls.note(&sdk.DiscoverNote{Level: "info", Message: fmt.Sprintf(
		"probed %d targets in %d ms: %d Ray dashboards, %d closed, %d timed out (probe timeout %d ms), %d other HTTP servers",
		probes.Load(), sum.ElapsedMs, candidates.Load(), closed.Load(), timedOut.Load(), sc.probeTimeout.Milliseconds(), notRay.Load())})
	if err := ls.error(); err != nil {
		return nil, err
	}
	return sum, nil
}
