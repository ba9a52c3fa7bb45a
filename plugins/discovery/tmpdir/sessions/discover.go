package sessions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray/rayproc"
)

// Name is the plugin's name, and the Source of its candidates.
const Name = "tmpdir"

// Version is the plugin's own version.
const Version = "0.1.0"

const (
	defaultProbeTimeout = 500 * time.Millisecond
	// workers bounds the sessions read and probed at once.
	workers = 8
)

// Options replace the plugin's view of the machine, for tests. Zero fields take the real
// thing.
type Options struct {
	Processes      ProcessLister              // default: /proc
	Ports          PortChecker                // default: TCP connect
	Getenv         func(string) string        // default: os.Getenv
	HomeDir        func() (string, error)     // default: os.UserHomeDir
	WorkDir        func() (string, error)     // default: os.Getwd
	InterfaceAddrs func() ([]net.Addr, error) // default: net.InterfaceAddrs
	fs             fileSystem                 // default: the OS
	now            func() time.Time           // default: time.Now
}

// Discoverer implements sdk.Discoverer for the tmpdir strategy.
type Discoverer struct {
	log  hclog.Logger
	opts Options

	mu  sync.Mutex
	cfg Config
}

// New returns a Discoverer with the default configuration, looking at the real machine.
func New(log hclog.Logger) *Discoverer { return NewWithOptions(log, Options{}) }

// NewWithOptions returns a Discoverer whose view of the machine is replaced where opts says.
func NewWithOptions(log hclog.Logger, opts Options) *Discoverer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Processes == nil {
		opts.Processes = rayproc.Lister{}
	}
	if opts.Ports == nil {
		opts.Ports = tcpChecker{}
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.HomeDir == nil {
		opts.HomeDir = os.UserHomeDir
	}
	if opts.WorkDir == nil {
		opts.WorkDir = os.Getwd
	}
	if opts.InterfaceAddrs == nil {
		opts.InterfaceAddrs = net.InterfaceAddrs
	}
	if opts.fs == nil {
		opts.fs = osFS{}
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	return &Discoverer{log: log, opts: opts, cfg: defaultConfig()}
}

// Info implements sdk.Plugin.
func (d *Discoverer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          Name,
		Kind:          sdk.KindDiscovery,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Finds Ray clusters, live and stale, from Ray temp dirs (session_*, ray_current_cluster) and the processes that name them.",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (d *Discoverer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) { return schema(), nil }

// Configure implements sdk.Plugin.
func (d *Discoverer) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cfg, problems := decode(req.GetConfigJson(), defaultConfig())
	if problems != nil {
		return problems, nil
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	return nil, nil
}

// call is the state of one Discover call.
type call struct {
	d     *Discoverer
	cfg   Config
	start time.Time
	sink  sdk.DiscoverSink
	scope *probeScope
	probe time.Duration

	// The workers call the sink directly: a DiscoverSink is safe for
	// concurrent use.
	mu         sync.Mutex // guards the fields below
	sinkErr    error      // the sink's first error: the caller went away
	probes     uint32
	candidates uint32
	errs       []string
}

func (c *call) note(level, target, format string, args ...any) {
	if c.failed() != nil {
		return
	}
	c.sent(c.sink.Note(&sdk.DiscoverNote{Level: level, Message: fmt.Sprintf(format, args...), Target: target}))
}

func (c *call) candidate(cand *sdk.ClusterCandidate) {
	if c.failed() != nil {
		return
	}
	c.mu.Lock()
	c.candidates++
	c.mu.Unlock()
	c.sent(c.sink.Candidate(cand))
}

// sent keeps the sink's first error.
func (c *call) sent(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sinkErr == nil {
		c.sinkErr = err
	}
}

func (c *call) addProbes(n uint32) {
	c.mu.Lock()
	c.probes += n
	c.mu.Unlock()
}

func (c *call) addError(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *call) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sinkErr
}

// Discover implements sdk.Discoverer. Its scope is the configured temp dirs (a request can
// override the config through config_json); the request's hosts and ports narrow only the
// TCP checks of GCS ports, since everything else is local files and processes.
func (d *Discoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if raw := req.GetConfigJson(); len(raw) > 0 {
		over, problems := decode(raw, cfg)
		if problems != nil {
			return nil, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(problems))
		}
		cfg = over
	}
	if ms := req.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	c := &call{d: d, cfg: cfg, start: d.opts.now(), sink: sink, probe: defaultProbeTimeout}
	if ms := req.GetProbeTimeoutMs(); ms > 0 {
		c.probe = time.Duration(ms) * time.Millisecond
	}
	var scopeProblems []string
	c.scope, scopeProblems = newProbeScope(req.GetHosts(), req.GetPorts(), d.opts.InterfaceAddrs)
	for _, p := range scopeProblems {
		c.note("warn", "", "%s (ignored)", p)
	}

	// The process table, once for the whole call.
	var idx *rayproc.Index
	if cfg.CheckProcesses {
		ps, err := d.opts.Processes.Processes(ctx)
		c.addProbes(1)
		switch {
		case err == nil:
			idx = rayproc.NewIndex(ps)
		case ctx.Err() != nil:
			c.addError("stopped while reading the process table: %v", ctx.Err())
			return c.summary(), nil
		case errors.Is(err, rayproc.ErrNoProcessTable):
			c.note("info", "/proc", "process checks unavailable (%v); liveness falls back to GCS port checks", err)
		default:
			c.note("warn", "/proc", "reading the process table: %v; liveness falls back to GCS port checks", err)
			c.addError("process table: %v", err)
		}
	}

	// The roots, then their sessions, read and judged by a bounded pool; each candidate is
	// streamed as soon as its session is judged.
	var pool errgroup.Group
	pool.SetLimit(workers)
	c.walkRoots(ctx, func(ref *sessionRef) {
		pool.Go(func() error {
			if ctx.Err() == nil && c.failed() == nil {
				c.session(ctx, ref, idx)
			}
			return nil // c records what went wrong
		})
	})
	_ = pool.Wait()
	if err := c.failed(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		c.addError("stopped before every session was read: %v", err)
	}
	return c.summary(), nil
}

