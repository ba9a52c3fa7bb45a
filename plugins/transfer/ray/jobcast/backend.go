package jobcast

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
	"github.com/castray/castray/sdk/raytoken"
)

// Version is the plugin's own version.
const Version = "0.1.0"

const (
	defaultChunk = 4 << 20
	maxChunk     = 64 << 20
	maxWindow    = 32
	// KindNode and KindActor are the node kinds this backend reaches.
	KindNode  = "ray-node"
	KindActor = "ray-actor"

	// VerifyReread and VerifyWritten are the values of Config.Verify.
	VerifyReread  = "reread"
	VerifyWritten = "written"
	// FetchObjectStore and FetchDirect are the values of Config.Fetch.
	FetchObjectStore = "object-store"
	FetchDirect      = "direct"
)

// Config is the plugin's config block.
type Config struct {
	ServeAddress      string `json:"serve_address" castray:"desc=host:port the plugin's file server listens on; the cluster's driver (on the head node) must reach it"`
	AdvertiseURL      string `json:"advertise_url" castray:"desc=Base URL the driver uses for the file server when serve_address is not reachable as is (NAT); empty: derived from serve_address"`
	DestTemplate      string `json:"dest_template" castray:"desc=Folder on a node that receives the file; variables {node_id} {cluster_id} {tmp} {session_dir}"`
	ActorDestTemplate string `json:"actor_dest_template" castray:"desc=Folder for an actor target on the node hosting it; variables as dest_template plus {actor_id}"`
	AuthToken         string `json:"auth_token" castray:"desc=Ray auth token; empty: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token"`
	Window            int    `json:"window" castray:"desc=Chunks in flight between the driver and the writers (1-32)"`
	Python            string `json:"python" castray:"desc=Python on the head node that has ray; empty: the one running Ray's job supervisor, then python3, python"`
	Fsync             bool   `json:"fsync" castray:"desc=Sync each delivered file before its rename"`
	Verify            string `json:"verify" castray:"desc=What the SHA-256 checked on each node covers: reread (the part file read back, default) or written (the bytes handed to pwrite)"`
	Fetch             string `json:"fetch" castray:"desc=How the bytes reach the writers: object-store (read once per cluster by the driver, moved by Ray's object manager; default) or direct (every writer pulls its own copy from the file server)"`
	MaxRate           int64  `json:"max_rate" castray:"desc=Bytes per second the file server sends per job; 0 = unlimited"`
	LocalRead         bool   `json:"local_read" castray:"desc=Let a driver that runs on the daemon's machine read the stored file from disk (checked by device, inode, size and mtime) instead of pulling it over HTTP; not with max_rate"`
	PollIntervalMS    int    `json:"poll_interval_ms" castray:"desc=How often the job's status is polled"`
	DashboardTimeoutS int    `json:"dashboard_timeout_s" castray:"desc=Timeout of each Jobs API request"`
}

func defaultConfig() Config {
	return Config{
		ServeAddress:      "127.0.0.1:0",
		DestTemplate:      "{tmp}/castray/{node_id}",
		ActorDestTemplate: "{tmp}/castray/{node_id}/actors/{actor_id}",
		Window:            4,
		Fsync:             true,
		Verify:            VerifyReread,
		Fetch:             FetchObjectStore,
		LocalRead:         true,
		PollIntervalMS:    1000,
		DashboardTimeoutS: 30,
	}
}

// jobsAPI is the part of *ray.Dashboard a Send uses (a fake in tests).
type jobsAPI interface {
	SubmitJob(ctx context.Context, s ray.JobSubmission) (string, error)
	Job(ctx context.Context, id string) (ray.JobInfo, error)
	StopJob(ctx context.Context, id string) (bool, error)
	JobLogs(ctx context.Context, id string) (string, error)
}

// Backend implements sdk.Transferer and sdk.TargetCanceller.
type Backend struct {
	sdk.Configured[Config]
	log hclog.Logger
	// dial makes the Jobs API client of a dashboard (tests replace it).
	dial func(dashboardURL, token string, timeout time.Duration) (jobsAPI, error)
	// findToken looks up the Ray token (tests replace it).
	findToken func(configured string) (raytoken.Token, error)

	mu     sync.Mutex
	srv    *fileServer
	active map[string]*transfer
}

