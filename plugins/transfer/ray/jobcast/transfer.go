package jobcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// transfer is one running Send.
type transfer struct {
	ctx   context.Context
	b     *Backend
	req   *sdk.SendRequest
	cfg   Config
	chunk uint64
	srv   *fileServer
	token string // the Ray token; never logged
	sink  sdk.TransferSink

	mu       sync.Mutex
	results  map[string]*sdk.TargetResult
	reported map[string]uint64 // the last BytesDone reported per target
	stopAll  chan struct{}
	stopOnce sync.Once
	sessions []*session
	pendingC []string // targets cancelled before their session opened
	sinkFail error
}

func newTransfer(ctx context.Context, b *Backend, req *sdk.SendRequest, cfg Config, chunk uint64, srv *fileServer, token string, sink sdk.TransferSink) *transfer {
	return &transfer{ctx: ctx, b: b, req: req, cfg: cfg, chunk: chunk, srv: srv, token: token, sink: sink,
		results: map[string]*sdk.TargetResult{}, reported: map[string]uint64{}, stopAll: make(chan struct{})}
}

func (t *transfer) cancelAll() { t.stopOnce.Do(func() { close(t.stopAll) }) }

func (t *transfer) cancelled() bool {
	select {
	case <-t.stopAll:
		return true
	default:
		return false
	}
}

func (t *transfer) cancelTargets(ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pendingC = append(t.pendingC, ids...)
	for _, s := range t.sessions {
		s.cancelTargets(ids)
	}
}

func (t *transfer) sinkErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sinkFail
}

// result records and reports a target's one result; a second one is
// ignored. A target done with more bytes than its progress last said
// (one that finished between two of the driver's progress reports) gets a
// last progress with them first: every delivered copy shows its bytes
// moving.
func (t *transfer) result(r *sdk.TargetResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.results[r.NodeId]; seen {
		return
	}
	if r.GetState() == sdk.TargetDone && r.GetBytes() > t.reported[r.NodeId] {
		t.reportLocked(r.NodeId, r.GetBytes())
	}
	t.results[r.NodeId] = r
	if t.sinkFail == nil {
		if err := t.sink.Result(r); err != nil {
			t.sinkFail = err
		}
	}
}

func (t *transfer) progress(id string, done uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.results[id]; !seen {
		t.reportLocked(id, done)
	}
}

// reportLocked reports a target's progress; t.mu is held.
func (t *transfer) reportLocked(id string, done uint64) {
	if t.sinkFail != nil {
		return
	}
	t.reported[id] = done
	if err := t.sink.Progress(&sdk.TargetProgress{NodeId: id, BytesDone: done, BytesTotal: t.req.GetFile().GetSize()}); err != nil {
		t.sinkFail = err
	}
}

func (t *transfer) has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.results[id]
	return ok
}

// hasAll reports whether every one of todo has its result.
func (t *transfer) hasAll(todo []*sdk.Target) bool {
	for _, tg := range todo {
		if !t.has(tg.GetNodeId()) {
			return false
		}
	}
	return true
}

func (t *transfer) fail(id, format string, args ...any) {
	t.result(&sdk.TargetResult{NodeId: id, State: sdk.TargetFailed, Error: fmt.Sprintf(format, args...)})
}

func (t *transfer) summary() *sdk.SendSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &sdk.SendSummary{}
	for _, r := range t.results {
		if r.State == sdk.TargetDone {
			s.Succeeded++
			s.Bytes += r.GetBytesSent()
		} else {
			s.Failed++
		}
	}
	return s
}

var hexID = regexp.MustCompile(`^[0-9a-f]{56}$`)

// clusterGroup is the targets of one cluster.
type clusterGroup struct {
	dashboard string
	clusterID string
	targets   []*sdk.Target
}

