package pluginmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

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
	// Settings per plugin name. Plugins without an entry run enabled with
	// an empty config.
	Settings map[string]Settings
	// DataDir is passed to plugins in Configure.
	DataDir string
	Logger  hclog.Logger
	// LogLevel is passed to plugins (CASTRAY_PLUGIN_LOG_LEVEL).
	LogLevel string
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
}

// Manager owns every plugin process of the daemon.
type Manager struct {
	opts    Options
	log     hclog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	plugins map[string]*instance // by plugin name
}

// LoadError collects every problem found while loading plugins, each
// prefixed with the plugin (or file) it concerns.
type LoadError struct{ Problems []string }

func (e *LoadError) Error() string {
	return "plugins failed to load:\n  " + strings.Join(e.Problems, "\n  ")
}

// Load scans the plugin directory, launches and configures every plugin and
// starts supervising them. Any problem (a bad plugin config, a pin mismatch,
// an incompatible API version, two plugins with one name, a configured
// plugin that is not there) stops the load: every plugin launched so far is
// killed and a *LoadError lists all problems.
func Load(opts Options) (*Manager, error) {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger.Named("plugins"), ctx: ctx, cancel: cancel, plugins: map[string]*instance{}}

	paths, err := m.scan()
	if err != nil {
		cancel()
		return nil, err
	}
	var problems []string
	for _, path := range paths {
		inst, err := m.load(path)
		if err != nil {
			problems = append(problems, err.Error())
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
		if _, ok := m.plugins[name]; !ok {
			problems = append(problems, fmt.Sprintf("plugin %q: configured but no plugin of that name was found in %s", name, opts.Dir))
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

// scan lists the executable files of the plugin directory.
func (m *Manager) scan() ([]string, error) {
	entries, err := os.ReadDir(m.opts.Dir)
	if errors.Is(err, os.ErrNotExist) {
		m.log.Warn("plugin directory does not exist; running without plugins", "dir", m.opts.Dir)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin directory %s: %w", m.opts.Dir, err)
	}
	var paths []string
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
		paths = append(paths, path)
	}
	return paths, nil
}

// load fingerprints, launches and configures one plugin binary.
//
// A binary whose file name is the name of a configured plugin, or ends in
// "-<name>" (castray-transfer-local for "local"), is matched to that
// plugin's settings before it is ever run: a SHA-256 pin is checked first,
// and a disabled plugin is not launched at all. Other binaries are launched
// once to learn their name.
func (m *Manager) load(path string) (*instance, error) {
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	inst := &instance{m: m, path: path, sum: sum}
	fileName, set, matched := m.settingsByFile(path)
	if matched {
		if set.SHA256 != "" && !strings.EqualFold(set.SHA256, sum) {
			return nil, fmt.Errorf("plugin %q: binary %s has sha256 %s, but the configuration pins %s; not launched", fileName, path, sum, set.SHA256)
		}
		if !set.Enabled {
			inst.name = fileName
			inst.st = Status{Name: fileName, Path: path, SHA256: sum}
			inst.setState(StateDisabled, "")
			m.log.Info("plugin disabled in configuration; not launched", "name", fileName, "path", path)
			return inst, nil
		}
		inst.settings = set
	}
	info, err := inst.launch(m.ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	if matched && info.GetName() != fileName {
		inst.kill()
		return nil, fmt.Errorf("plugin %s: file name says %q but the plugin reports %q", path, fileName, info.GetName())
	}
	if !matched {
		if set, ok := m.opts.Settings[info.GetName()]; ok {
			// Settings found only by the reported name: a pin or a
			// disable must hold all the same.
			if set.SHA256 != "" && !strings.EqualFold(set.SHA256, sum) {
				inst.kill()
				return nil, fmt.Errorf("plugin %q: binary %s has sha256 %s, but the configuration pins %s", info.GetName(), path, sum, set.SHA256)
			}
			inst.settings = set
		} else {
			inst.settings = Settings{Enabled: true}
		}
		if !inst.settings.Enabled {
			inst.kill()
			inst.setState(StateDisabled, "")
			return inst, nil
		}
	}
	if err := inst.configure(m.ctx); err != nil {
		inst.kill()
		return nil, fmt.Errorf("plugin %q: %w", info.GetName(), err)
	}
	inst.setState(StateHealthy, "")
	m.log.Info("plugin loaded", "name", info.GetName(), "kind", kindName(info.GetKind()),
		"version", info.GetPluginVersion(), "sha256", sum[:12], "pid", inst.status().PID)
	return inst, nil
}

// settingsByFile finds the configured plugin a binary's file name names.
func (m *Manager) settingsByFile(path string) (string, Settings, bool) {
	base := filepath.Base(path)
	for name, set := range m.opts.Settings {
		if base == name || strings.HasSuffix(base, "-"+name) {
			return name, set, true
		}
	}
	return "", Settings{}, false
}

// List returns the status of every plugin, sorted by name.
func (m *Manager) List() []Status {
	out := make([]Status, 0, len(m.plugins))
	for _, inst := range m.plugins {
		out = append(out, inst.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Status returns one plugin's status.
func (m *Manager) Status(name string) (Status, bool) {
	inst, ok := m.plugins[name]
	if !ok {
		return Status{}, false
	}
	return inst.status(), true
}

// ErrNoPlugin is returned for a plugin name that was not loaded.
var ErrNoPlugin = errors.New("no such plugin")

// Transfer returns the transfer backend with that name. The value stays
// valid across relaunches; calls fail with sdk.ErrPluginUnavailable while
// the plugin is not healthy.
func (m *Manager) Transfer(name string) (sdk.Transferer, error) {
	inst, ok := m.plugins[name]
	if !ok || inst.kind != sdk.KindTransfer {
		return nil, fmt.Errorf("transfer plugin %q: %w", name, ErrNoPlugin)
	}
	return transferProxy{inst}, nil
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
	for _, inst := range m.plugins {
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
