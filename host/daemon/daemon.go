package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/config"
	"github.com/castray/castray/host/api"
	"github.com/castray/castray/host/apitoken"
	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/distribution"
	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/localray"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/metrics"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
)

// Version is the daemon's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// demoNodes are the original's three demo nodes and their ports.
var demoNodes = []struct {
	id   string
	port int
}{{"node_1", 9001}, {"node_2", 9002}, {"node_3", 9003}}

// Daemon is a running CastRay daemon.
type Daemon struct {
	cfg       *config.Config
	log       hclog.Logger
	out       io.Writer
	store     *store.Store
	bus       *events.Bus
	registry  *registry.Registry
	groups    *groups.Service
	messages  *messages.Log
	plugins   *pluginmgr.Manager
	files     *files.Store
	transfers *transfer.Service
	discovery *discovery.Manager
	connector *connector.Connector
	metrics   *metrics.Metrics

	// distributions keeps the standing distributions (started in Run).
	distributions *distribution.Service

	// localHead is the Ray head CastRay started itself
	// (ray_cluster.fallback_to_local), stopped at shutdown.
	headMu    sync.Mutex
	localHead *localray.Head
	closing   bool
	api       *api.Server
	ln        net.Listener
	token     string
}

// New builds the daemon: it opens the store, loads nodes, launches and
// configures plugins and binds the listener. Any error leaves nothing
// running. out receives the one-time notice of a generated API token.
func New(cfg *config.Config, log hclog.Logger, out io.Writer) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, out: out, bus: events.NewBus(), metrics: metrics.New()}
	if err := d.build(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) build() error {
	cfg, log := d.cfg, d.log

	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data_dir %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	if d.store, err = store.Open(filepath.Join(dataDir, "castray.db")); err != nil {
		return err
	}
	d.registry = registry.New(d.store, d.bus.Publish)
	if err := d.registry.Load(); err != nil {
		return fmt.Errorf("load nodes: %w", err)
	}
	d.groups = groups.New(d.store, d.registry)
	if err := d.groups.Load(); err != nil {
		return fmt.Errorf("load groups: %w", err)
	}
	d.messages = messages.New(messages.Options{Store: d.store, Emit: d.bus.Publish, Log: log.Named("messages")})
	if err := d.messages.Load(); err != nil {
		return err
	}
	inboxRoot := filepath.Join(dataDir, "inbox")
	if cfg.RayCluster.CreateDemoNodes {
		if err := d.createDemoNodes(inboxRoot); err != nil {
			return err
		}
	}

	pluginDir, err := resolvePluginDir(cfg.PluginDir)
	if err != nil {
		return err
	}
	settings := map[string]pluginmgr.Settings{}
	for name, p := range cfg.Plugins {
		settings[name] = pluginmgr.Settings{Enabled: p.IsEnabled(), SHA256: p.SHA256, Config: p.Config}
	}
	var pluginEnv []string
	if tok := cfg.ExternalCluster.AuthToken; tok != "" {
		// One setting for the connector and every plugin that speaks to
		// Ray (sdk/raytoken reads RAY_AUTH_TOKEN before any file).
		pluginEnv = []string{"RAY_AUTH_TOKEN=" + tok}
	}
	d.plugins, err = pluginmgr.Load(pluginmgr.Options{
		Dir: pluginDir, Settings: settings, DataDir: dataDir, Logger: log, LogLevel: cfg.EffectiveLogLevel(), Env: pluginEnv,
		OnState: func(st pluginmgr.Status) { d.bus.Publish(events.TypePluginState, st) },
	})
	if err != nil {
		return err
	}

	// The connector is built before the transfer service, which gives Ray
	// targets their cluster's endpoints from it; it connects nothing yet.
	timeout := config.Seconds(cfg.ExternalCluster.ConnectionTimeout)
	d.connector = connector.New(connector.Options{
		Registry: d.registry, Emit: d.bus.Publish, Log: log,
		Dialer:       connector.NewRayDialer(timeout, cfg.ExternalCluster.AuthToken, log),
		SyncInterval: config.Seconds(cfg.ExternalCluster.SyncInterval), Timeout: timeout,
		ActorFilter: connector.ActorFilter{Named: cfg.ExternalCluster.NamedActors, ClassPatterns: cfg.ExternalCluster.ActorClasses},
		OnSync:      d.metrics.Sync,
	})

	ft := cfg.FileTransfer
	if d.files, err = files.Open(filepath.Join(dataDir, "uploads"), d.store, ft.ChunkSize, log.Named("files")); err != nil {
		return err
	}
	d.transfers = transfer.New(transfer.Options{
		Store: d.store, Nodes: d.registry, Backends: d.plugins, Clusters: d.connector, Sources: d.files, Emit: d.bus.Publish, Log: log,
		InboxRoot: inboxRoot, IdleTimeout: config.Seconds(ft.Timeout),
		MaxAge: config.Seconds(ft.HistoryMaxAge), MaxRecords: ft.HistoryMaxRecords,
		OnEnd: d.metrics.TransferEnded,
	})
	if err := d.transfers.Recover(); err != nil {
		return fmt.Errorf("recover transfers: %w", err)
	}
	d.distributions = distribution.New(distribution.Options{
		Store: d.store, Nodes: d.registry, Transfers: d.transfers, Files: d.files, Bus: d.bus, Log: log,
		Interval: config.Seconds(cfg.ExternalCluster.SyncInterval),
	})
	if err := d.distributions.Load(); err != nil {
		return fmt.Errorf("load distributions: %w", err)
	}

	var known []string
	if a := cfg.RayCluster.Address; a != "" && a != "auto" {
		known = append(known, a)
	}
	scope := discovery.ThisMachine("external_cluster.scan_allow (default: this machine)")
	if allow := cfg.ExternalCluster.ScanAllow; len(allow) > 0 {
		if scope, err = discovery.ParseScope("external_cluster.scan_allow", allow); err != nil {
			return err
		}
	}
	d.discovery = discovery.New(discovery.Options{
		Plugins: d.plugins, Emit: d.bus.Publish, Log: log.Named("discovery"),
		Timeout: config.Seconds(cfg.ExternalCluster.ConnectionTimeout), Addresses: known,
		Scope: scope, OnRound: d.metrics.Round,
	})
	if err := d.metrics.Watch(metrics.Sources{
		Clusters:        d.connector.Clusters,
		VisitNodes:      d.registry.Visit,
		ActiveTransfers: d.transfers.Running,
		Plugins:         d.plugins.List,
	}); err != nil {
		return err
	}

	addr := net.JoinHostPort(cfg.WebServer.Host, strconv.Itoa(cfg.WebServer.Port))
	if d.ln, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	var rotate func() (string, error)
	if d.token, rotate, err = d.apiToken(); err != nil {
		return err
	}
	d.api = api.New(api.Deps{
		Registry: d.registry, Plugins: d.plugins, Transfers: d.transfers, Discovery: d.discovery, Connections: d.connector, Bus: d.bus, Log: log.Named("api"),
		Config: cfg.Redacted(), Token: d.token, InboxRoot: inboxRoot, Files: d.files, FileInUse: d.transfers.InUse,
		MaxFileSize: ft.MaxFileSize, IdleTimeout: config.Seconds(ft.Timeout), BodyLimit: cfg.WebServer.BodyLimit,
		ClientBuffer: cfg.Events.ClientBuffer, StatusNodes: cfg.Events.StatusNodes, Version: Version, Started: time.Now(),
		Groups:        d.groups,
		Messages:      d.messages,
		Distributions: d.distributions,
		Metrics:       d.metrics,
		Guard:         browserGuard(cfg.WebServer),
		RotateToken:   rotate,
	})
	return nil
}

