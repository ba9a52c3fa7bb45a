package raystatus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray/rayproc"
)

const (
	// Name is the plugin's name and the Source of its candidates.
	Name = "ray-status"
	// Version is the plugin's own version.
	Version = "0.1.0"

	// defaultProbeTimeout bounds the TCP precheck when the request sets no
	// probe timeout.
	defaultProbeTimeout = time.Second
	// budgetMargin is kept from the request's budget for the summary.
	budgetMargin = 250 * time.Millisecond
	// budgetBackstop is how long after the budget's deadline a run's own
	// timer fires, when the budget limits the run.
	budgetBackstop = time.Second
	// maxAttr bounds long attribute values (demand lists).
	maxAttr = 500
)

// Discoverer implements sdk.Discoverer by running the ray CLI.
type Discoverer struct {
	log hclog.Logger

	mu  sync.Mutex
	cfg Config

	// Hooks for tests; New sets the real ones.
	environ  func() []string
	home     func() (string, error)
	lookPath func(string) (string, error)
	procRoot string
	// withTimeout makes the context of the request's budget and run runs
	// one `ray status`; tests replace them to control the deadline and to
	// see the per-run timeout.
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	run         func(ctx context.Context, bin string, args, env []string, timeout time.Duration) runResult

	versions versionCache
}

// New returns a Discoverer with the default configuration.
func New(log hclog.Logger) *Discoverer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Discoverer{
		log:      log,
		cfg:      defaultConfig(),
		environ:  os.Environ,
		home:     os.UserHomeDir,
		lookPath: exec.LookPath,
		procRoot: rayproc.DefaultRoot,

		withTimeout: context.WithTimeout,
		run:         runCLI,
	}
}