// run groups the targets by cluster and runs one job per cluster, in
// parallel.
func (t *transfer) run() {
	var groups []*clusterGroup
	byURL := map[string]*clusterGroup{}
	seen := map[string]bool{}
	for _, tg := range t.req.GetTargets() {
		id, a := tg.GetNodeId(), tg.GetAttributes()
		switch {
		case seen[id]:
			continue
		case tg.GetKind() != KindNode && tg.GetKind() != KindActor:
			t.fail(id, "node kind %q is not served by the ray backend (ray-node, ray-actor)", tg.GetKind())
		case a["dashboard_url"] == "":
			t.fail(id, "cluster reached only by GCS: the ray backend needs its dashboard (Jobs API); connect it by dashboard URL")
		case !hexID.MatchString(a["ray_node_id"]):
			t.fail(id, "target has no valid ray_node_id attribute (56 hex digits), got %q", a["ray_node_id"])
		case tg.GetKind() == KindActor && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a["actor_id"]):
			t.fail(id, "actor target has no valid actor_id attribute (32 hex digits), got %q", a["actor_id"])
		default:
			g := byURL[a["dashboard_url"]]
			if g == nil {
				g = &clusterGroup{dashboard: a["dashboard_url"], clusterID: a["cluster_id"]}
				byURL[g.dashboard] = g
				groups = append(groups, g)
			}
			g.targets = append(g.targets, tg)
		}
		seen[id] = true
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.runCluster(g); err != nil {
				for _, tg := range g.targets {
					if !t.has(tg.GetNodeId()) && t.ctx.Err() == nil {
						t.fail(tg.GetNodeId(), "%v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func (t *transfer) submissionID() string { return "castray-" + t.req.GetTransferId() }

// maxAttempts bounds the jobs one transfer may leave on a cluster (one per
// Send of that transfer id).
const maxAttempts = 1000

// attemptID is the submission id of the n-th job of this transfer on a
// cluster: castray-<transfer id> for the first, then -2, -3, ... Ray's job
// manager keeps watching a stopped job's id for a moment after it ends, and
// marks a new job submitted under a reused id FAILED when it notices the
// old supervisor gone; a fresh id per attempt is never confused.
func (t *transfer) attemptID(n int) string {
	if n == 1 {
		return t.submissionID()
	}
	return fmt.Sprintf("%s-%d", t.submissionID(), n)
}

// bg is a context for clean-up calls that must happen after t.ctx ended.
func bg(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// runCluster delivers to one cluster's targets through one job. An error
// fails every target of the group that has no result yet.
func (t *transfer) runCluster(g *clusterGroup) error {
	timeout := time.Duration(t.cfg.DashboardTimeoutS) * time.Second
	api, err := t.b.dial(g.dashboard, t.token, timeout)
	if err != nil {
		return fmt.Errorf("dashboard %s: %w", g.dashboard, err)
	}
	if c, ok := api.(interface{ Close() }); ok {
		defer c.Close()
	}
	u, err := url.Parse(g.dashboard)
	if err != nil || u.Hostname() == "" {
		if u, err = url.Parse("http://" + g.dashboard); err != nil {
			return fmt.Errorf("dashboard url %q: %w", g.dashboard, err)
		}
	}
	if err := reachable(t.ctx, t.srv.addr().IP, t.cfg.AdvertiseURL, u.Hostname()); err != nil {
		return err
	}
	sub, todo, err := t.settlePrevious(api, g)
	if err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}

	ids := make([]string, len(todo))
	for i, tg := range todo {
		ids[i] = tg.GetNodeId()
	}
	file := t.req.GetFile()
	se := t.srv.open(file.GetPath(), file.GetSize(), t.chunk, file.GetChunkCrc32C(), ids, t.cfg.MaxRate)
	defer t.srv.closeSession(se)
	t.mu.Lock()
	t.sessions = append(t.sessions, se)
	se.cancelTargets(t.pendingC)
	t.mu.Unlock()

	sr, err := t.submission(sub, se, g, todo, u.Hostname())
	if err != nil {
		return err
	}
	if _, err := api.SubmitJob(t.ctx, sr); err != nil {
		return fmt.Errorf("submitting job %s: %w", sub, err)
	}
	t.b.log.Debug("job submitted", "transfer", t.req.GetTransferId(), "job", sub, "dashboard", g.dashboard, "targets", len(todo))
	return t.monitor(api, sub, se, todo)
}

// settlePrevious handles the jobs earlier Sends of this transfer left on
// the cluster (castray-<id>, castray-<id>-2, ...): running ones are
// stopped; with resume, the outcomes their drivers printed are recorded,
// later attempts over earlier ones (a done target stays done). It returns
// the submission id for the next job and the targets still to deliver. The
// old jobs are kept: their logs are the record of what they did.
func (t *transfer) settlePrevious(api jobsAPI, g *clusterGroup) (string, []*sdk.Target, error) {
	results := map[string]driverResult{}
	for n := 1; n <= maxAttempts; n++ {
		sub := t.attemptID(n)
		j, err := api.Job(t.ctx, sub)
		if errors.Is(err, ray.ErrNotFound) {
			return sub, t.undone(g.targets, results), nil
		}
		if err != nil {
			return "", nil, fmt.Errorf("looking up job %s: %w", sub, err)
		}
		if !j.Terminal() {
			if _, err := api.StopJob(t.ctx, sub); err != nil && !errors.Is(err, ray.ErrNotFound) {
				return "", nil, fmt.Errorf("stopping the earlier job %s: %w", sub, err)
			}
			if _, err = t.waitTerminal(api, sub, 60*time.Second); err != nil {
				return "", nil, err
			}
		}
		if !t.req.GetResume() {
			continue
		}
		logs, err := api.JobLogs(t.ctx, sub)
		if err != nil {
			return "", nil, fmt.Errorf("reading the logs of the earlier job %s: %w", sub, err)
		}
		done, _ := parseLogs(logs)
		for id, r := range done {
			results[id] = r
		}
	}
	return "", nil, fmt.Errorf("transfer %s has %d jobs on %s already: delete them (ray job delete) or start a new transfer", t.req.GetTransferId(), maxAttempts, g.dashboard)
}

// undone reports the targets an earlier attempt delivered (done, with the
// file's size and SHA-256) and returns the others: failed, cancelled or
// without an outcome, they are delivered again.
func (t *transfer) undone(targets []*sdk.Target, earlier map[string]driverResult) []*sdk.Target {
	var todo []*sdk.Target
	for _, tg := range targets {
		r, ok := earlier[tg.GetNodeId()]
		if ok && r.State == "done" && t.verified(r) {
			t.result(&sdk.TargetResult{NodeId: r.ID, State: sdk.TargetDone, Bytes: r.Bytes, Sha256: r.SHA256,
				Location: r.Location, BytesReused: r.Bytes, ElapsedMs: r.ElapsedMS})
			continue
		}
		todo = append(todo, tg)
	}
	return todo
}

// verified: a driver's done result counts only with the file's size and
// SHA-256 and a location.
func (t *transfer) verified(r driverResult) bool {
	f := t.req.GetFile()
	return r.Bytes == f.GetSize() && strings.EqualFold(r.SHA256, f.GetSha256()) && r.Location != ""
}

func (t *transfer) waitTerminal(api jobsAPI, sub string, limit time.Duration) (ray.JobInfo, error) {
	ctx, cancel := bg(limit)
	defer cancel()
	tick := time.NewTicker(time.Duration(t.cfg.PollIntervalMS) * time.Millisecond)
	defer tick.Stop()
	for {
		j, err := api.Job(ctx, sub)
		if err == nil && j.Terminal() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, fmt.Errorf("job %s did not end within %v of being stopped (last status %s, error %v)", sub, limit, j.Status, err)
		case <-tick.C:
		}
	}
}

// driverConfig is driver.py's settings (job metadata MetaConfig).
type driverConfig struct {
	URL          string         `json:"url"`
	Token        string         `json:"token"`
	TransferID   string         `json:"transfer_id"`
	Name         string         `json:"name"`
	Size         uint64         `json:"size"`
	ChunkSize    uint64         `json:"chunk_size"`
	SHA256       string         `json:"sha256"`
	Window       int            `json:"window"`
	IdleTimeoutS float64        `json:"idle_timeout_s"`
	Fsync        bool           `json:"fsync"`
	Verify       string         `json:"verify"`
	Fetch        string         `json:"fetch"`
	Source       *sourceFile    `json:"source,omitempty"`
	Targets      []driverTarget `json:"targets"`
}

type driverTarget struct {
	ID        string            `json:"id"`
	RayNodeID string            `json:"ray_node_id"`
	Template  string            `json:"template"`
	Vars      map[string]string `json:"vars"`
}

func (t *transfer) submission(sub string, se *session, g *clusterGroup, todo []*sdk.Target, dashHost string) (ray.JobSubmission, error) {
	f := t.req.GetFile()
	dc := driverConfig{
		URL: t.srv.baseURL(t.cfg.AdvertiseURL, dashHost) + "/s/" + se.id, Token: se.token,
		TransferID: t.req.GetTransferId(), Name: f.GetName(), Size: f.GetSize(), ChunkSize: t.chunk,
		SHA256: strings.ToLower(f.GetSha256()), Window: t.cfg.Window, Fsync: t.cfg.Fsync,
		Verify: t.cfg.Verify, Fetch: t.cfg.Fetch,
		IdleTimeoutS: float64(t.req.GetIdleTimeoutMs()) / 1000,
	}
	if t.cfg.LocalRead && t.cfg.MaxRate == 0 {
		dc.Source = identify(f.GetPath(), f.GetSize())
	}
	for _, tg := range todo {
		a := tg.GetAttributes()
		dt := driverTarget{ID: tg.GetNodeId(), RayNodeID: a["ray_node_id"], Template: t.cfg.DestTemplate,
			Vars: map[string]string{"cluster_id": safeVar(g.clusterID)}}
		if tg.GetKind() == KindActor {
			dt.Template = t.cfg.ActorDestTemplate
			dt.Vars["actor_id"] = a["actor_id"]
		}
		dc.Targets = append(dc.Targets, dt)
	}
	cfgJSON, err := json.Marshal(dc)
	if err != nil {
		return ray.JobSubmission{}, err
	}
	drv, err := encodedDriver()
	if err != nil {
		return ray.JobSubmission{}, err
	}
	return ray.JobSubmission{
		SubmissionID: sub,
		Entrypoint:   entrypoint(t.cfg.Python),
		Metadata: map[string]string{"castray_transfer": t.req.GetTransferId(), "castray_file": f.GetName(),
			"castray_targets": fmt.Sprint(len(todo)), MetaDriver: drv, MetaConfig: string(cfgJSON)},
	}, nil
}

// safeVar keeps a template variable a single path element.
func safeVar(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == '{' || r == '}' {
			return '_'
		}
		return r
	}, strings.ReplaceAll(s, "..", "__"))
}

// monitor follows the job until it ends, relaying the driver's reports.
func (t *transfer) monitor(api jobsAPI, sub string, se *session, todo []*sdk.Target) error {
	poll := time.NewTicker(time.Duration(t.cfg.PollIntervalMS) * time.Millisecond)
	defer poll.Stop()
	hello := false
	var fatal string
	handle := func(ev event) {
		switch ev.kind {
		case "hello":
			hello = true
		case "progress":
			for id, n := range ev.progress {
				t.progress(id, n)
			}
		case "result":
			t.driverResult(ev.result)
		case "fatal":
			fatal = ev.fatal
		}
	}
	stopping := false
	var stopDeadline time.Time
	for {
		select {
		case ev := <-se.events:
			handle(ev)
			if ev.kind == "result" && t.hasAll(todo) {
				// Every target has its outcome: the job ends on its own
				// (nothing is left for it to do); waiting for its exit
				// would only add Ray's shutdown and a poll interval.
				return nil
			}
			continue
		case <-t.ctx.Done():
			// The daemon went away: stop the job (its driver removes its
			// part files); what completed is in its log for a resume.
			ctx, cancel := bg(10 * time.Second)
			_, _ = api.StopJob(ctx, sub)
			cancel()
			return nil
		case <-t.stopAll:
			if !stopping {
				stopping = true
				stopDeadline = time.Now().Add(60 * time.Second)
				ctx, cancel := bg(10 * time.Second)
				_, err := api.StopJob(ctx, sub)
				cancel()
				if err != nil {
					t.b.log.Warn("stopping job", "job", sub, "error", err)
				}
			}
		case <-poll.C:
		}
		if err := se.badErr(); err != nil {
			if !stopping {
				_, _ = api.StopJob(t.ctx, sub)
			}
			return err
		}
		j, err := api.Job(t.ctx, sub)
		if err != nil {
			if t.ctx.Err() != nil {
				continue
			}
			if stopping && time.Now().After(stopDeadline) {
				return fmt.Errorf("cancelled, but job %s could not be confirmed stopped: %w", sub, err)
			}
			t.b.log.Warn("job status", "job", sub, "error", err)
			continue
		}
		if !j.Terminal() {
			if stopping && time.Now().After(stopDeadline) {
				return fmt.Errorf("cancelled, but job %s is still %s", sub, j.Status)
			}
			continue
		}
		// Ended: take every report still queued, then the log for any
		// result the driver printed but could not POST.
		for drained := false; !drained; {
			select {
			case ev := <-se.events:
				handle(ev)
			default:
				drained = true
			}
		}
		return t.finishJob(api, sub, j, hello, fatal, stopping, todo)
	}
}

func (se *session) badErr() error {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.bad
}

// driverResult turns a driver's report into the target's result; a "done"
// that does not match the file is a failure.
func (t *transfer) driverResult(r driverResult) {
	f := t.req.GetFile()
	res := &sdk.TargetResult{NodeId: r.ID, Bytes: r.Bytes, Sha256: r.SHA256, Location: r.Location, Error: r.Error, ElapsedMs: r.ElapsedMS}
	switch r.State {
	case "done":
		if !t.verified(r) {
			res.State, res.Error = sdk.TargetFailed, fmt.Sprintf("driver reported %d bytes with SHA-256 %q, want %d bytes with %s", r.Bytes, r.SHA256, f.GetSize(), f.GetSha256())
			break
		}
		res.State, res.BytesSent = sdk.TargetDone, r.Bytes
	case "cancelled":
		res.State, res.Bytes = sdk.TargetCancelled, 0
	default:
		res.State, res.Bytes = sdk.TargetFailed, 0
		if res.Error == "" {
			res.Error = "failed (no reason given)"
		}
	}
	t.result(res)
}

func (t *transfer) finishJob(api jobsAPI, sub string, j ray.JobInfo, hello bool, fatal string, stopping bool, todo []*sdk.Target) error {
	var missing []*sdk.Target
	for _, tg := range todo {
		if !t.has(tg.GetNodeId()) {
			missing = append(missing, tg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ctx, cancel := bg(30 * time.Second)
	defer cancel()
	logs, lerr := api.JobLogs(ctx, sub)
	results, fatals := parseLogs(logs)
	if fatal == "" && len(fatals) > 0 {
		fatal = fatals[len(fatals)-1]
	}
	for _, tg := range missing {
		if r, ok := results[tg.GetNodeId()]; ok {
			t.driverResult(r)
		}
	}
	if stopping {
		for _, tg := range missing {
			t.result(&sdk.TargetResult{NodeId: tg.GetNodeId(), State: sdk.TargetCancelled, Error: "cancelled"})
		}
		return nil
	}
	why := fmt.Sprintf("job %s ended %s without a result for this target", sub, j.Status)
	switch {
	case !hello && strings.Contains(logs, `"unreachable": true`):
		return fmt.Errorf("the cluster's driver could not reach this plugin's file server (%s); nothing was written. "+
			"Listen where the cluster can reach it: plugin \"ray\" { config { serve_address = \"0.0.0.0:0\" } } "+
			"(and advertise_url = \"http://<address the cluster reaches>:<port>\" behind NAT)", fatal)
	case !hello:
		msg := j.Message
		if lerr == nil && logs != "" {
			msg = tailLines(logs, 6)
		}
		return fmt.Errorf("job %s ended %s before its driver reached this plugin's file server "+
			"(check the cluster can reach it, see serve_address/advertise_url): %s", sub, j.Status, oneLine(msg))
	case fatal != "":
		why += ": " + fatal
	case j.Message != "":
		why += ": " + oneLine(j.Message)
	}
	return errors.New(why)
}

// parseLogs reads the CASTRAY_RESULT and CASTRAY_FATAL lines of a driver's
// log; a later result for the same target wins.
func parseLogs(logs string) (map[string]driverResult, []string) {
	results := map[string]driverResult{}
	var fatals []string
	for _, line := range strings.Split(logs, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "CASTRAY_RESULT "); ok {
			var r driverResult
			if json.Unmarshal([]byte(rest), &r) == nil && r.ID != "" {
				results[r.ID] = r
			}
		} else if rest, ok := strings.CutPrefix(line, "CASTRAY_FATAL "); ok {
			var f struct {
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(rest), &f) == nil {
				fatals = append(fatals, f.Error)
			}
		}
	}
	return results, fatals
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}
