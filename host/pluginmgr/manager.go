package pluginmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/castray/castray/sdk"
)

// Settings is the operator's configuration of one plugin, keyed by the
// plugin's name.
type Settings struct {
	Enabled bool
	// SHA256 pins the binary: a plugin whose binary hashes differently is
	// refused. Empty means no pin.
	SHA256 string
	// Config is the plugin's own config block, passed to Configure.
	Config map[string]any
}

// Options configure a Manager.
type Options struct {
	// Dir is the plugin directory. A missing directory means no plugins.
	Dir string
	// Settings per plugin name (the block `plugin "<name>"`). Plugins
	// without an entry run enabled with an empty config; an entry that
	// matches no plugin, or several, fails Load (see the package doc).
	Settings map[string]Settings
	// DataDir is passed to plugins in Configure.
	DataDir string
	Logger  hclog.Logger
	// LogLevel is passed to plugins (CASTRAY_PLUGIN_LOG_LEVEL).
	LogLevel string
	// Env are "KEY=value" entries added to (and winning over) the daemon's
	// environment in every plugin process: the daemon passes
	// external_cluster.auth_token as RAY_AUTH_TOKEN, so that the plugins that
	// speak to Ray use the token the connector uses.
	Env []string
	// HealthInterval is the time between health pings (default 5 s).
	HealthInterval time.Duration
	// ExitPoll is how often a plugin's process is checked for exit
	// (default 200 ms).
	ExitPoll time.Duration
	// BackoffInitial and BackoffMax bound the wait before a relaunch
	// (defaults 250 ms and 30 s).
	BackoffInitial, BackoffMax time.Duration
	// MaxLaunchFailures is the number of consecutive failed relaunches
	// after which a plugin is marked failed and left alone (default 10).
	MaxLaunchFailures int
	// StartTimeout bounds one launch: handshake, GetInfo and Configure
	// (default 10 s).
	StartTimeout time.Duration
	// OnState is called (from a supervisor goroutine) when a plugin's state
	// changes. It must not block.
	OnState func(Status)
	// PluginSets are the plugin API versions the daemon offers, each with
	// its go-plugin plugin set (default sdk.ClientPluginSet(): every version
	// the SDK knows). go-plugin picks the highest version the plugin serves
	// too; that version is passed to Configure and shown in Status. Tests
	// set it to offer a version the SDK does not know yet.
	PluginSets map[int]plugin.PluginSet
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 5 * time.Second
	}
	if o.ExitPoll <= 0 {
		o.ExitPoll = 200 * time.Millisecond
	}
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.MaxLaunchFailures <= 0 {
		o.MaxLaunchFailures = 10
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.OnState == nil {
		o.OnState = func(Status) {}
	}
	if len(o.PluginSets) == 0 {
		o.PluginSets = sdk.ClientPluginSet()
	}
}

// Manager owns every plugin process of the daemon.
type Manager struct {
	opts    Options
	log     hclog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	plugins map[string]*instance // by plugin name; fixed once Load returns
	// failed are the binaries without a config block that failed to load:
	// listed, never launched again. Fixed once Load returns.
	failed []*instance
}

// LoadError collects every problem found while loading plugins, each
// prefixed with the plugin (or file) it concerns.
type LoadError struct{ Problems []string }

func (e *LoadError) Error() string {
	return "plugins failed to load:\n  " + strings.Join(e.Problems, "\n  ")
}

// binary is one executable of the plugin directory.
type binary struct {
	path, base string
	// name and kind come from a file name castray-<kind>-<name>; name is ""
	// for any other file name.
	name string
	kind sdk.PluginKind
}

// parseFileName reads a plugin's name and kind from its file name,
// castray-discovery-<name> or castray-transfer-<name>.
func parseFileName(base string) (string, sdk.PluginKind, bool) {
	for _, k := range []sdk.PluginKind{sdk.KindDiscovery, sdk.KindTransfer} {
		if name, ok := strings.CutPrefix(base, "castray-"+kindName(k)+"-"); ok && name != "" {
			return name, k, true
		}
	}
	return "", 0, false
}