// Info implements sdk.Plugin.
func (d *Discoverer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          Name,
		Kind:          sdk.KindDiscovery,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Runs the ray CLI (`ray status`, `ray status --address`) and reports the clusters it describes: nodes, node ids, resources, demands.",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (d *Discoverer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return configSchema(), nil
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

// target is one `ray status` run to make.
type target struct {
	address string // "" for the plain `ray status`
	// why says where the address came from, for evidence.
	why string
	// defaultSource is set when the address is also the cluster a plain
	// `ray status` would use (so the plain run was skipped).
	defaultSource string
}

func (t target) args() []string {
	if t.address == "" {
		return []string{"status"}
	}
	return []string{"status", "--address", t.address}
}

func (t target) command() string { return "`ray " + strings.Join(t.args(), " ") + "`" }

func (t target) noteTarget() string {
	if t.address == "" {
		return "ray status"
	}
	return t.address
}

// run is the state of one Discover call.
type run struct {
	d        *Discoverer
	cfg      Config
	req      *sdk.DiscoverRequest
	begin    time.Time
	bin      string
	env      []string // for the plain run
	addrEnv  []string // for --address runs: no RAY_ADDRESS
	token    string
	tokenSrc tokenSource
	sem      chan struct{}

	versionOnce sync.Once
	version     *versionProbe

	sink   sdk.DiscoverSink // called directly: safe for concurrent use
	cancel context.CancelFunc

	mu      sync.Mutex // guards sinkErr, queued and summary
	sinkErr error      // the sink's first error: the caller went away
	wg      sync.WaitGroup
	queued  map[string]bool
	summary *sdk.DiscoverSummary
}

// Discover implements sdk.Discoverer.
func (d *Discoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	begin := time.Now()
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if raw := req.GetConfigJson(); len(bytes.TrimSpace(raw)) > 0 {
		c, errs := applyConfig(cfg, raw)
		if errs != nil {
			return nil, fmt.Errorf("config_json: %s", sdk.ConfigErrorsString(errs))
		}
		cfg = c
	}
	if ms := req.GetTimeoutMs(); ms > 0 {
		// Stop a little before the daemon's deadline, so that the summary
		// (with the runs that were cut short) still reaches it.
		budget := time.Duration(ms) * time.Millisecond
		budget -= min(budget/10, budgetMargin)
		var cancel context.CancelFunc
		ctx, cancel = d.withTimeout(ctx, budget)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r := &run{d: d, cfg: cfg, req: req, begin: begin, sink: sink, cancel: cancel,
		queued: map[string]bool{}, summary: &sdk.DiscoverSummary{}, sem: make(chan struct{}, cfg.MaxConcurrency)}
	finish := func() (*sdk.DiscoverSummary, error) {
		r.wg.Wait()
		r.versionOnce.Do(func() {}) // no probe starts from here on
		if r.version != nil {
			r.version.wait()
		}
		r.summary.ElapsedMs = uint32(time.Since(begin).Milliseconds())
		if err := r.failed(); err != nil {
			return nil, err
		}
		return r.summary, nil
	}

	bin, why, tgt, configured := d.findCLI(cfg.RayPath)
	if bin == "" {
		level := "info"
		if configured {
			level = "warn"
		}
		r.note(level, "ray CLI not found: "+why, tgt)
		return finish()
	}
	r.bin = bin

	env := d.environ()
	tok, src, err := resolveToken(cfg.AuthToken, func(k string) string { return envValue(env, k) }, d.homeDir())
	if err != nil {
		r.note("warn", "auth token: "+err.Error()+"; running the ray CLI without a token", "auth_token")
	}
	r.token, r.tokenSrc = tok, src
	if tok != "" && envValue(env, "RAY_AUTH_MODE") != "k8s" {
		// The CLI does not switch to token mode by itself (Ray 2.60); a
		// token-mode client also works against a cluster without auth.
		env = append(envWithout(env, "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"),
			"RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+tok)
	}
	r.env = env
	r.addrEnv = envWithout(env, "RAY_ADDRESS")

	// Targets: the request's and the configured addresses, then the plain run.
	var explicit []target
	seen := map[string]int{}
	add := func(a, why string) {
		a = strings.TrimSpace(a)
		if a == "" {
			return
		}
		if _, dup := seen[a]; dup {
			return
		}
		if err := checkAddress(a); err != nil {
			r.note("info", fmt.Sprintf("address %q skipped: %v", a, err), a)
			return
		}
		seen[a] = len(explicit)
		explicit = append(explicit, target{address: a, why: why})
	}
	for _, a := range req.GetAddresses() {
		add(a, "address given by the request")
	}
	for _, a := range cfg.Addresses {
		add(a, "address from the plugin config")
	}
	runPlain := cfg.Local
	if runPlain {
		def := lookupDefaultAddress(ctx, r.env, d.procRoot)
		if i, ok := seen[def.Address]; ok && def.Address != "" {
			// The plain run would ask the same GCS: one run is enough.
			explicit[i].defaultSource = def.Source
			runPlain = false
		}
	}
	if len(explicit) == 0 && !runPlain {
		r.note("info", "nothing to check: no addresses and local is off", "")
		return finish()
	}
	for _, t := range explicit {
		r.start(ctx, t)
	}
	if runPlain {
		r.start(ctx, target{why: "Ray's own lookup (plain `ray status`)"})
	}
	return finish()
}

// findCLI resolves the ray CLI: the configured path, else PATH. When there
// is none it says why, and what to name as the note's target.
func (d *Discoverer) findCLI(configuredPath string) (bin, why, target string, configured bool) {
	if configuredPath != "" {
		st, err := os.Stat(configuredPath)
		switch {
		case os.IsNotExist(err):
			return "", "ray_path " + configuredPath + " does not exist", configuredPath, true
		case err != nil:
			return "", fmt.Sprintf("ray_path %s: %v", configuredPath, err), configuredPath, true
		case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
			return "", "ray_path " + configuredPath + " is not an executable file", configuredPath, true
		}
		return configuredPath, "", "", true
	}
	p, err := d.lookPath("ray")
	if err != nil {
		return "", "no \"ray\" in PATH", "ray", false
	}
	return p, "", "", false
}

func (d *Discoverer) homeDir() string {
	h, err := d.home()
	if err != nil {
		return ""
	}
	return h
}

// start queues one target: a goroutine that waits for a slot and runs it.
func (r *run) start(ctx context.Context, t target) {
	key := t.address
	r.mu.Lock()
	if r.queued[key] {
		r.mu.Unlock()
		return
	}
	r.queued[key] = true
	r.summary.Probes++
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.check(ctx, t)
	}()
}

// check runs one target and reports what it found.
func (r *run) check(ctx context.Context, t target) {
	if t.address != "" && r.cfg.Precheck {
		if err := r.dial(ctx, t.address); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.note("warn", fmt.Sprintf("no GCS answered at %s (%v); %s not run", t.address, err, t.command()), t.address)
			return
		}
	}
	notRun := func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.addError(fmt.Sprintf("%s not run: the call's time budget ran out", t.command()))
		}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		notRun()
		return
	}
	defer func() { <-r.sem }()
	timeout := time.Duration(r.cfg.TimeoutMS) * time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			// The budget, not the run's own timeout, limits this run: its
			// context kills it ("the call's time budget ran out"). The
			// run's timer only backs that up, a second later, so the two
			// never race for which one reports the kill.
			timeout = left + budgetBackstop
		}
	}
	if timeout <= 0 || ctx.Err() != nil {
		notRun()
		return
	}
	var def defaultAddress
	if t.address == "" {
		def = lookupDefaultAddress(ctx, r.env, r.d.procRoot)
	}
	env := r.addrEnv
	if t.address == "" {
		env = r.env
	}
	// `ray --version` runs beside the first status run (cached afterwards).
	r.versionOnce.Do(func() {
		r.version = r.d.versions.probe(ctx, r.bin, r.addrEnv, time.Duration(r.cfg.TimeoutMS)*time.Millisecond)
	})
	res := r.d.run(ctx, r.bin, t.args(), env, timeout)
	r.d.log.Debug("ray status finished", "target", t.noteTarget(), "exit", res.ExitCode, "elapsed", res.Elapsed,
		"timed_out", res.TimedOut, "cancelled", res.Cancelled)
	switch {
	case res.Cancelled:
		why := "the call was cancelled"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "the call's time budget ran out"
		}
		r.addError(fmt.Sprintf("%s killed after %v: %s", t.command(), res.Elapsed.Round(time.Millisecond), why))
		return
	case res.StartErr != nil:
		msg := fmt.Sprintf("%s could not start: %v", t.command(), res.StartErr)
		r.note("error", msg, t.noteTarget())
		r.addError(msg)
		return
	case res.TimedOut:
		msg := fmt.Sprintf("%s timed out after %v and was killed", t.command(), res.Elapsed.Round(time.Millisecond))
		r.note("error", msg, t.noteTarget())
		r.addError(msg)
		return
	}
	if t.address == "" {
		// Ray read its sources when it started; if they changed meanwhile,
		// the address it used is unknown.
		if after := lookupDefaultAddress(ctx, r.env, r.d.procRoot); after.Address != def.Address {
			def = defaultAddress{}
		}
	}
	r.report(ctx, t, def, res, Classify(res.Stdout, res.Stderr, res.ExitCode))
}

