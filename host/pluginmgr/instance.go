package pluginmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/castray/castray/sdk"
)

// State is a plugin's supervision state.
type State string

const (
	StateHealthy    State = "healthy"
	StateRestarting State = "restarting"
	StateFailed     State = "failed"
	StateDisabled   State = "disabled"
)

// Status is what the daemon reports about one plugin.
type Status struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Path          string    `json:"path"`
	SHA256        string    `json:"sha256"`
	Version       string    `json:"version"`
	APIVersion    int       `json:"api_version"`
	APIVersions   []uint32  `json:"api_versions,omitempty"`
	Description   string    `json:"description,omitempty"`
	State         State     `json:"state"`
	LastError     string    `json:"last_error,omitempty"`
	Restarts      int       `json:"restarts"`
	PID           int       `json:"pid,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	ConfigSchema  []Field   `json:"config_schema,omitempty"`
	LastHealthyAt time.Time `json:"last_healthy_at,omitzero"`
}

// Field is one entry of a plugin's config schema.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Default     string `json:"default,omitempty"`
}

// instance is one plugin and its current process.
type instance struct {
	m *Manager

	// Set by Manager.load, before any other goroutine sees the instance,
	// and never written again: lookups and proxies read them without the
	// lock. A relaunch checks the new process against name and kind.
	path     string
	sum      string
	settings Settings
	name     string
	kind     sdk.PluginKind

	// mu guards the current process and the status.
	mu     sync.Mutex
	client *plugin.Client
	rpc    plugin.ClientProtocol
	impl   sdk.Plugin // a sdk.Discoverer or sdk.Transferer
	st     Status
	// launches counts the processes started; caps is a transfer plugin's
	// Capabilities answer for the current process (nil until asked, and
	// again after each launch).
	launches int
	caps     *sdk.TransferCapabilities
}

// launch starts the process, handshakes, reads GetInfo and dispenses the
// kind's service. want, when set, is the info of the first launch: the
// relaunched binary must still be the same plugin. On an error after GetInfo
// answered, the info is returned with it. launch writes the process and the
// status, under the lock, and never the instance's fixed fields.
func (i *instance) launch(ctx context.Context, want *sdk.PluginInfo) (*sdk.PluginInfo, error) {
	cmd := exec.Command(i.path)
	stderr := &tailWriter{}
	cmd.Env = append(append(os.Environ(), i.m.opts.Env...), "CASTRAY_PLUGIN_LOG_LEVEL="+i.m.opts.LogLevel)
	detach(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: i.m.opts.PluginSets,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     i.m.opts.StartTimeout,
		Logger:           i.m.opts.Logger.Named("plugin").Named(filepath.Base(i.path)),
		Stderr:           stderr,
	}
	// Mutual TLS with a P-256 client certificate, not AutoMTLS's P-521 one
	// that gRPC outside Go refuses (mtls.go).
	if err := useMTLS(cfg); err != nil {
		return nil, err
	}
	if i.settings.SHA256 != "" {
		pin, err := hex.DecodeString(i.settings.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sha256 pin: %w", err)
		}
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: pin, Hash: sha256.New()}
	}
	client := plugin.NewClient(cfg)
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch: %w", i.launchError(err, stderr))
	}
	var info *sdk.PluginInfo
	fail := func(err error) (*sdk.PluginInfo, error) {
		client.Kill()
		return info, err
	}
	raw, err := rpc.Dispense(sdk.PluginSetBase)
	if err != nil {
		return fail(fmt.Errorf("dispense: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, i.m.opts.StartTimeout)
	defer cancel()
	if info, err = raw.(sdk.Plugin).Info(ctx); err != nil {
		info = nil
		return fail(fmt.Errorf("fingerprint: %w", err))
	}
	if err := checkInfo(info, client.NegotiatedVersion()); err != nil {
		return fail(err)
	}
	if want != nil && (info.GetName() != want.GetName() || info.GetKind() != want.GetKind()) {
		return fail(fmt.Errorf("relaunched binary is now %q (%s), was %q", info.GetName(), kindName(info.GetKind()), want.GetName()))
	}
	entry := sdk.PluginSetDiscovery
	if info.GetKind() == sdk.KindTransfer {
		entry = sdk.PluginSetTransfer
	}
	impl, err := rpc.Dispense(entry)
	if err != nil {
		return fail(fmt.Errorf("dispense %s: %w", entry, err))
	}
	var fields []Field
	if schema, err := raw.(sdk.Plugin).ConfigSchema(ctx); err == nil {
		for _, f := range schema.GetFields() {
			fields = append(fields, Field{Name: f.GetName(), Type: f.GetType(), Description: f.GetDescription(), Required: f.GetRequired(), Default: f.GetDefaultJson()})
		}
	} else if !errors.Is(err, sdk.ErrUnsupported) {
		return fail(fmt.Errorf("config schema: %w", err))
	}

	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	i.mu.Lock()
	i.client, i.rpc, i.impl = client, rpc, impl.(sdk.Plugin)
	i.launches++
	i.caps = nil
	i.st.Version, i.st.APIVersion, i.st.Description = info.GetPluginVersion(), client.NegotiatedVersion(), info.GetDescription()
	i.st.APIVersions = info.GetApiVersions()
	i.st.ConfigSchema, i.st.PID, i.st.StartedAt = fields, pid, time.Now().UTC()
	i.mu.Unlock()
	return info, nil
}

// checkInfo refuses a plugin this daemon cannot use: the API versions it
// reports must include the one the handshake negotiated.
func checkInfo(info *sdk.PluginInfo, negotiated int) error {
	if info.GetName() == "" {
		return errors.New("fingerprint: plugin reports no name")
	}
	if !slices.Contains(info.GetApiVersions(), uint32(negotiated)) {
		return fmt.Errorf("plugin %q reports API versions %v, which lack the negotiated version %d", info.GetName(), info.GetApiVersions(), negotiated)
	}
	switch info.GetKind() {
	case sdk.KindDiscovery, sdk.KindTransfer:
		return nil
	}
	return fmt.Errorf("plugin %q reports unknown kind %v", info.GetName(), info.GetKind())
}

// configure sends the plugin its config block; ConfigErrors become one error
// naming every offending key.
func (i *instance) configure(ctx context.Context) error {
	raw, err := configJSON(i.settings.Config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, i.m.opts.StartTimeout)
	defer cancel()
	i.mu.Lock()
	impl, version := i.impl, i.st.APIVersion
	i.mu.Unlock()
	problems, err := impl.Configure(ctx, &sdk.ConfigureRequest{ConfigJson: raw, DataDir: i.m.opts.DataDir, ApiVersion: uint32(version)})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			if p.GetKey() != "" {
				p.Key = fmt.Sprintf("plugin.%s.config.%s", i.name, p.GetKey())
			}
		}
		return fmt.Errorf("invalid config: %s", sdk.ConfigErrorsString(problems))
	}
	return nil
}

// launchError words a failed start: the versions offered when go-plugin
// found none in common with the plugin, and the end of what the plugin
// wrote on stderr (the SDK's own "no API version in common" message, a
// panic), which would otherwise be only in the daemon's log.
func (i *instance) launchError(err error, stderr *tailWriter) error {
	if strings.Contains(err.Error(), "incompatible API version") {
		err = fmt.Errorf("no API version in common: this daemon speaks %v: %w", offeredVersions(i.m.opts.PluginSets), err)
	}
	tail := stderr.lastLines(3)
	if tail == "" {
		return err
	}
	if msg := err.Error(); strings.Contains(msg, "Failed to read any lines from plugin's stdout") ||
		strings.Contains(msg, "plugin exited before we could connect") {
		// go-plugin's text is a generic checklist; the plugin said why.
		return fmt.Errorf("the plugin exited without a handshake; its stderr: %s", tail)
	}
	return fmt.Errorf("%w; plugin stderr: %s", err, tail)
}

func offeredVersions(sets map[int]plugin.PluginSet) []int {
	return slices.Sorted(maps.Keys(sets))
}

// tailWriter keeps the end of a plugin's stderr, for launch errors.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailMax {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-tailMax:]...)
	}
	return len(p), nil
}

// lastLines returns up to n last non-empty lines, joined by " | ", each cut
// to 300 bytes.
func (w *tailWriter) lastLines(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	lines := strings.Split(string(w.buf), "\n")
	for j := len(lines) - 1; j >= 0 && len(out) < n; j-- {
		line := strings.TrimSpace(lines[j])
		if line == "" {
			continue
		}
		if len(line) > 300 {
			line = line[:300] + "…"
		}
		out = append(out, line)
	}
	slices.Reverse(out)
	return strings.Join(out, " | ")
}

func (i *instance) status() Status {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.st
}

func (i *instance) setState(s State, lastErr string) {
	i.mu.Lock()
	changed := i.st.State != s
	i.st.State = s
	if lastErr != "" {
		i.st.LastError = lastErr
	}
	if s == StateHealthy {
		i.st.LastHealthyAt = time.Now().UTC()
	}
	if s != StateHealthy {
		i.st.PID = 0
	}
	st := i.st
	i.mu.Unlock()
	if changed {
		i.m.opts.OnState(st)
	}
}

// current returns the live implementation, or ErrPluginUnavailable when the
// plugin is not healthy.
func (i *instance) current() (sdk.Plugin, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.st.State != StateHealthy || i.impl == nil {
		return nil, fmt.Errorf("plugin %q is %s: %w", i.name, i.st.State, sdk.ErrPluginUnavailable)
	}
	return i.impl, nil
}

func (i *instance) kill() {
	i.mu.Lock()
	client := i.client
	i.client, i.rpc, i.impl = nil, nil, nil
	i.caps = nil
	i.mu.Unlock()
	if client != nil {
		client.Kill()
	}
}

// exited reports whether the process is gone.
func (i *instance) exited() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.client == nil || i.client.Exited()
}

func (i *instance) ping() error {
	i.mu.Lock()
	rpc := i.rpc
	i.mu.Unlock()
	if rpc == nil {
		return errors.New("no process")
	}
	return rpc.Ping()
}

// supervise watches one plugin until the manager shuts down: an exit or a
// failed ping kills the process and relaunches it with capped exponential
// backoff; MaxLaunchFailures failed relaunches in a row mark it failed.
func (m *Manager) supervise(i *instance) {
	defer m.wg.Done()
	exitTick := time.NewTicker(m.opts.ExitPoll)
	defer exitTick.Stop()
	pingTick := time.NewTicker(m.opts.HealthInterval)
	defer pingTick.Stop()
	for {
		var reason string
		select {
		case <-m.ctx.Done():
			return
		case <-exitTick.C:
			if i.exited() {
				reason = "plugin process exited"
			}
		case <-pingTick.C:
			if err := i.ping(); err != nil {
				reason = "health ping failed: " + err.Error()
			}
		}
		if reason == "" {
			continue
		}
		i.kill()
		i.mu.Lock()
		i.st.Restarts++
		i.mu.Unlock()
		m.log.Warn("plugin down; relaunching", "name", i.name, "reason", reason)
		i.setState(StateRestarting, reason)
		if !m.relaunch(i) {
			return
		}
	}
}

// relaunch retries launch+configure with backoff. It returns false when the
// plugin was given up (failed) or the manager is shutting down.
func (m *Manager) relaunch(i *instance) bool {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = m.opts.BackoffInitial, m.opts.BackoffMax, 0
	want := &sdk.PluginInfo{Name: i.name, Kind: i.kind}
	failures := 0
	for {
		select {
		case <-m.ctx.Done():
			return false
		case <-time.After(b.NextBackOff()):
		}
		_, err := i.launch(m.ctx, want)
		if err == nil {
			if err = i.configure(m.ctx); err != nil {
				i.kill()
			}
		}
		if err == nil {
			i.setState(StateHealthy, "")
			m.log.Info("plugin relaunched", "name", i.name, "pid", i.status().PID, "restarts", i.status().Restarts)
			return true
		}
		failures++
		m.log.Error("plugin relaunch failed", "name", i.name, "attempt", failures, "error", err)
		if failures >= m.opts.MaxLaunchFailures {
			i.setState(StateFailed, fmt.Sprintf("gave up after %d failed relaunches: %v", failures, err))
			return false
		}
		i.setState(StateRestarting, err.Error())
	}
}
