package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/sdk"
)

// Plugins gives the manager the discovery plugins to run.
type Plugins interface {
	Discoverers() map[string]sdk.Discoverer
}

// Emitter publishes an event.
type Emitter func(typ string, data any)

// Options configure a Manager.
type Options struct {
	Plugins Plugins
	Emit    Emitter
	Log     hclog.Logger
	// Timeout bounds each plugin's part of a round (default 10 s).
	Timeout time.Duration
	// ProbeTimeout is passed to plugins as the per-probe budget
	// (default 1 s).
	ProbeTimeout time.Duration
	// Addresses already known (e.g. RAY_ADDRESS), passed to plugins.
	Addresses []string
	// Scope is the allowlist of the hosts a request may name (nil: any
	// well-formed host). Requests are always checked for well-formed hosts
	// and ports.
	Scope *Scope
	// OnRound, optional, is told how every Discover call ended: its result,
	// or the error that kept the round from running (metrics).
	OnRound func(*Result, error)
}

// Request narrows one round.
type Request struct {
	// Hosts and Ports override the plugins' configured scope.
	Hosts []string `json:"hosts,omitempty"`
	Ports []uint32 `json:"ports,omitempty"`
	// Plugins limits the round to these plugin names (default all).
	Plugins []string `json:"plugins,omitempty"`
	// TimeoutMS overrides Options.Timeout.
	TimeoutMS uint32 `json:"timeout_ms,omitempty"`
}

// PluginRun reports one plugin's part of a round.
type PluginRun struct {
	Name       string `json:"name"`
	DurationMS int64  `json:"duration_ms"`
	Candidates int    `json:"candidates"`
	Probes     uint32 `json:"probes"`
	// Error is set when the call failed (timeout, crash, error).
	Error  string   `json:"error,omitempty"`
	Errors []string `json:"errors,omitempty"`
	Notes  []Note   `json:"notes,omitempty"`
}

// Note is a plugin's non-fatal remark.
type Note struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

// Result is one discovery round.
type Result struct {
	ID         string               `json:"id"`
	StartedAt  time.Time            `json:"started_at"`
	FinishedAt time.Time            `json:"finished_at"`
	DurationMS int64                `json:"duration_ms"`
	Clusters   []Cluster            `json:"clusters"`
	Plugins    map[string]PluginRun `json:"plugins"`
}

// Manager runs discovery rounds. One round runs at a time; a request that
// arrives meanwhile waits for it and gets its own fresh round.
type Manager struct {
	opts Options
	norm normalizer

	round chan struct{} // a one-slot semaphore: one round at a time
	mu    sync.Mutex
	last  *Result
}

// ErrNoPlugins is returned when no discovery plugin is enabled.
var ErrNoPlugins = errors.New("no discovery plugins are enabled")

// New returns a Manager.
func New(opts Options) *Manager {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = time.Second
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Emit == nil {
		opts.Emit = func(string, any) {}
	}
	return &Manager{opts: opts, norm: newNormalizer(), round: make(chan struct{}, 1)}
}

// Last returns the last round's result, or nil before the first round.
func (m *Manager) Last() *Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Discover runs one round with every selected plugin at once.
func (m *Manager) Discover(ctx context.Context, req Request) (*Result, error) {
	res, err := m.discover(ctx, req)
	if m.opts.OnRound != nil {
		m.opts.OnRound(res, err)
	}
	return res, err
}