var (
	_ sdk.Transferer      = (*Backend)(nil)
	_ sdk.TargetCanceller = (*Backend)(nil)
)

// New returns a Backend with the default configuration.
func New(log hclog.Logger) *Backend {
	b := &Backend{log: log, active: map[string]*transfer{}, findToken: raytoken.Find}
	b.Config = defaultConfig()
	b.dial = func(u, tok string, timeout time.Duration) (jobsAPI, error) { return ray.NewDashboard(u, tok, timeout) }
	return b
}

// Info implements sdk.Plugin.
func (b *Backend) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{
		Name: "ray", Kind: sdk.KindTransfer, PluginVersion: Version, ApiVersions: []uint32{sdk.APIVersion},
		Description: "Delivers files onto Ray nodes and actors' nodes through a Ray job and Ray's object store (nothing installed on the cluster).",
	}, nil
}

// Configure implements sdk.Plugin: the keys of Config, checked.
func (b *Backend) Configure(ctx context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	cur := b.Config
	problems, err := b.Configured.Configure(ctx, req)
	if err != nil || problems != nil {
		return problems, err
	}
	c := b.Config
	bad := func(key, format string, args ...any) {
		problems = append(problems, &sdk.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.ServeAddress); err != nil {
		bad("serve_address", "want host:port: %v", err)
	}
	if c.AdvertiseURL != "" {
		u, err := url.Parse(c.AdvertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			bad("advertise_url", "want http(s)://host:port[/path] with an explicit port, got %q", c.AdvertiseURL)
		}
	}
	for key, tmpl := range map[string]string{"dest_template": c.DestTemplate, "actor_dest_template": c.ActorDestTemplate} {
		if err := checkTemplate(tmpl, key == "actor_dest_template"); err != nil {
			bad(key, "%v", err)
		}
	}
	if c.Window < 1 || c.Window > maxWindow {
		bad("window", "must be between 1 and %d, got %d", maxWindow, c.Window)
	}
	if c.Verify != VerifyReread && c.Verify != VerifyWritten {
		bad("verify", "must be %q or %q, got %q", VerifyReread, VerifyWritten, c.Verify)
	}
	if c.Fetch != FetchObjectStore && c.Fetch != FetchDirect {
		bad("fetch", "must be %q or %q, got %q", FetchObjectStore, FetchDirect, c.Fetch)
	}
	if c.MaxRate < 0 {
		bad("max_rate", "must not be negative (0 = unlimited), got %d", c.MaxRate)
	}
	if c.PollIntervalMS < 50 {
		bad("poll_interval_ms", "must be at least 50, got %d", c.PollIntervalMS)
	}
	if c.DashboardTimeoutS < 1 {
		bad("dashboard_timeout_s", "must be at least 1, got %d", c.DashboardTimeoutS)
	}
	if strings.ContainsAny(c.Python, "'\"`$;&|<>\n\\") {
		bad("python", "must be a plain path or command name, got %q", c.Python)
	}
	if problems != nil {
		b.Config = cur
	}
	return problems, nil
}

var templateVar = regexp.MustCompile(`\{([a-z_]+)\}`)

func checkTemplate(t string, actor bool) error {
	known := map[string]bool{"node_id": true, "cluster_id": true, "tmp": true, "session_dir": true, "actor_id": actor}
	if !strings.HasPrefix(t, "/") && !strings.HasPrefix(t, "{tmp}") && !strings.HasPrefix(t, "{session_dir}") {
		return fmt.Errorf("%q must be an absolute path or start with {tmp} or {session_dir}", t)
	}
	for _, m := range templateVar.FindAllStringSubmatch(t, -1) {
		if !known[m[1]] {
			return fmt.Errorf("%q: unknown variable {%s}", t, m[1])
		}
	}
	if strings.Contains(templateVar.ReplaceAllString(t, "x"), "{") || strings.Contains(t, "..") {
		return fmt.Errorf("%q: stray brace or '..'", t)
	}
	if !strings.Contains(t, "{node_id}") {
		return fmt.Errorf("%q must contain {node_id}: several Ray nodes on one machine must not share a folder", t)
	}
	if actor && !strings.Contains(t, "{actor_id}") {
		return fmt.Errorf("%q must contain {actor_id}", t)
	}
	return nil
}

// Capabilities implements sdk.Transferer.
func (b *Backend) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{
		Modes:     []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast},
		NodeKinds: []string{KindNode, KindActor},
		Resumable: true,
	}, nil
}