// browserGuard is the API's Host and Origin policy: this machine's loopback
// names and the listen address, plus web_server.allowed_hosts; any Host
// when listening on every interface with no allowed_hosts, or with "*".
func browserGuard(ws config.WebServer) api.BrowserGuard {
	g := api.BrowserGuard{Origins: ws.AllowedOrigins}
	if slices.Contains(ws.AllowedHosts, "*") {
		return g
	}
	if ip := net.ParseIP(ws.Host); ip != nil && ip.IsUnspecified() && len(ws.AllowedHosts) == 0 {
		return g
	}
	for _, h := range append(append(slices.Clone(api.LoopbackHosts), ws.Host), ws.AllowedHosts...) {
		if h = strings.ToLower(strings.Trim(h, "[]")); h != "" && !slices.Contains(g.Hosts, h) {
			g.Hosts = append(g.Hosts, h)
		}
	}
	return g
}

// demoKey marks, in the store's meta bucket, that the demo nodes were
// created once: a demo node the user deletes stays deleted.
const demoKey = "demo_nodes_created"

// createDemoNodes adds the original's demo nodes the first time the data
// dir is used (ray_cluster.create_demo_nodes).
func (d *Daemon) createDemoNodes(inboxRoot string) error {
	var done bool
	if found, err := d.store.Get(store.BucketMeta, demoKey, &done); err != nil {
		return fmt.Errorf("demo nodes: %w", err)
	} else if found && done {
		return nil
	}
	for _, n := range demoNodes {
		if _, exists := d.registry.Get(n.id); exists {
			continue
		}
		if _, err := d.registry.AddLocal(n.id, n.port, inboxRoot, registry.WithSource("demo")); err != nil {
			return fmt.Errorf("demo node %s: %w", n.id, err)
		}
	}
	return d.store.Put(store.BucketMeta, demoKey, true)
}