// Load scans the plugin directory, launches and configures every plugin and
// starts supervising them; the rules are in the package doc. A problem with
// a configured plugin (a bad config, a pin mismatch, an incompatible API
// version, a failed launch), two plugins with one name, or a config block
// that matches no binary or several stops the load: every plugin launched
// so far is killed and a *LoadError lists all problems. A binary no config
// block names that fails to load is skipped and listed as failed.
func Load(opts Options) (*Manager, error) {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger.Named("plugins"), ctx: ctx, cancel: cancel, plugins: map[string]*instance{}}

	bins, err := m.scan()
	if err != nil {
		cancel()
		return nil, err
	}
	var problems []string
	// claimed holds the config blocks that found their binary, or a
	// problem already reported for them.
	claimed := map[string]bool{}
	byName := map[string][]string{}
	for _, b := range bins {
		if b.name != "" {
			byName[b.name] = append(byName[b.name], b.base)
		}
	}
	for name := range opts.Settings {
		if files := byName[name]; len(files) > 1 {
			problems = append(problems, fmt.Sprintf("plugin %q: the config block matches %d binaries in %s (%s); keep one, none was launched",
				name, len(files), opts.Dir, strings.Join(files, ", ")))
			claimed[name] = true
		}
	}
	for _, b := range bins {
		if b.name != "" && claimed[b.name] {
			continue // its block is ambiguous, reported above
		}
		inst, block, err := m.load(b)
		if block != "" {
			claimed[block] = true
		}
		if err != nil {
			if block != "" {
				problems = append(problems, fmt.Sprintf("plugin %q: %v", block, err))
				continue
			}
			m.log.Error("plugin failed to load; skipped, as no config block names it", "name", inst.name, "path", b.path, "error", err)
			inst.setState(StateFailed, err.Error())
			m.failed = append(m.failed, inst)
			continue
		}
		if prev, dup := m.plugins[inst.name]; dup {
			problems = append(problems, fmt.Sprintf("plugin %q: provided by both %s and %s", inst.name, prev.path, inst.path))
			inst.kill()
			continue
		}
		m.plugins[inst.name] = inst
	}
	for name := range opts.Settings {
		if !claimed[name] {
			problems = append(problems, m.unmatched(name))
		}
	}
	if problems != nil {
		sort.Strings(problems)
		m.Shutdown()
		return nil, &LoadError{Problems: problems}
	}
	for _, inst := range m.plugins {
		if inst.status().State != StateDisabled {
			m.wg.Add(1)
			go m.supervise(inst)
		}
	}
	return m, nil
}

// unmatched describes a config block that no binary answered.
func (m *Manager) unmatched(name string) string {
	found := make([]string, 0, len(m.plugins))
	for n := range m.plugins {
		found = append(found, n)
	}
	sort.Strings(found)
	msg := fmt.Sprintf("plugin %q: the config block matches no plugin binary: no castray-discovery-%s or castray-transfer-%s in %s, and no other binary there reports that name (plugins found: %s)",
		name, name, name, m.opts.Dir, strings.Join(found, ", "))
	if len(m.failed) > 0 {
		var files []string
		for _, f := range m.failed {
			files = append(files, filepath.Base(f.path))
		}
		sort.Strings(files)
		msg += "; binaries that failed to load: " + strings.Join(files, ", ")
	}
	return msg
}

// scan lists the executable files of the plugin directory, by file name.
func (m *Manager) scan() ([]binary, error) {
	entries, err := os.ReadDir(m.opts.Dir)
	if errors.Is(err, os.ErrNotExist) {
		m.log.Warn("plugin directory does not exist; running without plugins", "dir", m.opts.Dir)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin directory %s: %w", m.opts.Dir, err)
	}
	var bins []binary
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(m.opts.Dir, e.Name())
		st, err := os.Stat(path) // follows symlinks
		if err != nil {
			m.log.Warn("skipping unreadable plugin entry", "path", path, "error", err)
			continue
		}
		if st.IsDir() {
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			m.log.Warn("skipping non-executable file in plugin directory", "path", path)
			continue
		}
		b := binary{path: path, base: e.Name()}
		b.name, b.kind, _ = parseFileName(e.Name())
		bins = append(bins, b)
	}
	return bins, nil
}