// dial is the TCP precheck.
func (r *run) dial(ctx context.Context, addr string) error {
	timeout := defaultProbeTimeout
	if ms := r.req.GetProbeTimeoutMs(); ms > 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dialer net.Dialer
	c, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			return op.Err
		}
		return err
	}
	return c.Close()
}

// report turns a classified run into candidates and notes.
func (r *run) report(ctx context.Context, t target, def defaultAddress, res runResult, cl Result) {
	gcs, addrEvidence := t.address, ""
	switch {
	case t.address == "" && def.Address != "":
		gcs = def.Address
		addrEvidence = fmt.Sprintf("GCS address %s from %s (Ray's lookup for a plain `ray status`)", def.Address, def.Source)
	case t.defaultSource != "":
		addrEvidence = fmt.Sprintf("%s is also the cluster a plain `ray status` picks (%s)", t.address, t.defaultSource)
	}
	ran := fmt.Sprintf("%s (%s) → exit %d in %v", t.command(), t.why, res.ExitCode, res.Elapsed.Round(time.Millisecond))
	msg := r.redact(cl.Message)

	switch cl.Outcome {
	case OutcomeStatus:
		st := cl.Status
		c := r.candidate(gcs)
		c.NodeCount = int32(st.NodeCount())
		c.ResourcesTotal, c.ResourcesUsed = st.Totals(), st.Used()
		c.Attributes[sdk.AttrResourcesApprox] = "true" // `ray status` rounds (1.5GiB)
		c.Evidence = append(c.Evidence, ran+": "+summarise(st))
		if addrEvidence != "" {
			c.Evidence = append(c.Evidence, addrEvidence)
		}
		fillAttributes(c.Attributes, st)
		if v := r.version.get(ctx); v != "" {
			c.Attributes["ray_cli_version"] = v
			if versionChecked(v) {
				c.RayVersion = v
				c.Evidence = append(c.Evidence, fmt.Sprintf("ray version %s: `ray status` %s refuses clusters of another Ray version", v, v))
			}
		}
		r.emit(c)
	case OutcomeNoStatusYet:
		c := r.candidate(gcs)
		c.Evidence = append(c.Evidence, ran+": the GCS answered, but the autoscaler has published no status yet")
		if addrEvidence != "" {
			c.Evidence = append(c.Evidence, addrEvidence)
		}
		r.emit(c)
	case OutcomeVersionMismatch:
		c := r.candidate(gcs)
		c.RayVersion = cl.ClusterVersion
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: the GCS answered; %s", ran, msg))
		if addrEvidence != "" {
			c.Evidence = append(c.Evidence, addrEvidence)
		}
		c.Attributes["ray_cli_version"] = cl.CLIVersion
		r.emit(c)
		r.note("warn", fmt.Sprintf("%s: cluster runs Ray %s, the CLI is %s, so its status is unreadable; set ray_path to a ray %s CLI",
			t.command(), cl.ClusterVersion, cl.CLIVersion, cl.ClusterVersion), t.noteTarget())
	case OutcomeNoCluster:
		r.note("info", fmt.Sprintf("%s found no running Ray cluster: %s", t.command(), msg), t.noteTarget())
	case OutcomeMultiple:
		r.note("info", fmt.Sprintf("%s found several Ray clusters: %s", t.command(), strings.Join(cl.Addresses, ", ")), t.noteTarget())
		if r.cfg.ExpandMultiple {
			for _, a := range cl.Addresses {
				if checkAddress(a) == nil {
					r.start(ctx, target{address: a, why: "listed by a plain `ray status` as one of several active Ray instances"})
				}
			}
		}
	case OutcomeAuth:
		how := "without a token"
		if r.token != "" {
			how = "with the token from " + string(r.tokenSrc)
		}
		if cl.FromServer && gcs != "" {
			c := r.candidate(gcs)
			c.AuthRequired = true
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: the GCS refused the CLI %s (token authentication): %s", ran, how, msg))
			if addrEvidence != "" {
				c.Evidence = append(c.Evidence, addrEvidence)
			}
			r.emit(c)
			r.note("warn", fmt.Sprintf("%s: Ray token authentication failed %s; set auth_token (or RAY_AUTH_TOKEN)", t.command(), how), t.noteTarget())
			return
		}
		text := fmt.Sprintf("%s: Ray token authentication failed %s: %s", t.command(), how, msg)
		r.note("error", text, t.noteTarget())
		r.addError(text)
	case OutcomeUnreachable:
		r.note("warn", fmt.Sprintf("%s: no Ray GCS answered: %s", t.command(), msg), t.noteTarget())
	default:
		text := fmt.Sprintf("%s: exit %d: %s", t.command(), res.ExitCode, msg)
		r.note("error", text, t.noteTarget())
		r.addError(text)
	}
}