// Addr is the address the API listens on.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// apiToken returns the configured token; with none configured and a
// listener beyond loopback, the one kept in the data dir, or a new one it
// keeps there and prints once. rotate is set for a kept token.
func (d *Daemon) apiToken() (token string, rotate func() (string, error), err error) {
	if t := d.cfg.WebServer.APIToken; t != "" {
		return t, nil, nil
	}
	if ip := d.ln.Addr().(*net.TCPAddr).IP; ip.IsLoopback() {
		return "", nil, nil
	}
	path := apitoken.Path(d.cfg.DataDir)
	rotate = func() (string, error) {
		t, err := apitoken.Generate()
		if err != nil {
			return "", err
		}
		return t, apitoken.Save(path, t)
	}
	if token, err = apitoken.Load(path); err != nil || token != "" {
		return token, rotate, err
	}
	if token, err = rotate(); err != nil {
		return "", nil, err
	}
	fmt.Fprintf(d.out, "CastRay listens on %s, beyond loopback, and no web_server.api_token is set.\n"+
		"Generated API token (kept in %s, mode 0600; send it as \"Authorization: Bearer <token>\"; `castray token rotate` replaces it):\n%s\n",
		d.ln.Addr(), path, token)
	return token, rotate, nil
}

// Run serves until ctx is done, then shuts everything down.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("CastRay listening", "url", "http://"+d.ln.Addr().String(), "version", Version,
		"auth", d.token != "", "data_dir", d.cfg.DataDir)
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.api.Serve(d.ln) }()

	interval := config.Seconds(d.cfg.Events.StatusInterval)
	tick := time.NewTicker(interval)
	defer tick.Stop()

	// Discovery runs on demand (the seed advises against periodic scans);
	// external_cluster.auto_discover runs one round at start-up and
	// external_cluster.discovery_interval repeats it.
	var discoverTick <-chan time.Time
	if every := d.cfg.ExternalCluster.DiscoveryInterval; every > 0 {
		t := time.NewTicker(config.Seconds(every))
		defer t.Stop()
		discoverTick = t.C
	}
	go d.startupClusters(ctx)
	if d.cfg.FileTransfer.ResumeOnStart {
		go d.transfers.ResumeInterrupted()
	}
	d.distributions.Start()
	for {
		select {
		case <-discoverTick:
			go d.discoverInBackground(ctx)
		case <-ctx.Done():
			d.log.Info("shutting down")
			err := d.api.Shutdown(10 * time.Second)
			d.close()
			return err
		case err := <-serveErr:
			d.close()
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		case <-tick.C:
			d.bus.Publish(events.TypeStatusUpdate, d.api.WSStatus())
		}
	}
}