// load fingerprints, launches and configures one plugin binary. block is
// the config block that applies to it, "" if none; an error with a block
// stops the load, one without is the binary's own failure. The instance
// returned carries the best name known (from the file name, the plugin's
// Info, or else the file name itself) even with an error.
//
// A binary named castray-<kind>-<name> is matched to block <name> before
// it is ever run: a SHA-256 pin is checked first, and a disabled plugin is
// not launched at all. Other binaries are launched once to learn their
// name, and a block of that name then applies.
func (m *Manager) load(b binary) (inst *instance, block string, err error) {
	inst = &instance{m: m, path: b.path, name: b.name, kind: b.kind}
	if inst.name == "" {
		inst.name = b.base
	}
	// A binary whose file name names no kind is "unknown" until its Info
	// says otherwise (it stays so when it fails before that), as the API
	// document has it; never "".
	inst.st = Status{Name: inst.name, Path: b.path, Kind: kindName(b.kind)}
	set, configured := m.opts.Settings[b.name]
	configured = configured && b.name != ""
	if configured {
		block = b.name
	}
	sum, err := fileSHA256(b.path)
	if err != nil {
		return inst, block, err
	}
	inst.sum, inst.st.SHA256 = sum, sum
	if configured {
		if set.SHA256 != "" && !strings.EqualFold(set.SHA256, sum) {
			return inst, block, fmt.Errorf("binary %s has sha256 %s, but the configuration pins %s; not launched", b.path, sum, set.SHA256)
		}
		if !set.Enabled {
			inst.setState(StateDisabled, "")
			m.log.Info("plugin disabled in configuration; not launched", "name", inst.name, "path", b.path)
			return inst, block, nil
		}
		inst.settings = set
	}
	info, err := inst.launch(m.ctx, nil)
	if info.GetName() != "" && b.name == "" {
		// Known by its Info only: that name is its name from now on.
		inst.name, inst.kind = info.GetName(), info.GetKind()
		inst.mu.Lock()
		inst.st.Name, inst.st.Kind = inst.name, kindName(inst.kind)
		inst.mu.Unlock()
		if _, ok := m.opts.Settings[inst.name]; ok {
			block = inst.name
		}
	}
	if err != nil {
		return inst, block, fmt.Errorf("%s: %w", b.path, err)
	}
	if b.name != "" && (info.GetName() != b.name || info.GetKind() != b.kind) {
		inst.kill()
		return inst, block, fmt.Errorf("file name %s says %s plugin %q, but the binary reports %s plugin %q",
			b.base, kindName(b.kind), b.name, kindName(info.GetKind()), info.GetName())
	}
	if !configured {
		if set, ok := m.opts.Settings[inst.name]; ok {
			// Settings found only by the reported name: a pin or a
			// disable must hold all the same.
			if set.SHA256 != "" && !strings.EqualFold(set.SHA256, sum) {
				inst.kill()
				return inst, block, fmt.Errorf("binary %s has sha256 %s, but the configuration pins %s", b.path, sum, set.SHA256)
			}
			inst.settings = set
		} else {
			inst.settings = Settings{Enabled: true}
		}
		if !inst.settings.Enabled {
			inst.kill()
			inst.setState(StateDisabled, "")
			return inst, block, nil
		}
	}
	if err := inst.configure(m.ctx); err != nil {
		inst.kill()
		return inst, block, err
	}
	inst.setState(StateHealthy, "")
	m.log.Info("plugin loaded", "name", inst.name, "kind", kindName(inst.kind),
		"version", info.GetPluginVersion(), "sha256", sum[:12], "pid", inst.status().PID)
	return inst, block, nil
}

