package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
)

// Version is the plugin's own version.
const Version = "0.2.0"

const (
	// defaultChunk is the chunk size when the request names none (a file
	// stored without chunk digests).
	defaultChunk = 4 << 20
	// maxChunk bounds the chunk size a request may ask for: the pipeline
	// holds pipeline_depth chunks in memory.
	maxChunk = 64 << 20
	maxDepth = 64
	// maxWriters bounds the writers key.
	maxWriters = 64
	// profileEnv names a path prefix: when set, each Send writes a CPU
	// profile to "<prefix>.<transfer id>".
	profileEnv = "CASTRAY_LOCAL_CPUPROFILE"
)

// Config is the plugin's config block.
type Config struct {
	// PipelineDepth is the number of chunk buffers between the reader and
	// the writers (memory: PipelineDepth x chunk size per Send).
	PipelineDepth int `json:"pipeline_depth"`
	// Writers is the most target files written (or synced, or verified)
	// at the same time.
	Writers int `json:"writers"`
	// Fsync makes every delivered file durable before it is renamed.
	Fsync bool `json:"fsync"`
	// ProgressIntervalMS is the minimum time between progress events of
	// one target (the first one follows the first chunk at once).
	ProgressIntervalMS int `json:"progress_interval_ms"`
	// MaxRate caps the bytes per second a Send reads from the source (so
	// every target receives at most that); 0 means no limit.
	MaxRate int64 `json:"max_rate"`
}

func defaultConfig() Config {
	return Config{PipelineDepth: 4, Writers: 4, Fsync: true, ProgressIntervalMS: 200}
}

// Backend implements sdk.Transferer and sdk.TargetCanceller.
type Backend struct {
	log     hclog.Logger
	clock   clock
	hooks   hooks
	profile string

	mu     sync.Mutex
	cfg    Config
	active map[string]*run
	// kept lists, per transfer id, the inboxes where a Send that was
	// stopped (not cancelled) left partial state, so that a Cancel that
	// arrives after the Send ended still discards it.
	kept      map[string]map[string]string
	keptOrder []string

	// detached counts target goroutines abandoned by the idle timeout
	// while stuck in a system call.
	detached sync.WaitGroup
}

// maxKept bounds Backend.kept.
const maxKept = 1024

// hooks are set by tests only (export_test.go).
type hooks struct {
	// beforeWrite runs in a target's goroutine before each chunk is
	// written, counted as time spent writing by the idle timeout.
	beforeWrite func(nodeID string, chunk uint64)
	// maxBatch overrides the number of targets open at once.
	maxBatch int
}

var (
	_ sdk.Transferer      = (*Backend)(nil)
	_ sdk.TargetCanceller = (*Backend)(nil)
)

// New returns a Backend with the default configuration.
func New(log hclog.Logger) *Backend {
	return &Backend{log: log, clock: realClock{}, profile: os.Getenv(profileEnv), cfg: defaultConfig(),
		active: map[string]*run{}, kept: map[string]map[string]string{}}
}

// Info implements sdk.Plugin.
func (b *Backend) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          "local",
		Kind:          sdk.KindTransfer,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Delivers files into the inbox folders of local nodes (atomic, every chunk verified, resumable).",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (b *Backend) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	d := defaultConfig()
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "pipeline_depth", Type: "int", Description: fmt.Sprintf("Chunks read ahead of the writers (1 to %d); memory is this times the chunk size.", maxDepth), DefaultJson: fmt.Sprint(d.PipelineDepth)},
		{Name: "writers", Type: "int", Description: fmt.Sprintf("Target files written at the same time (1 to %d).", maxWriters), DefaultJson: fmt.Sprint(d.Writers)},
		{Name: "fsync", Type: "bool", Description: "Sync each delivered file to disk before renaming it.", DefaultJson: fmt.Sprint(d.Fsync)},
		{Name: "progress_interval_ms", Type: "int", Description: "Minimum milliseconds between progress events per target.", DefaultJson: fmt.Sprint(d.ProgressIntervalMS)},
		{Name: "max_rate", Type: "int", Description: "Bytes per second a transfer reads from the source (each target gets at most that); 0 = unlimited.", DefaultJson: fmt.Sprint(d.MaxRate)},
	}}, nil
}

// Configure implements sdk.Plugin.
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cfg := defaultConfig()
	if problems := sdk.DecodeConfig(req.GetConfigJson(), &cfg); problems != nil {
		return problems, nil
	}
	var problems []*sdk.ConfigError
	bad := func(key, format string, args ...any) {
		problems = append(problems, &sdk.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if cfg.PipelineDepth < 1 || cfg.PipelineDepth > maxDepth {
		bad("pipeline_depth", "must be between 1 and %d, got %d", maxDepth, cfg.PipelineDepth)
	}
	if cfg.Writers < 1 || cfg.Writers > maxWriters {
		bad("writers", "must be between 1 and %d, got %d", maxWriters, cfg.Writers)
	}
	if cfg.ProgressIntervalMS < 0 {
		bad("progress_interval_ms", "must not be negative, got %d", cfg.ProgressIntervalMS)
	}
	if cfg.MaxRate < 0 {
		bad("max_rate", "must not be negative (0 = unlimited), got %d", cfg.MaxRate)
	}
	if problems != nil {
		return problems, nil
	}
	b.mu.Lock()
	b.cfg = cfg
	b.mu.Unlock()
	return nil, nil
}

// Capabilities implements sdk.Transferer.
func (b *Backend) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{
		Modes:     []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast},
		NodeKinds: []string{"local"},
		Resumable: true,
	}, nil
}