func (c *call) summary() *sdk.DiscoverSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &sdk.DiscoverSummary{
		Candidates: c.candidates,
		Probes:     c.probes,
		ElapsedMs:  uint32(c.d.opts.now().Sub(c.start).Milliseconds()),
		Errors:     append([]string(nil), c.errs...),
	}
}

// rootSpecs lists the roots of a call: configured dirs first, then the defaults.
func (c *call) rootSpecs() []rootSpec {
	o := c.d.opts
	var specs []rootSpec
	home, homeErr := o.HomeDir()
	cwd, cwdErr := o.WorkDir()
	abs := func(p string) (string, error) {
		switch {
		case p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~`+string(filepath.Separator)):
			if homeErr != nil || home == "" {
				return "", fmt.Errorf("no home directory for %q", p)
			}
			p = filepath.Join(home, p[1:])
		case !filepath.IsAbs(p):
			if cwdErr != nil {
				return "", fmt.Errorf("no working directory for %q: %v", p, cwdErr)
			}
			p = filepath.Join(cwd, p)
		}
		return filepath.Clean(p), nil
	}
	for _, d := range c.cfg.Dirs {
		p, err := abs(d)
		if err != nil {
			c.note("warn", d, "dirs: %v", err)
			continue
		}
		specs = append(specs, rootSpec{Path: p, Origin: "dirs", Explicit: true})
	}
	if c.cfg.IncludeDefaults {
		if v := o.Getenv("RAY_TMPDIR"); v != "" {
			specs = append(specs, rootSpec{Path: filepath.Join(v, "ray"), Origin: "$RAY_TMPDIR/ray"})
		}
		if v := o.Getenv("TMPDIR"); v != "" {
			specs = append(specs, rootSpec{Path: filepath.Join(v, "ray"), Origin: "$TMPDIR/ray"})
		}
		if runtime.GOOS == "windows" {
			specs = append(specs, rootSpec{Path: filepath.Join(os.TempDir(), "ray"), Origin: "%TEMP%\\ray"})
		} else {
			specs = append(specs, rootSpec{Path: "/tmp/ray", Origin: "/tmp/ray"})
		}
		if homeErr == nil && home != "" {
			specs = append(specs, rootSpec{Path: filepath.Join(home, "ray_tmp"), Origin: "~/ray_tmp"})
		}
		if cwdErr == nil {
			specs = append(specs,
				rootSpec{Path: filepath.Join(cwd, "ray_temp"), Origin: "./ray_temp"},
				rootSpec{Path: filepath.Join(cwd, "ray_tmp"), Origin: "./ray_tmp"})
		}
	}
	return specs
}

// walkRoots scans every root once (by resolved path) and hands each of its sessions to
// each, once.
func (c *call) walkRoots(ctx context.Context, each func(*sessionRef)) {
	queue := c.rootSpecs()
	seen := map[string]bool{}        // roots read (resolved path, and the one session if restricted)
	seenSession := map[string]bool{} // sessions handed out, by resolved path
	for len(queue) > 0 {
		spec := queue[0]
		queue = queue[1:]
		if ctx.Err() != nil || c.failed() != nil {
			return
		}
		rs, err := scanRoot(c.d.opts.fs, spec, c.cfg.MaxSessions)
		c.addProbes(1)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist) && !spec.Explicit:
				// A default location that is not there: nothing to say.
			case errors.Is(err, fs.ErrNotExist):
				c.note("warn", spec.Path, "temp dir (%s) does not exist", spec.Origin)
			default:
				c.note("warn", spec.Path, "temp dir (%s) unreadable: %v", spec.Origin, err)
				c.addError("%s: %v", spec.Path, err)
			}
			continue
		}
		key := rs.Real + "\x00" + rs.Only
		if seen[key] {
			continue
		}
		seen[key] = true
		for _, p := range rs.Problems {
			c.note("warn", rs.Real, "%s", p)
		}
		if rs.Total > len(rs.Sessions) {
			c.note("info", rs.Real, "%d sessions found, only the newest %d read (max_sessions)", rs.Total, len(rs.Sessions))
		}
		if rs.HasRaySubdir {
			queue = append(queue, rootSpec{Path: filepath.Join(rs.Real, "ray"), Origin: spec.Origin + "/ray"})
		}
		c.d.log.Debug("temp dir scanned", "root", rs.Real, "origin", spec.Origin, "sessions", rs.Total)
		for _, ref := range rs.Sessions {
			if seenSession[ref.Real] {
				continue
			}
			seenSession[ref.Real] = true
			if ctx.Err() != nil {
				return
			}
			each(ref)
		}
	}
}

// session reads one session, judges it and streams its candidate.
func (c *call) session(ctx context.Context, ref *sessionRef, idx *rayproc.Index) {
	sf := readSession(c.d.opts.fs, ref.Real)
	c.addProbes(1)
	target := ref.Real
	if sf.ReadErr != nil {
		c.note("warn", target, "session dir unreadable: %v", sf.ReadErr)
	}
	for _, p := range sf.Problems {
		c.note("warn", target, "%s", p)
	}
	var procs []rayproc.RayProcess
	if idx != nil {
		dirs := []string{ref.Real}
		if ref.Listed != ref.Real {
			dirs = append(dirs, ref.Listed)
		}
		procs = idx.ForSession(ref.Name, dirs)
	}
	f := collectFacts(ref, &sf, procs)
	if len(procs) > 0 {
		if cs, ok := idx.ClientServerFor(f.GCSAddress()); ok {
			if a := cs.ListenAddress(); a != "" {
				f.Client, f.ClientFrom = localize(a), fmt.Sprintf("live client_server pid %d", cs.PID)
			}
		}
	}

	cand := &sdk.ClusterCandidate{
		Source:      Name,
		SessionDir:  ref.Real,
		SessionName: ref.Name,
		NodeCount:   -1,
		Attributes:  map[string]string{"temp_dir": ref.Root.Real},
	}
	f.fill(cand)
	latest := ref.Root.LatestReal == ref.Real
	if latest {
		cand.Attributes["session_latest"] = "true"
	}
	if !ref.Started.IsZero() {
		cand.Attributes["started"] = ref.Started.Format("2006-01-02 15:04:05.000000")
	}
	if rc := ref.Root.CurrentCluster; rc != "" && rc == cand.GcsAddress {
		cand.Attributes["ray_current_cluster"] = "true"
	}
	ev := "session dir " + ref.Real
	if ref.Listed != ref.Real {
		ev += " (listed as " + ref.Listed + ")"
	}
	if latest {
		ev += ", session_latest"
	}
	cand.Evidence = append(cand.Evidence, ev)
	if sf.ReadErr != nil {
		cand.Evidence = append(cand.Evidence, "session dir unreadable: "+sf.ReadErr.Error())
	}
	if s := f.describeSources(); s != "" {
		cand.Evidence = append(cand.Evidence, s)
	}
	for _, dis := range f.Disagreements {
		cand.Evidence = append(cand.Evidence, "disagreeing: "+dis)
	}

	cand.Status, cand.Evidence = c.judge(ctx, ref, f, idx, procs, cand.Evidence)
	if pids := pidList(procs); pids != "" {
		cand.Attributes["pids"] = pids
	}
	cand.ElapsedMs = uint32(c.d.opts.now().Sub(c.start).Milliseconds())
	if ctx.Err() != nil {
		return // the call is over; a half-judged session is not reported
	}
	c.candidate(cand)
}

// judge decides whether the session runs (see the package doc) and says why.
func (c *call) judge(ctx context.Context, ref *sessionRef, f *facts, idx *rayproc.Index, procs []rayproc.RayProcess, ev []string) (sdk.ClusterStatus, []string) {
	addr := f.GCSAddress()
	// probe returns "open", "refused"/"no answer" or "" when not probed.
	probe := func() (string, string) {
		if !c.cfg.CheckPorts || addr == "" {
			return "", ""
		}
		if ok, why := c.scope.allows(f.GCSHost, f.GCSPort); !ok {
			return "", fmt.Sprintf("GCS %s not probed: %s", addr, why)
		}
		pctx, cancel := context.WithTimeout(ctx, c.probe)
		defer cancel()
		t0 := time.Now()
		err := c.d.opts.Ports.Check(pctx, addr)
		c.addProbes(1)
		ms := time.Since(t0).Milliseconds()
		switch {
		case err == nil:
			return "open", fmt.Sprintf("TCP connect %s → accepted (%d ms)", addr, ms)
		case isRefused(err):
			return "refused", fmt.Sprintf("TCP connect %s → refused", addr)
		default:
			return "no answer", fmt.Sprintf("TCP connect %s → no answer: %v", addr, errText(err))
		}
	}
	add := func(s string) {
		if s != "" {
			ev = append(ev, s)
		}
	}

	if idx != nil {
		if len(procs) > 0 {
			add("live " + describeProcs(procs) + " name this session")
			_, line := probe()
			add(line)
			return sdk.StatusActive, ev
		}
		add("no live Ray process names this session")
		if f.GCSPort > 0 {
			var others []string
			for _, name := range idx.SessionsOnGCSPort(f.GCSPort) {
				if name != ref.Name {
					others = append(others, name)
				}
			}
			if len(others) > 0 {
				add(fmt.Sprintf("GCS port %d now belongs to live session %s", f.GCSPort, strings.Join(others, ", ")))
				return sdk.StatusInactive, ev
			}
		}
		res, line := probe()
		add(line)
		if res == "open" {
			add("the GCS port answers but no visible process owns this session (another user's cluster hidden from /proc, or another program on the port)")
			return sdk.StatusUnknown, ev
		}
		return sdk.StatusInactive, ev
	}
	// No process table: the GCS port alone decides.
	res, line := probe()
	add(line)
	switch res {
	case "open":
		return sdk.StatusActive, ev
	case "refused":
		return sdk.StatusInactive, ev
	}
	if line == "" && addr == "" {
		add("no GCS address known and no process check: liveness unknown")
	} else if res == "" && line == "" {
		add("no liveness check enabled")
	}
	return sdk.StatusUnknown, ev
}

func describeProcs(ps []rayproc.RayProcess) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s pid %d", p.Role, p.PID))
	}
	return strings.Join(parts, ", ")
}

func pidList(ps []rayproc.RayProcess) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s=%d", p.Role, p.PID))
	}
	return strings.Join(parts, ",")
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "actively refused")
}

func errText(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