// Cancel implements sdk.Transferer: the running Send's jobs are stopped
// through the Jobs API; the driver removes its part files; targets without
// an outcome end cancelled.
func (b *Backend) Cancel(_ context.Context, transferID string) (bool, error) {
	b.mu.Lock()
	t := b.active[transferID]
	b.mu.Unlock()
	if t == nil {
		return false, nil
	}
	t.cancelAll()
	return true, nil
}

// CancelTargets implements sdk.TargetCanceller: the driver hears of it in
// the answer to its next progress report (within a second) and aborts those
// writers only.
func (b *Backend) CancelTargets(_ context.Context, transferID string, nodeIDs []string) (bool, error) {
	b.mu.Lock()
	t := b.active[transferID]
	b.mu.Unlock()
	if t == nil {
		return false, nil
	}
	t.cancelTargets(nodeIDs)
	return true, nil
}

// server starts the file server on first use.
func (b *Backend) server(addr string) (*fileServer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		s, err := startServer(addr)
		if err != nil {
			return nil, err
		}
		b.srv = s
	}
	return b.srv, nil
}

// Close stops the file server (tests).
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.close()
		b.srv = nil
	}
}

var transferIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$`)

// Send implements sdk.Transferer.
func (b *Backend) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	start := time.Now()
	file := req.GetFile()
	if !transferIDRe.MatchString(req.GetTransferId()) {
		return nil, fmt.Errorf("invalid transfer_id %q (letters, digits, _ . - only)", req.GetTransferId())
	}
	if n := file.GetName(); n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") || strings.HasPrefix(n, ".castray-") {
		return nil, fmt.Errorf("invalid file name %q", n)
	}
	if len(req.GetTargets()) == 0 {
		return nil, errors.New("no targets")
	}
	if len(file.GetSha256()) != 64 {
		return nil, errors.New("file has no sha256: the ray backend verifies every copy against it")
	}
	chunk := uint64(file.GetChunkSize())
	if chunk == 0 {
		chunk = defaultChunk
	}
	if chunk > maxChunk {
		return nil, fmt.Errorf("chunk_size %d is larger than this backend's limit of %d", chunk, maxChunk)
	}
	if crcs := file.GetChunkCrc32C(); len(crcs) > 0 && uint64(len(crcs)) != (file.GetSize()+chunk-1)/chunk {
		return nil, fmt.Errorf("file has %d chunk digests, a %d-byte file has %d chunks of %d", len(crcs), file.GetSize(), (file.GetSize()+chunk-1)/chunk, chunk)
	}
	cfg := b.Config
	srv, err := b.server(cfg.ServeAddress)
	if err != nil {
		return nil, err
	}
	tok, err := b.findToken(cfg.AuthToken)
	if err != nil {
		return nil, fmt.Errorf("ray auth token: %w", err)
	}

	t := newTransfer(ctx, b, req, cfg, chunk, srv, tok.Value, sink)
	b.mu.Lock()
	if _, dup := b.active[req.GetTransferId()]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("transfer %s is already running", req.GetTransferId())
	}
	b.active[req.GetTransferId()] = t
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.active, req.GetTransferId())
		b.mu.Unlock()
	}()
	t.run()
	sum := t.summary()
	sum.ElapsedMs = uint32(time.Since(start).Milliseconds())
	b.log.Debug("send finished", "transfer", req.GetTransferId(), "succeeded", sum.Succeeded, "failed", sum.Failed)
	if err := t.sinkErr(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil && !t.cancelled() {
		return nil, ctx.Err()
	}
	return sum, nil
}