// candidate starts a candidate with the fields every outcome shares.
func (r *run) candidate(gcs string) *sdk.ClusterCandidate {
	c := &sdk.ClusterCandidate{
		Source:     Name,
		GcsAddress: gcs,
		NodeCount:  -1,
		Status:     sdk.StatusActive,
		ElapsedMs:  uint32(time.Since(r.begin).Milliseconds()),
		Attributes: map[string]string{"ray_cli": r.bin},
	}
	if r.token != "" {
		c.Attributes["auth_token_source"] = string(r.tokenSrc)
	}
	return c
}

// summarise is the one-line evidence of a parsed status.
func summarise(st *Status) string {
	var b strings.Builder
	active, idle := 0, 0
	for _, g := range st.Active {
		active += g.Count
	}
	for _, g := range st.Idle {
		idle += g.Count
	}
	fmt.Fprintf(&b, "%d node(s) (%d active, %d idle)", active+idle, active, idle)
	for _, res := range st.Resources {
		if res.Name == "CPU" || res.Name == "GPU" {
			fmt.Fprintf(&b, ", %s %g/%g", res.Name, res.Used, res.Total)
		}
	}
	if st.PendingNodes > 0 {
		fmt.Fprintf(&b, ", %d pending node(s)", st.PendingNodes)
	}
	if len(st.Demands) > 0 {
		fmt.Fprintf(&b, ", %d pending demand(s)", len(st.Demands))
	}
	return b.String()
}

