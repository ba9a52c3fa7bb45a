package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
)

// Version is the plugin's own version.
const Version = "0.1.0"

// Config is the plugin's config block.
type Config struct {
	// BufferSize is the size of one read from the source, in bytes.
	BufferSize int `json:"buffer_size"`
	// Fsync makes every delivered file durable before it is renamed.
	Fsync bool `json:"fsync"`
	// ProgressIntervalMS is the minimum time between progress events of
	// one target.
	ProgressIntervalMS int `json:"progress_interval_ms"`
}

func defaultConfig() Config {
	return Config{BufferSize: 1 << 20, Fsync: true, ProgressIntervalMS: 200}
}

// Backend implements sdk.Transferer.
type Backend struct {
	log hclog.Logger

	mu     sync.Mutex
	cfg    Config
	active map[string]context.CancelFunc
}

// New returns a Backend with the default configuration.
func New(log hclog.Logger) *Backend {
	return &Backend{log: log, cfg: defaultConfig(), active: map[string]context.CancelFunc{}}
}

// Info implements sdk.Plugin.
func (b *Backend) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name:          "local",
		Kind:          sdk.KindTransfer,
		PluginVersion: Version,
		ApiVersions:   []uint32{sdk.APIVersion},
		Description:   "Delivers files into the inbox folders of local nodes (atomic, SHA-256 verified).",
	}, nil
}

// ConfigSchema implements sdk.Plugin.
func (b *Backend) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	d := defaultConfig()
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "buffer_size", Type: "int", Description: "Bytes per read of the source (4 KiB to 64 MiB).", DefaultJson: fmt.Sprint(d.BufferSize)},
		{Name: "fsync", Type: "bool", Description: "Sync each delivered file to disk before renaming it.", DefaultJson: fmt.Sprint(d.Fsync)},
		{Name: "progress_interval_ms", Type: "int", Description: "Minimum milliseconds between progress events per target.", DefaultJson: fmt.Sprint(d.ProgressIntervalMS)},
	}}, nil
}

// Configure implements sdk.Plugin.
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cfg := defaultConfig()
	if problems := sdk.DecodeConfig(req.GetConfigJson(), &cfg); problems != nil {
		return problems, nil
	}
	var problems []*sdk.ConfigError
	if cfg.BufferSize < 4<<10 || cfg.BufferSize > 64<<20 {
		problems = append(problems, &sdk.ConfigError{Key: "buffer_size", Message: fmt.Sprintf("must be between 4096 and 67108864, got %d", cfg.BufferSize)})
	}
	if cfg.ProgressIntervalMS < 0 {
		problems = append(problems, &sdk.ConfigError{Key: "progress_interval_ms", Message: "must not be negative"})
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
	}, nil
}

// Cancel implements sdk.Transferer.
func (b *Backend) Cancel(_ context.Context, transferID string) (bool, error) {
	b.mu.Lock()
	cancel, ok := b.active[transferID]
	b.mu.Unlock()
	if ok {
		cancel()
	}
	return ok, nil
}

// Send implements sdk.Transferer.
func (b *Backend) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	start := time.Now()
	file := req.GetFile()
	if err := checkName(file.GetName()); err != nil {
		return nil, err
	}
	if len(req.GetTargets()) == 0 {
		return nil, errors.New("no targets")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if id := req.GetTransferId(); id != "" {
		b.mu.Lock()
		if _, dup := b.active[id]; dup {
			b.mu.Unlock()
			return nil, fmt.Errorf("transfer %s is already running", id)
		}
		b.active[id] = cancel
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			delete(b.active, id)
			b.mu.Unlock()
		}()
	}
	b.mu.Lock()
	cfg := b.cfg
	b.mu.Unlock()

	fan := &fanout{cfg: cfg, file: file, sink: sink}
	for _, t := range req.GetTargets() {
		fan.open(t)
	}
	if err := fan.copy(ctx); err != nil {
		return nil, err
	}
	summary := fan.finish(ctx)
	summary.ElapsedMs = uint32(time.Since(start).Milliseconds())
	b.log.Debug("send finished", "transfer", req.GetTransferId(), "succeeded", summary.Succeeded, "failed", summary.Failed)
	return summary, nil
}

// checkName accepts a plain file name only: it becomes a path element in
// every inbox, so separators, "." and ".." are refused.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid file name %q", name)
	case strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0):
		return fmt.Errorf("invalid file name %q: must not contain path separators", name)
	case strings.HasPrefix(name, ".castray-"):
		return fmt.Errorf("invalid file name %q: the .castray- prefix is reserved", name)
	}
	return nil
}

// target is one delivery in progress.
type target struct {
	spec     *sdk.Target
	tmp      *os.File
	final    string
	err      error
	state    sdk.TargetState
	lastSent time.Time
}

// fanout copies one source to many targets.
type fanout struct {
	cfg     Config
	file    *sdk.FileSpec
	sink    sdk.TransferSink
	targets []*target
	written uint64
	sum     string
}