func (m *Manager) discover(ctx context.Context, req Request) (*Result, error) {
	if err := m.opts.Scope.Check(req); err != nil {
		return nil, err
	}
	select {
	case m.round <- struct{}{}:
		defer func() { <-m.round }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the running discovery round: %w", ctx.Err())
	}

	plugins := m.opts.Plugins.Discoverers()
	if len(req.Plugins) > 0 {
		selected := map[string]sdk.Discoverer{}
		for _, name := range req.Plugins {
			d, ok := plugins[name]
			if !ok {
				return nil, fmt.Errorf("discovery plugin %q is not loaded", name)
			}
			selected[name] = d
		}
		plugins = selected
	}
	if len(plugins) == 0 {
		return nil, ErrNoPlugins
	}
	timeout := m.opts.Timeout
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}

	res := &Result{ID: roundID(), StartedAt: time.Now().UTC(), Plugins: map[string]PluginRun{}, Clusters: []Cluster{}}
	names := make([]string, 0, len(plugins))
	for name := range plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	m.opts.Emit(events.TypeDiscoveryStarted, map[string]any{"id": res.ID, "plugins": names, "timeout_ms": timeout.Milliseconds()})

	var (
		mu     sync.Mutex // guards merged and res.Plugins
		merged = &merger{norm: m.norm}
		wg     sync.WaitGroup
	)
	for name, d := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := m.runPlugin(ctx, name, d, req, timeout, func(c *sdk.ClusterCandidate) {
				mu.Lock()
				cl, isNew := merged.add(c)
				snapshot := *cl
				mu.Unlock()
				if isNew {
					m.opts.Emit(events.TypeClusterDiscovered, snapshot)
				}
			})
			mu.Lock()
			res.Plugins[name] = run
			mu.Unlock()
		}()
	}
	wg.Wait()

	res.FinishedAt = time.Now().UTC()
	res.DurationMS = res.FinishedAt.Sub(res.StartedAt).Milliseconds()
	for _, cl := range merged.clusters() {
		res.Clusters = append(res.Clusters, *cl)
	}
	sort.Slice(res.Clusters, func(i, j int) bool {
		if (res.Clusters[i].Status == "active") != (res.Clusters[j].Status == "active") {
			return res.Clusters[i].Status == "active"
		}
		return res.Clusters[i].ID < res.Clusters[j].ID
	})
	m.mu.Lock()
	m.last = res
	m.mu.Unlock()
	for _, cl := range res.Clusters {
		m.opts.Emit(events.TypeExternalClusterDiscovered, cl)
	}
	m.opts.Emit(events.TypeDiscoveryFinished, map[string]any{
		"id": res.ID, "duration_ms": res.DurationMS, "clusters": len(res.Clusters), "plugins": res.Plugins,
	})
	m.opts.Log.Info("discovery finished", "clusters", len(res.Clusters), "duration_ms", res.DurationMS)
	return res, nil
}

// runPlugin runs one plugin under its own deadline and never fails the
// round: whatever goes wrong is recorded in the PluginRun.
func (m *Manager) runPlugin(ctx context.Context, name string, d sdk.Discoverer, req Request, timeout time.Duration, found func(*sdk.ClusterCandidate)) PluginRun {
	run := PluginRun{Name: name}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &collector{found: found, run: &run, name: name}
	summary, err := d.Discover(ctx, &sdk.DiscoverRequest{
		Hosts: req.Hosts, Ports: req.Ports, Addresses: m.opts.Addresses,
		TimeoutMs: uint32(timeout.Milliseconds()), ProbeTimeoutMs: uint32(m.opts.ProbeTimeout.Milliseconds()),
	}, s)
	run.DurationMS = time.Since(start).Milliseconds()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (err != nil && ctx.Err() == context.DeadlineExceeded):
		run.Error = fmt.Sprintf("timed out after %v", timeout)
	case err != nil:
		run.Error = err.Error()
	default:
		run.Probes, run.Errors = summary.GetProbes(), summary.GetErrors()
	}
	if run.Error != "" {
		m.opts.Log.Warn("discovery plugin failed", "plugin", name, "error", run.Error)
	}
	return run
}

// collector receives one plugin's stream.
type collector struct {
	name  string
	found func(*sdk.ClusterCandidate)
	mu    sync.Mutex
	run   *PluginRun
}

func (c *collector) Candidate(cand *sdk.ClusterCandidate) error {
	if cand.GetSource() == "" {
		cand.Source = c.name
	}
	c.mu.Lock()
	c.run.Candidates++
	c.mu.Unlock()
	c.found(cand)
	return nil
}

func (c *collector) Note(n *sdk.DiscoverNote) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.run.Notes) < 100 {
		c.run.Notes = append(c.run.Notes, Note{Level: n.GetLevel(), Message: n.GetMessage(), Target: n.GetTarget()})
	}
	return nil
}

func roundID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "disc-" + time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(b[:])
}