// fillAttributes adds what the status says beyond the candidate's fields.
func fillAttributes(a map[string]string, st *Status) {
	if ids := st.NodeIDs(); len(ids) > 0 {
		a["node_ids"] = strings.Join(ids, ",")
	}
	count := func(gs []NodeGroup) (n int, types []string) {
		for _, g := range gs {
			n += g.Count
			if g.NodeID == "" {
				types = append(types, fmt.Sprintf("%d %s", g.Count, g.Type))
			}
		}
		return n, types
	}
	na, ta := count(st.Active)
	ni, ti := count(st.Idle)
	a["active_nodes"] = strconv.Itoa(na)
	a["idle_nodes"] = strconv.Itoa(ni)
	if types := append(ta, ti...); len(types) > 0 {
		sort.Strings(types)
		a["node_types"] = truncate(strings.Join(types, ", "), maxAttr)
	}
	a["pending_nodes"] = strconv.Itoa(st.PendingNodes)
	a["recent_failures"] = strconv.Itoa(len(st.Failures))
	if len(st.Failures) > 0 {
		a["failures"] = truncate(strings.Join(st.Failures, "; "), maxAttr)
	}
	a["pending_demands"] = strconv.Itoa(len(st.Demands))
	if len(st.Demands) > 0 {
		a["demands"] = truncate(strings.Join(st.Demands, "; "), maxAttr)
	}
	if len(st.Constraints) > 0 {
		a["resource_requests"] = truncate(strings.Join(st.Constraints, "; "), maxAttr)
	}
	if st.Layout != "" {
		a["status_layout"] = st.Layout
	}
	a["idle_section"] = strconv.FormatBool(st.IdleSection)
	if st.Time != "" {
		a["autoscaler_time"] = st.Time
	}
	if len(st.Extra) > 0 {
		a["status_extra"] = truncate(strings.Join(st.Extra, "; "), maxAttr)
	}
}

// redact removes the token from text that came from the CLI.
func (r *run) redact(s string) string {
	if r.token == "" {
		return s
	}
	return strings.ReplaceAll(s, r.token, "<redacted>")
}

func (r *run) emit(c *sdk.ClusterCandidate) {
	if r.failed() != nil {
		return
	}
	if r.sent(r.sink.Candidate(c)) {
		r.mu.Lock()
		r.summary.Candidates++
		r.mu.Unlock()
	}
}

func (r *run) note(level, msg, tgt string) {
	if r.failed() == nil {
		r.sent(r.sink.Note(&sdk.DiscoverNote{Level: level, Message: r.redact(msg), Target: tgt}))
	}
}

// sent keeps the sink's first error, which cancels the run; it reports
// whether the call went through.
func (r *run) sent(err error) bool {
	if err == nil {
		return true
	}
	r.mu.Lock()
	first := r.sinkErr == nil
	if first {
		r.sinkErr = err
	}
	r.mu.Unlock()
	if first {
		r.cancel()
	}
	return false
}

func (r *run) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinkErr
}

func (r *run) addError(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary.Errors = append(r.summary.Errors, r.redact(msg))
}