// open prepares a target; a target that cannot be prepared fails alone.
func (f *fanout) open(spec *sdk.Target) {
	t := &target{spec: spec, state: sdk.TargetRunning}
	f.targets = append(f.targets, t)
	inbox := spec.GetAttributes()["inbox_dir"]
	switch {
	case spec.GetKind() != "" && spec.GetKind() != "local":
		t.err = fmt.Errorf("node kind %q is not reachable by the local backend", spec.GetKind())
	case inbox == "":
		t.err = errors.New("target has no inbox_dir attribute")
	}
	if t.err == nil {
		if st, err := os.Stat(inbox); err != nil {
			t.err = fmt.Errorf("inbox %s: %w", inbox, err)
		} else if !st.IsDir() {
			t.err = fmt.Errorf("inbox %s is not a directory", inbox)
		}
	}
	if t.err == nil {
		t.final = filepath.Join(inbox, f.file.GetName())
		t.tmp, t.err = os.CreateTemp(inbox, ".castray-*.part")
	}
	if t.err != nil {
		t.state = sdk.TargetFailed
	}
}

func (f *fanout) live() int {
	n := 0
	for _, t := range f.targets {
		if t.err == nil {
			n++
		}
	}
	return n
}

// copy streams the source into every live target, hashing it once. An error
// return means the whole send failed before any result was reported.
func (f *fanout) copy(ctx context.Context) error {
	src, err := os.Open(f.file.GetPath())
	if err != nil {
		f.abortAll(fmt.Errorf("open source: %w", err))
		return nil
	}
	defer src.Close()
	h := sha256.New()
	buf := make([]byte, f.cfg.BufferSize)
	interval := time.Duration(f.cfg.ProgressIntervalMS) * time.Millisecond
	for f.live() > 0 {
		if err := ctx.Err(); err != nil {
			f.abortAll(err)
			return nil
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			h.Write(chunk)
			f.written += uint64(n)
			for _, t := range f.targets {
				if t.err != nil {
					continue
				}
				if _, err := t.tmp.Write(chunk); err != nil {
					t.fail(fmt.Errorf("write %s: %w", t.tmp.Name(), err))
					continue
				}
				if time.Since(t.lastSent) >= interval {
					t.lastSent = time.Now()
					if err := f.sink.Progress(&sdk.TargetProgress{NodeId: t.spec.GetNodeId(), BytesDone: f.written, BytesTotal: f.file.GetSize()}); err != nil {
						f.abortAll(err)
						return err
					}
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.abortAll(fmt.Errorf("read source: %w", rerr))
			return nil
		}
	}
	f.sum = hex.EncodeToString(h.Sum(nil))
	switch {
	case f.written != f.file.GetSize():
		f.abortAll(fmt.Errorf("source is %d bytes, expected %d (changed during transfer?)", f.written, f.file.GetSize()))
	case f.file.GetSha256() != "" && !strings.EqualFold(f.sum, f.file.GetSha256()):
		f.abortAll(fmt.Errorf("sha256 mismatch: wrote %s, expected %s", f.sum, f.file.GetSha256()))
	}
	return nil
}

// finish commits every target that is still healthy and reports each
// target's result.
func (f *fanout) finish(ctx context.Context) *sdk.SendSummary {
	summary := &sdk.SendSummary{}
	for _, t := range f.targets {
		if t.err == nil {
			t.err = f.commit(t)
		}
		res := &sdk.TargetResult{NodeId: t.spec.GetNodeId(), State: sdk.TargetDone}
		if t.err != nil {
			t.cleanup()
			res.State = t.state
			if res.State == sdk.TargetRunning {
				res.State = sdk.TargetFailed
			}
			res.Error = t.err.Error()
			summary.Failed++
		} else {
			res.Bytes, res.Location, res.Sha256 = f.written, t.final, f.sum
			summary.Succeeded++
			summary.Bytes += f.written
		}
		if err := f.sink.Result(res); err != nil && ctx.Err() == nil {
			return summary
		}
	}
	return summary
}

// commit makes a fully written, verified temp file durable and renames it to
// the final name.
func (f *fanout) commit(t *target) error {
	if f.cfg.Fsync {
		if err := t.tmp.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", t.tmp.Name(), err)
		}
	}
	if err := t.tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", t.tmp.Name(), err)
	}
	if err := os.Chmod(t.tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", t.tmp.Name(), err)
	}
	if err := os.Rename(t.tmp.Name(), t.final); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	t.tmp = nil
	if f.cfg.Fsync {
		if dir, err := os.Open(filepath.Dir(t.final)); err == nil {
			_ = dir.Sync()
			_ = dir.Close()
		}
	}
	return nil
}

func (t *target) fail(err error) {
	t.err = err
	t.state = sdk.TargetFailed
	t.cleanup()
}

func (t *target) cleanup() {
	if t.tmp != nil {
		name := t.tmp.Name()
		_ = t.tmp.Close()
		_ = os.Remove(name)
		t.tmp = nil
	}
}

// abortAll fails every live target with err; a context error marks them
// cancelled.
func (f *fanout) abortAll(err error) {
	for _, t := range f.targets {
		if t.err != nil {
			continue
		}
		t.fail(err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.state = sdk.TargetCancelled
		}
	}
}