// Cancel implements sdk.Transferer: every target of the running Send stops,
// its partial state is removed and its result says cancelled. A Cancel for
// a Send that already ended because its context did discards the partial
// state that Send kept, and answers false.
func (b *Backend) Cancel(_ context.Context, transferID string) (bool, error) {
	return b.cancel(transferID, nil), nil
}

// CancelTargets implements sdk.TargetCanceller: like Cancel for the named
// targets only; the others go on. Unknown node ids are ignored.
func (b *Backend) CancelTargets(_ context.Context, transferID string, nodeIDs []string) (bool, error) {
	nodes := map[string]bool{}
	for _, id := range nodeIDs {
		nodes[id] = true
	}
	return b.cancel(transferID, nodes), nil
}

func (b *Backend) cancel(transferID string, nodes map[string]bool) bool {
	b.mu.Lock()
	r, running := b.active[transferID]
	var dirs []string
	if !running {
		for node, dir := range b.kept[transferID] {
			if nodes == nil || nodes[node] {
				dirs = append(dirs, dir)
				delete(b.kept[transferID], node)
			}
		}
		if len(b.kept[transferID]) == 0 {
			delete(b.kept, transferID)
		}
	}
	b.mu.Unlock()
	if running {
		r.cancel(nodes)
		return true
	}
	for _, dir := range dirs {
		if err := partial.Remove(dir, transferID); err != nil {
			b.log.Warn("discard partial state", "transfer", transferID, "dir", dir, "error", err)
		}
	}
	return false
}

// keep remembers where a stopped Send left partial state.
func (b *Backend) keep(transferID string, dirs map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.kept[transferID]; !ok {
		b.keptOrder = append(b.keptOrder, transferID)
	}
	b.kept[transferID] = dirs
	for len(b.keptOrder) > maxKept {
		delete(b.kept, b.keptOrder[0])
		b.keptOrder = b.keptOrder[1:]
	}
}

// Send implements sdk.Transferer. See the package doc for what it does.
func (b *Backend) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	start := time.Now()
	lay, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	id := req.GetTransferId()
	b.mu.Lock()
	cfg := b.cfg
	b.mu.Unlock()
	r := newRun(ctx, b, req, lay, cfg, sink) // stats every inbox: not under b.mu
	b.mu.Lock()
	if _, dup := b.active[id]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("transfer %s is already running", id)
	}
	b.active[id] = r
	delete(b.kept, id) // this Send owns the state now
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.active, id)
		b.mu.Unlock()
	}()
	if b.profile != "" {
		defer startProfile(b.log, b.profile+"."+id)()
	}

	summary := r.execute()
	summary.ElapsedMs = uint32(time.Since(start).Milliseconds())
	if kept := r.keptDirs(); len(kept) > 0 {
		b.keep(id, kept)
	}
	b.log.Debug("send finished", "transfer", id, "succeeded", summary.Succeeded, "failed", summary.Failed,
		"elapsed_ms", summary.ElapsedMs)
	if err := r.stopped(); err != nil {
		return nil, err
	}
	return summary, nil
}

// layout is how the source is cut into chunks, and how it is verified.
type layout struct {
	name  string
	size  uint64
	chunk uint32
	n     uint64
	// crcs are the stored chunk digests; nil when the request has none,
	// and the whole file's SHA-256 is checked instead (no resume then).
	crcs []uint32
	sha  string
	hdr  partial.Header
}

func (l layout) chunkLen(i uint64) int { return l.hdr.ChunkLen(i) }

func checkRequest(req *sdk.SendRequest) (layout, error) {
	file := req.GetFile()
	if err := checkName(file.GetName()); err != nil {
		return layout{}, err
	}
	if len(req.GetTargets()) == 0 {
		return layout{}, errors.New("no targets")
	}
	if err := partial.CheckID(req.GetTransferId()); err != nil {
		return layout{}, fmt.Errorf("invalid transfer_id: %w", err)
	}
	l := layout{name: file.GetName(), size: file.GetSize(), chunk: file.GetChunkSize(), crcs: file.GetChunkCrc32C(), sha: strings.ToLower(file.GetSha256())}
	if len(l.crcs) == 0 {
		l.crcs = nil
	}
	switch {
	case l.crcs != nil && l.chunk == 0:
		return layout{}, errors.New("file has chunk digests but chunk_size is 0")
	case l.chunk == 0:
		l.chunk = defaultChunk
	case l.chunk > maxChunk:
		return layout{}, fmt.Errorf("chunk_size %d is larger than this backend's limit of %d", l.chunk, maxChunk)
	}
	hdr, err := partial.NewHeader(l.size, l.chunk, l.sha)
	if err != nil {
		return layout{}, fmt.Errorf("file: %w", err)
	}
	l.hdr, l.n = hdr, hdr.NumChunks()
	if l.crcs != nil && uint64(len(l.crcs)) != l.n {
		return layout{}, fmt.Errorf("file has %d chunk digests, a %d-byte file has %d chunks of %d", len(l.crcs), l.size, l.n, l.chunk)
	}
	if l.crcs == nil && l.sha == "" {
		return layout{}, errors.New("file has neither chunk digests nor sha256: nothing to verify against")
	}
	return l, nil
}

// checkName accepts a plain file name only: it becomes a path element in
// every inbox, so separators, "." and ".." are refused, and so is the
// prefix of partial state.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid file name %q", name)
	case strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0):
		return fmt.Errorf("invalid file name %q: must not contain path separators", name)
	case strings.HasPrefix(name, partial.Prefix):
		return fmt.Errorf("invalid file name %q: the %s prefix is reserved", name, partial.Prefix)
	}
	return nil
}
