package verify

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

const (
	// Name is the plugin's name, also the candidates' source.
	Name = "static"
	// Version is the plugin's own version.
	Version = "0.1.0"
)

// Discoverer implements sdk.Discoverer.
type Discoverer struct {
	log hclog.Logger

	mu  sync.Mutex
	cfg Config

	// Replaced by tests: the clock (evidence and elapsed times only; no
	// decision depends on it), the token lookup's environment, and what
	// counts as this machine.
	now     func() time.Time
	env     tokenEnv
	isLocal func(host string) bool
}

// New returns a Discoverer with the default configuration: no clusters.
func New(log hclog.Logger) *Discoverer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Discoverer{
		log: log, cfg: defaultConfig(), now: time.Now,
		env:     tokenEnv{getenv: os.Getenv, homeDir: os.UserHomeDir},
		isLocal: isLocalHost,
	}
}

// Info implements sdk.Plugin.
func (d *Discoverer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          Name,
		Kind:          sdk.KindDiscovery,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Reports the Ray clusters listed in its configuration (dashboard URLs, GCS addresses), each verified against the cluster itself.",
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

// job is one configured cluster to verify: the addresses of it that are in
// the request's scope.
type job struct {
	index     int
	spec      ClusterSpec
	dashboard *ray.Address
	gcs       *ray.Address
}

// jobsOf lists the configured clusters within the request's hosts and
// ports (all of them when the request names none) and counts the rest.
func jobsOf(cfg Config, req *sdk.DiscoverRequest) (jobs []job, outside int, err error) {
	hosts, err := parseScope(req.GetHosts())
	if err != nil {
		return nil, 0, err
	}
	ports := map[int]bool{}
	for _, p := range req.GetPorts() {
		ports[int(p)] = true
	}
	in := func(a ray.Address) bool {
		return (len(ports) == 0 || ports[a.Port]) && (hosts == nil || hosts.contains(a.Host))
	}
	for i, spec := range cfg.Clusters {
		j := job{index: i, spec: spec}
		if spec.DashboardURL != "" {
			if a, err := parseDashboard(spec.DashboardURL); err == nil && in(a) {
				j.dashboard = &a
			}
		}
		if spec.GCSAddress != "" {
			if a, err := parseGCS(spec.GCSAddress); err == nil && in(a) {
				j.gcs = &a
			}
		}
		if j.dashboard == nil && j.gcs == nil {
			outside++
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, outside, nil
}

// scopeHosts is a request's hosts: names, IP addresses, CIDR blocks.
type scopeHosts struct {
	names    map[string]bool
	prefixes []netip.Prefix
}

func parseScope(hosts []string) (*scopeHosts, error) {
	if len(hosts) == 0 {
		return nil, nil
	}
	s := &scopeHosts{names: map[string]bool{}}
	for _, h := range hosts {
		h = strings.Trim(strings.TrimSpace(h), "[]")
		if p, err := netip.ParsePrefix(h); err == nil {
			s.prefixes = append(s.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			s.prefixes = append(s.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if h == "" || strings.ContainsAny(h, " /") {
			return nil, fmt.Errorf("hosts: %q is not a host name, IP address or CIDR block", h)
		}
		s.names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return s, nil
}

func (s *scopeHosts) contains(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		for _, p := range s.prefixes {
			if p.Contains(ip.Unmap()) {
				return true
			}
		}
		return false
	}
	return s.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// output is where the workers report, straight to the sink (a DiscoverSink
// is safe for concurrent use). It keeps the sink's first error (the caller
// went away) and then cancels the work.
type output struct {
	sink   sdk.DiscoverSink
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (o *output) send(f func() error) {
	o.mu.Lock()
	failed := o.err != nil
	o.mu.Unlock()
	if failed {
		return
	}
	if err := f(); err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
		o.cancel()
	}
}

func (o *output) candidate(c *sdk.ClusterCandidate) {
	o.send(func() error { return o.sink.Candidate(c) })
}
func (o *output) note(n *sdk.DiscoverNote) { o.send(func() error { return o.sink.Note(n) }) }

func (o *output) error() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Discover implements sdk.Discoverer: it verifies every configured cluster
// in the request's scope, at most concurrency at once, and reports each as
// soon as its verification ends. With no clusters configured it probes
// nothing and reports nothing.
func (d *Discoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	start := d.now()
	cfg := d.config()
	if raw := req.GetConfigJson(); len(bytes.TrimSpace(raw)) > 0 {
		c, errs := applyConfig(cfg, raw)
		if errs != nil {
			return nil, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(errs))
		}
		cfg = c
	}
	jobs, outside, err := jobsOf(cfg, req)
	if err != nil {
		return nil, err
	}

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
	out := &output{sink: sink, cancel: cancel}
	if outside > 0 {
		out.note(&sdk.DiscoverNote{Level: "info", Message: fmt.Sprintf(
			"%d of %d configured clusters are outside the request's hosts and ports: not checked", outside, len(cfg.Clusters))})
	}

	// Ray's own token lookup, once per round and only if a cluster without
	// a token of its own needs it.
	fallback := sync.OnceValues(func() (token, string) {
		t, problem := d.env.fallback()
		if problem != "" {
			out.note(&sdk.DiscoverNote{Level: "warn", Message: "token lookup: " + problem +
				"; clusters without auth_token or auth_token_file are checked without a token"})
			problem = ""
		}
		return t, problem
	})

	var probes, candidates, done atomic.Int64
	// At most cfg.Concurrency clusters at once; none is started once the
	// round is over.
	var pool errgroup.Group
	pool.SetLimit(cfg.Concurrency)
	for _, j := range jobs {
		if work.Err() != nil {
			break
		}
		pool.Go(func() error {
			if work.Err() != nil {
				return nil
			}
			checks := d.verify(work, cfg, j, fallback, out)
			probes.Add(int64(len(checks)))
			if work.Err() != nil {
				return nil // cut short by the round: no verdict
			}
			done.Add(1)
			cands, notes := report(j, checks, cfg.ReportUnverified)
			for _, n := range notes {
				out.note(n)
			}
			for _, c := range cands {
				out.candidate(c)
				candidates.Add(1)
			}
			return nil
		})
	}
	_ = pool.Wait() // the workers report through out, never an error

	if err := out.error(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sum := &sdk.DiscoverSummary{
		Probes:     uint32(probes.Load()),
		Candidates: uint32(candidates.Load()),
		ElapsedMs:  uint32(d.now().Sub(start).Milliseconds()),
	}
	if n := int64(len(jobs)) - done.Load(); n > 0 {
		sum.Errors = append(sum.Errors, fmt.Sprintf("time budget of %d ms ran out: %d of %d clusters not verified", req.GetTimeoutMs(), n, len(jobs)))
	}
	if err := out.error(); err != nil {
		return nil, err
	}
	return sum, nil
}

// verify checks the job's addresses in parallel under the cluster's
// timeout. The dashboard's check comes first in the result.
func (d *Discoverer) verify(ctx context.Context, cfg Config, j job, fallback func() (token, string), out *output) []*check {
	timeout := time.Duration(cfg.TimeoutMS) * time.Millisecond
	if j.spec.TimeoutMS > 0 {
		timeout = time.Duration(j.spec.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, problem := tokenFor(j.spec, fallback)
	if problem != "" {
		out.note(&sdk.DiscoverNote{Level: "warn", Target: j.spec.label(j.index),
			Message: fmt.Sprintf("%s: %s; checking without a token", j.spec.label(j.index), problem)})
	}
	v := &verifier{tok: tok, timeout: timeout, now: d.now, local: d.isLocal}
	var dash, gcs *check
	var wg sync.WaitGroup
	if j.dashboard != nil {
		wg.Go(func() { dash = v.dashboard(ctx, *j.dashboard) })
	}
	if j.gcs != nil {
		wg.Go(func() { gcs = v.gcs(ctx, *j.gcs) })
	}
	wg.Wait()
	var checks []*check
	for _, c := range []*check{dash, gcs} {
		if c != nil {
			checks = append(checks, c)
			d.log.Debug("cluster address checked", "cluster", j.spec.label(j.index), "part", c.part,
				"target", c.target, "verdict", string(c.verdict), "elapsed_ms", c.elapsed.Milliseconds())
		}
	}
	return checks
}

// report turns a cluster's checks into candidates and notes (the rule is
// in the package doc and the README).
func report(j job, checks []*check, reportUnverified bool) ([]*sdk.ClusterCandidate, []*sdk.DiscoverNote) {
	label := j.spec.label(j.index)
	var notes []*sdk.DiscoverNote
	var ok []*check
	for _, c := range checks {
		if c.verdict == verified {
			ok = append(ok, c)
			for _, w := range c.warnings {
				notes = append(notes, &sdk.DiscoverNote{Level: "info", Target: c.target,
					Message: fmt.Sprintf("%s: %s verified, but %s", label, c.part, w)})
			}
			continue
		}
		notes = append(notes, &sdk.DiscoverNote{Level: "warn", Target: c.target,
			Message: fmt.Sprintf("%s: %s %s cannot be verified: %s", label, c.part, c.target, c.problem)})
	}
	if len(ok) == 2 {
		if why := differ(ok[0], ok[1]); why != "" {
			notes = append(notes, &sdk.DiscoverNote{Level: "error", Target: label, Message: fmt.Sprintf(
				"%s: dashboard_url %s and gcs_address %s belong to different clusters (%s); reported apart: fix the entry",
				label, ok[0].target, ok[1].target, why)})
			return []*sdk.ClusterCandidate{candidate(j.spec, ok[:1]), candidate(j.spec, ok[1:])}, notes
		}
	}
	if len(ok) == 0 && !reportUnverified {
		return nil, notes
	}
	return []*sdk.ClusterCandidate{candidate(j.spec, checks)}, notes
}

// differ says why two verified checks are not one cluster ("" if they may
// be).
func differ(a, b *check) string {
	switch {
	case a.clusterID != "" && b.clusterID != "" && a.clusterID != b.clusterID:
		return fmt.Sprintf("cluster id %s vs %s", a.clusterID, b.clusterID)
	case a.sessionName != "" && b.sessionName != "" && a.sessionName != b.sessionName:
		return fmt.Sprintf("session %s vs %s", a.sessionName, b.sessionName)
	}
	return ""
}

// candidate folds checks of one cluster into a candidate. Identifiers come
// from the verified checks, in order (the dashboard's first); an address
// that could not be verified is reported as an address only when nothing
// was verified, else in the attribute unverified_<part>.
func candidate(spec ClusterSpec, checks []*check) *sdk.ClusterCandidate {
	c := &sdk.ClusterCandidate{Source: Name, NodeCount: -1, Status: sdk.StatusUnknown, Attributes: map[string]string{}}
	if spec.Name != "" {
		c.Attributes["static_name"] = spec.Name
	}
	anyVerified := false
	for _, ch := range checks {
		anyVerified = anyVerified || ch.verdict == verified
	}
	worst := verdict("")
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	for _, ch := range checks {
		c.Evidence = append(c.Evidence, ch.evidence...)
		c.Attributes[ch.part+"_check"] = string(ch.verdict)
		if ms := uint32(ch.elapsed.Milliseconds()); ms > c.ElapsedMs {
			c.ElapsedMs = ms
		}
		if ch.verdict == authRequired {
			c.AuthRequired = true
		}
		for _, k := range sortedKeys(ch.attrs) {
			if _, ok := c.Attributes[k]; !ok {
				c.Attributes[k] = ch.attrs[k]
			}
		}
		if ch.verdict != verified {
			if worst == "" || rank[ch.verdict] < rank[worst] {
				worst = ch.verdict
			}
			if anyVerified {
				c.Attributes["unverified_"+ch.part] = ch.target
				continue
			}
			// Nothing verified: the configured addresses are all there is.
			if ch.part == "dashboard" {
				set(&c.DashboardUrl, ch.target)
			} else {
				set(&c.GcsAddress, ch.target)
			}
			continue
		}
		c.Status = sdk.StatusActive
		set(&c.DashboardUrl, ch.dashboardURL)
		set(&c.GcsAddress, ch.gcsAddress)
		set(&c.RayVersion, ch.rayVersion)
		set(&c.SessionName, ch.sessionName)
		set(&c.ClusterId, ch.clusterID)
		set(&c.SessionDir, ch.sessionDir)
		if c.NodeCount < 0 && ch.nodeCount >= 0 {
			c.NodeCount = ch.nodeCount
		}
		if len(c.ResourcesTotal) == 0 && len(ch.resources) > 0 {
			c.ResourcesTotal = ch.resources
		}
	}
	if anyVerified {
		c.Attributes["verification"] = string(verified)
	} else {
		c.Attributes["verification"] = string(worst)
	}
	return c
}