// discoverInBackground runs one discovery round; its result is kept by the
// discovery manager and announced as events.
func (d *Daemon) discoverInBackground(ctx context.Context) {
	if len(d.plugins.Discoverers()) == 0 {
		d.log.Warn("discovery requested by configuration, but no discovery plugin is enabled")
		return
	}
	res, err := d.discovery.Discover(ctx, discovery.Request{})
	if err != nil {
		d.log.Warn("background discovery failed", "error", err)
		return
	}
	if !d.cfg.ExternalCluster.AutoDiscover {
		return
	}
	// auto_discover: connect to every active cluster found.
	for _, cl := range res.Clusters {
		addr := cl.DashboardURL
		if addr == "" {
			addr = cl.GCSAddress
		}
		if cl.Status != "active" || addr == "" {
			continue
		}
		if _, _, err := d.connector.Connect(ctx, addr); err != nil {
			d.log.Warn("auto-connect to a discovered cluster failed", "address", addr, "error", err)
		}
	}
}

// startupClusters reaches the clusters the configuration asks for:
// ray_cluster.address (or RAY_ADDRESS) when it names one, every cluster
// discovery finds with external_cluster.auto_discover, and, when that
// found none and ray_cluster.fallback_to_local is set, a Ray head that
// CastRay starts and owns.
func (d *Daemon) startupClusters(ctx context.Context) {
	looked := false
	if a := d.cfg.RayCluster.Address; a != "" && a != "auto" && a != "local" {
		looked = true
		// Not up yet is not given up: it is dialed again, with capped
		// backoff, and listed as connecting meanwhile.
		if _, err := d.connector.Keep(ctx, a); err != nil {
			d.log.Warn("could not connect to ray_cluster.address at start-up", "address", a, "error", err)
		}
	}
	if d.cfg.ExternalCluster.AutoDiscover {
		looked = true
		d.discoverInBackground(ctx)
	}
	if looked && d.cfg.RayCluster.FallbackToLocal && !d.anyConnected() && ctx.Err() == nil {
		d.startLocalHead(ctx)
	}
}

// anyConnected reports whether some cluster is connected (not only being
// dialed).
func (d *Daemon) anyConnected() bool {
	for _, cl := range d.connector.Clusters() {
		if cl.State != connector.StateConnecting {
			return true
		}
	}
	return false
}

// startLocalHead starts a Ray head owned by CastRay and connects to it.
func (d *Daemon) startLocalHead(ctx context.Context) {
	head, err := localray.Start(ctx, localray.Options{Log: d.log.Named("localray")})
	if errors.Is(err, localray.ErrNoRay) {
		d.log.Info("no Ray cluster found and no ray CLI on PATH: not starting a local head (ray_cluster.fallback_to_local)")
		return
	}
	if err != nil {
		d.log.Error("could not start a local Ray head (ray_cluster.fallback_to_local)", "error", err)
		return
	}
	d.headMu.Lock()
	if d.closing {
		d.headMu.Unlock()
		_ = head.Stop(context.Background())
		return
	}
	d.localHead = head
	d.headMu.Unlock()
	d.log.Info("no Ray cluster found: started a local head owned by CastRay", "dashboard", head.DashboardURL, "gcs", head.GCSAddress, "temp_dir", head.TempDir)
	if _, _, err := d.connector.Connect(ctx, head.DashboardURL); err != nil {
		d.log.Error("could not connect to the local Ray head", "error", err)
	}
}

// close releases everything New acquired, in reverse order.
func (d *Daemon) close() {
	if d.connector != nil {
		d.connector.Shutdown()
	}
	d.headMu.Lock()
	d.closing = true
	head := d.localHead
	d.headMu.Unlock()
	if head != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := head.Stop(ctx); err != nil {
			d.log.Error("stop the local Ray head", "error", err)
		}
		cancel()
	}
	if d.distributions != nil {
		d.distributions.Stop() // before transfers: no delivery starts while they stop
	}
	if d.transfers != nil {
		d.transfers.Shutdown()
	}
	if d.plugins != nil {
		d.plugins.Shutdown()
	}
	if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			d.log.Error("close store", "error", err)
		}
	}
}

// resolvePluginDir returns the configured plugin dir, or the "plugins"
// folder beside the castray binary.
func resolvePluginDir(configured string) (string, error) {
	if configured != "" {
		return filepath.Abs(configured)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate the castray binary to find its plugins: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins"), nil
}