// List returns the status of every plugin, and of every binary that failed
// to load, sorted by name.
func (m *Manager) List() []Status {
	out := make([]Status, 0, len(m.plugins)+len(m.failed))
	for _, inst := range m.plugins {
		out = append(out, inst.status())
	}
	for _, inst := range m.failed {
		out = append(out, inst.status())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// Status returns one plugin's status (or a failed binary's).
func (m *Manager) Status(name string) (Status, bool) {
	if inst, ok := m.plugins[name]; ok {
		return inst.status(), true
	}
	for _, inst := range m.failed {
		if inst.name == name {
			return inst.status(), true
		}
	}
	return Status{}, false
}

// ErrNoPlugin is returned for a plugin name that was not loaded.
var ErrNoPlugin = errors.New("no such plugin")

// Transfer returns the transfer backend with that name. The value stays
// valid across relaunches; calls fail with sdk.ErrPluginUnavailable while
// the plugin is not healthy. A disabled plugin is not returned.
func (m *Manager) Transfer(name string) (sdk.Transferer, error) {
	inst, ok := m.plugins[name]
	if !ok || inst.kind != sdk.KindTransfer {
		return nil, fmt.Errorf("transfer plugin %q: %w", name, ErrNoPlugin)
	}
	if inst.status().State == StateDisabled {
		return nil, fmt.Errorf("transfer plugin %q is disabled in the configuration: %w", name, ErrNoPlugin)
	}
	return transferProxy{inst}, nil
}

// TransferNames lists the enabled transfer plugins, sorted: the backends
// the daemon may route a transfer to (one may be restarting right now).
func (m *Manager) TransferNames() []string {
	var out []string
	for name, inst := range m.plugins {
		if inst.kind == sdk.KindTransfer && inst.status().State != StateDisabled {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// TransferCapabilities returns what a transfer plugin can do. The answer is
// asked of each plugin process once and cached until the plugin is
// relaunched (a new binary may say otherwise); a failed call is not cached.
// The caller must not modify the result.
func (m *Manager) TransferCapabilities(ctx context.Context, name string) (*sdk.TransferCapabilities, error) {
	inst, ok := m.plugins[name]
	if !ok || inst.kind != sdk.KindTransfer {
		return nil, fmt.Errorf("transfer plugin %q: %w", name, ErrNoPlugin)
	}
	inst.mu.Lock()
	caps, launch := inst.caps, inst.launches
	inst.mu.Unlock()
	if caps != nil {
		return caps, nil
	}
	impl, err := inst.current()
	if err != nil {
		return nil, err
	}
	tr, ok := impl.(sdk.Transferer)
	if !ok {
		return nil, fmt.Errorf("transfer plugin %q serves no transfer service", name)
	}
	caps, err = tr.Capabilities(ctx)
	if err != nil {
		return nil, fmt.Errorf("capabilities of transfer plugin %q: %w", name, err)
	}
	if caps == nil {
		caps = &sdk.TransferCapabilities{}
	}
	inst.mu.Lock()
	if inst.launches == launch { // still the process that answered
		inst.caps = caps
	}
	inst.mu.Unlock()
	return caps, nil
}

// Discoverers returns every enabled discovery plugin, by name.
func (m *Manager) Discoverers() map[string]sdk.Discoverer {
	out := map[string]sdk.Discoverer{}
	for name, inst := range m.plugins {
		if inst.kind == sdk.KindDiscovery && inst.status().State != StateDisabled {
			out[name] = discoveryProxy{inst}
		}
	}
	return out
}

// Shutdown stops supervision and kills every plugin process. It returns
// when all of them have exited.
func (m *Manager) Shutdown() {
	m.cancel()
	m.wg.Wait()
	var kills sync.WaitGroup
	for _, inst := range append(slices.Collect(maps.Values(m.plugins)), m.failed...) {
		kills.Add(1)
		go func() {
			defer kills.Done()
			inst.kill()
		}()
	}
	kills.Wait()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func configJSON(cfg map[string]any) ([]byte, error) {
	if cfg == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(cfg)
}

func kindName(k sdk.PluginKind) string {
	switch k {
	case sdk.KindDiscovery:
		return "discovery"
	case sdk.KindTransfer:
		return "transfer"
	}
	return "unknown"
}
