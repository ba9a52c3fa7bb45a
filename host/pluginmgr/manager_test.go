package pluginmgr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/sdk"
)

// The test binary doubles as a plugin (go-plugin's helper-process pattern):
// with CASTRAY_TEST_PLUGIN set it serves a transfer plugin instead of
// running tests. The plugin directory holds small scripts that exec it.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CASTRAY_TEST_PLUGIN"); mode != "" {
		if marker := os.Getenv("CASTRAY_TEST_MARKER"); marker != "" {
			_ = os.WriteFile(marker, []byte(mode), 0o600)
		}
		serveHelper(&helper{mode: mode})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type helper struct {
	mode      string
	capsCalls atomic.Int32
}

// Info follows the mode: a comma-separated list of "ok", "name=<name>"
// (report that name instead of "helper"), "future" (claim only API 99),
// "v2only" and "v1v2" (serve the simulated API 2 alone or beside 1, see
// version_test.go) and "api=<n>" (reject a Configure with another
// api_version).
func (h *helper) Info(context.Context) (*sdk.PluginInfo, error) {
	name, versions := "helper", []uint32{sdk.APIVersion}
	for _, m := range strings.Split(h.mode, ",") {
		switch {
		case strings.HasPrefix(m, "name="):
			name = strings.TrimPrefix(m, "name=")
		case m == "future":
			versions = []uint32{99}
		case m == "v2only":
			versions = []uint32{2}
		case m == "v1v2":
			versions = []uint32{1, 2}
		}
	}
	return &sdk.PluginInfo{Name: name, Kind: sdk.KindTransfer, PluginVersion: "1.2.3", ApiVersions: versions}, nil
}

func (h *helper) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{{Name: "speed", Type: "int"}}}, nil
}

func (h *helper) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	var cfg struct {
		Speed int `json:"speed"`
	}
	if problems := sdk.DecodeConfig(req.GetConfigJson(), &cfg); problems != nil {
		return problems, nil
	}
	if cfg.Speed < 0 {
		return []*sdk.ConfigError{{Key: "speed", Message: "must not be negative"}}, nil
	}
	for _, m := range strings.Split(h.mode, ",") {
		if want, ok := strings.CutPrefix(m, "api="); ok && fmt.Sprint(req.GetApiVersion()) != want {
			return []*sdk.ConfigError{{Message: fmt.Sprintf("configured with API version %d, want %s", req.GetApiVersion(), want)}}, nil
		}
	}
	return nil, nil
}

// Capabilities reports the kind "local" and, as a second kind, which
// process answered and how many times it was asked ("pid-<pid>-call-<n>").
func (h *helper) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	call := fmt.Sprintf("pid-%d-call-%d", os.Getpid(), h.capsCalls.Add(1))
	return &sdk.TransferCapabilities{Modes: []sdk.CastMode{sdk.Unicast}, NodeKinds: []string{"local", call}}, nil
}

func (h *helper) Send(context.Context, *sdk.SendRequest, sdk.TransferSink) (*sdk.SendSummary, error) {
	return &sdk.SendSummary{Succeeded: 1}, nil
}

func (h *helper) Cancel(context.Context, string) (bool, error) { return false, nil }

// pluginDir writes one launcher script per name → mode.
func pluginDir(t *testing.T, plugins map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for file, mode := range plugins {
		script := fmt.Sprintf("#!/bin/sh\nCASTRAY_TEST_PLUGIN=%q exec %q\n", mode, self)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeScript adds an executable shell script to dir: a binary that is not
// (or not quite) a plugin.
func writeScript(t *testing.T, dir, file, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, opts pluginmgr.Options) *pluginmgr.Manager {
	t.Helper()
	opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})
	if opts.ExitPoll == 0 {
		opts.ExitPoll = 20 * time.Millisecond
	}
	opts.BackoffInitial, opts.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	m, err := pluginmgr.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

func processAlive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoadFingerprintsAndSkipsNonExecutables(t *testing.T) {
	dir := pluginDir(t, map[string]string{"castray-transfer-helper": "ok"})
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := load(t, pluginmgr.Options{Dir: dir})
	list := m.List()
	if len(list) != 1 {
		t.Fatalf("List = %+v, want just the helper", list)
	}
	st := list[0]
	if st.Name != "helper" || st.Kind != "transfer" || st.Version != "1.2.3" || st.APIVersion != sdk.APIVersion ||
		st.State != pluginmgr.StateHealthy || len(st.SHA256) != 64 || !processAlive(st.PID) || len(st.ConfigSchema) != 1 {
		t.Fatalf("status = %+v", st)
	}
	tr, err := m.Transfer("helper")
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := tr.Send(context.Background(), &sdk.SendRequest{}, nil); err != nil || sum.GetSucceeded() != 1 {
		t.Fatalf("Send = %v, %v", sum, err)
	}
	if _, err := m.Transfer("nope"); !errors.Is(err, pluginmgr.ErrNoPlugin) {
		t.Fatalf("Transfer(nope) err = %v", err)
	}
}

func TestKilledPluginIsRelaunched(t *testing.T) {
	var states []pluginmgr.State
	stateCh := make(chan pluginmgr.State, 16)
	m := load(t, pluginmgr.Options{
		Dir:     pluginDir(t, map[string]string{"castray-transfer-helper": "ok"}),
		OnState: func(s pluginmgr.Status) { stateCh <- s.State },
	})
	before, _ := m.Status("helper")
	tr, _ := m.Transfer("helper")
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarting", func() bool {
		st, _ := m.Status("helper")
		return st.State == pluginmgr.StateRestarting || st.Restarts > 0
	})
	waitFor(t, "healthy again", func() bool {
		st, _ := m.Status("helper")
		return st.State == pluginmgr.StateHealthy && st.PID != before.PID
	})
	after, _ := m.Status("helper")
	if after.Restarts != 1 || !processAlive(after.PID) || !strings.Contains(after.LastError, "exited") {
		t.Fatalf("after relaunch: %+v", after)
	}
	// The handle taken before the crash works with the new process.
	if _, err := tr.Send(context.Background(), &sdk.SendRequest{}, nil); err != nil {
		t.Fatalf("Send after relaunch: %v", err)
	}
	close(stateCh)
	for s := range stateCh {
		states = append(states, s)
	}
	// healthy (load) → restarting (crash) → healthy (relaunch)
	if len(states) < 3 || states[0] != pluginmgr.StateHealthy || states[1] != pluginmgr.StateRestarting || states[len(states)-1] != pluginmgr.StateHealthy {
		t.Errorf("state changes = %v", states)
	}
}

// Capabilities are asked once per plugin process: a second call is served
// from the cache, and a relaunched process is asked again.
func TestTransferCapabilitiesAreCachedPerProcess(t *testing.T) {
	m := load(t, pluginmgr.Options{Dir: pluginDir(t, map[string]string{"castray-transfer-helper": "ok"})})
	if got := m.TransferNames(); !slices.Equal(got, []string{"helper"}) {
		t.Fatalf("TransferNames = %v", got)
	}
	before, _ := m.Status("helper")
	want := fmt.Sprintf("pid-%d-call-1", before.PID)
	for range 2 {
		caps, err := m.TransferCapabilities(context.Background(), "helper")
		if err != nil || !slices.Equal(caps.GetNodeKinds(), []string{"local", want}) {
			t.Fatalf("Capabilities = %v, %v; want kinds local, %s", caps, err, want)
		}
	}
	if _, err := m.TransferCapabilities(context.Background(), "nope"); !errors.Is(err, pluginmgr.ErrNoPlugin) {
		t.Fatalf("Capabilities of an unknown plugin: %v", err)
	}
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relaunched process", func() bool {
		st, _ := m.Status("helper")
		return st.State == pluginmgr.StateHealthy && st.PID != before.PID
	})
	after, _ := m.Status("helper")
	caps, err := m.TransferCapabilities(context.Background(), "helper")
	if want := fmt.Sprintf("pid-%d-call-1", after.PID); err != nil || !slices.Equal(caps.GetNodeKinds(), []string{"local", want}) {
		t.Fatalf("after relaunch: Capabilities = %v, %v; want kinds local, %s", caps, err, want)
	}
}

func TestCallToDeadPluginFailsFast(t *testing.T) {
	dir := pluginDir(t, map[string]string{"castray-transfer-helper": "ok"})
	m := load(t, pluginmgr.Options{Dir: dir, MaxLaunchFailures: 2})
	st, _ := m.Status("helper")
	tr, _ := m.Transfer("helper")
	// Make relaunches fail: the launcher now points nowhere.
	if err := os.WriteFile(filepath.Join(dir, "castray-transfer-helper"), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
	waitFor(t, "failed state", func() bool { st, _ := m.Status("helper"); return st.State == pluginmgr.StateFailed })
	start := time.Now()
	_, err := tr.Send(context.Background(), &sdk.SendRequest{}, nil)
	if !errors.Is(err, sdk.ErrPluginUnavailable) || time.Since(start) > time.Second {
		t.Fatalf("Send to failed plugin: %v after %v", err, time.Since(start))
	}
	final, _ := m.Status("helper")
	if !strings.Contains(final.LastError, "gave up after 2") {
		t.Errorf("last error = %q", final.LastError)
	}
}

func TestBadConfigStopsLoadNamingPluginAndKey(t *testing.T) {
	_, err := pluginmgr.Load(pluginmgr.Options{
		Dir:      pluginDir(t, map[string]string{"castray-transfer-helper": "ok"}),
		Settings: map[string]pluginmgr.Settings{"helper": {Enabled: true, Config: map[string]any{"speed": -1}}},
	})
	if err == nil || !strings.Contains(err.Error(), "plugin.helper.config.speed") {
		t.Fatalf("err = %v, want one naming plugin.helper.config.speed", err)
	}
}

func TestLoadCollectsEveryProblem(t *testing.T) {
	_, err := pluginmgr.Load(pluginmgr.Options{
		Dir: pluginDir(t, map[string]string{"a-helper": "ok", "b-other": "name=helper", "c-future": "name=fut,future"}),
		Settings: map[string]pluginmgr.Settings{
			"fut":     {Enabled: true},
			"missing": {Enabled: true},
		},
	})
	var le *pluginmgr.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LoadError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"helper": provided by both`, "API versions [99]", `"fut": `, `"missing": the config block matches no plugin binary`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestPinMismatchRefusesBeforeLaunch(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "launched")
	t.Setenv("CASTRAY_TEST_MARKER", marker)
	_, err := pluginmgr.Load(pluginmgr.Options{
		Dir:      pluginDir(t, map[string]string{"castray-transfer-helper": "ok"}),
		Settings: map[string]pluginmgr.Settings{"helper": {Enabled: true, SHA256: strings.Repeat("ab", 32)}},
	})
	if err == nil || !strings.Contains(err.Error(), "pins") {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("a plugin whose pin did not match was launched")
	}
}

func TestPinMatchAndDisabled(t *testing.T) {
	dir := pluginDir(t, map[string]string{"castray-transfer-helper": "ok", "castray-transfer-off": "name=off"})
	probe := load(t, pluginmgr.Options{Dir: dir, Settings: map[string]pluginmgr.Settings{"off": {Enabled: false}}})
	st, _ := probe.Status("helper")
	probe.Shutdown()

	m := load(t, pluginmgr.Options{Dir: dir, Settings: map[string]pluginmgr.Settings{
		"helper": {Enabled: true, SHA256: strings.ToUpper(st.SHA256)},
		"off":    {Enabled: false},
	}})
	if got, _ := m.Status("helper"); got.State != pluginmgr.StateHealthy {
		t.Fatalf("pinned plugin: %+v", got)
	}
	if got, _ := m.Status("off"); got.State != pluginmgr.StateDisabled || got.PID != 0 {
		t.Fatalf("disabled plugin: %+v", got)
	}
}

func TestShutdownLeavesNoProcess(t *testing.T) {
	m, err := pluginmgr.Load(pluginmgr.Options{Dir: pluginDir(t, map[string]string{"x-helper": "ok", "y-two": "name=two"})})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, st := range m.List() {
		pids = append(pids, st.PID)
	}
	m.Shutdown()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("pid %d to exit", pid), func() bool { return !processAlive(pid) })
	}
}

func TestMissingDirMeansNoPlugins(t *testing.T) {
	m := load(t, pluginmgr.Options{Dir: filepath.Join(t.TempDir(), "none")})
	if len(m.List()) != 0 {
		t.Fatal("plugins from a missing directory")
	}
}

// A block names one plugin exactly: `plugin "scan"` is not a suffix of
// castray-…-dashboard-scan, so disabling "scan" leaves dashboard-scan alone.
func TestConfigBlockMatchesExactName(t *testing.T) {
	m := load(t, pluginmgr.Options{
		Dir: pluginDir(t, map[string]string{
			"castray-transfer-dashboard-scan": "name=dashboard-scan",
			"castray-transfer-scan":           "name=scan",
		}),
		Settings: map[string]pluginmgr.Settings{"scan": {Enabled: false}},
	})
	if st, _ := m.Status("dashboard-scan"); st.State != pluginmgr.StateHealthy {
		t.Errorf("dashboard-scan: %+v, want healthy", st)
	}
	if st, _ := m.Status("scan"); st.State != pluginmgr.StateDisabled {
		t.Errorf("scan: %+v, want disabled", st)
	}
}

func TestConfigBlockMatchingNoBinaryIsAnError(t *testing.T) {
	_, err := pluginmgr.Load(pluginmgr.Options{
		Dir:      pluginDir(t, map[string]string{"castray-transfer-dashboard-scan": "name=dashboard-scan"}),
		Settings: map[string]pluginmgr.Settings{"scan": {Enabled: false}},
	})
	if err == nil {
		t.Fatal(`a block "scan" loaded with only castray-transfer-dashboard-scan installed`)
	}
	for _, want := range []string{`plugin "scan"`, "castray-discovery-scan", "castray-transfer-scan", "dashboard-scan"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConfigBlockMatchingTwoBinariesIsAnError(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "launched")
	t.Setenv("CASTRAY_TEST_MARKER", marker)
	_, err := pluginmgr.Load(pluginmgr.Options{
		Dir:      pluginDir(t, map[string]string{"castray-discovery-x": "name=x", "castray-transfer-x": "name=x"}),
		Settings: map[string]pluginmgr.Settings{"x": {Enabled: true}},
	})
	if err == nil {
		t.Fatal("an ambiguous block loaded")
	}
	for _, want := range []string{`plugin "x"`, "castray-discovery-x", "castray-transfer-x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Error("a binary of an ambiguous block was launched")
	}
}

// Relaunches rewrite an instance under its lock while callers look plugins
// up; under -race this fails if a lookup reads the instance unlocked.
func TestLookupsDuringRelaunches(t *testing.T) {
	states := make(chan pluginmgr.Status, 64)
	m := load(t, pluginmgr.Options{
		Dir:     pluginDir(t, map[string]string{"castray-transfer-helper": "ok"}),
		OnState: func(s pluginmgr.Status) { states <- s },
	})
	if st := <-states; st.State != pluginmgr.StateHealthy {
		t.Fatalf("first state %+v", st)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := m.Transfer("helper"); err != nil {
				t.Errorf("Transfer: %v", err)
				return
			}
			_ = m.Discoverers()
			runtime.Gosched()
		}
	}()
	for round := 1; round <= 3; round++ {
		st, _ := m.Status("helper")
		if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for s := range states { // restarting, then healthy again
			if s.State == pluginmgr.StateHealthy {
				break
			}
			if s.State != pluginmgr.StateRestarting {
				t.Fatalf("round %d: state %+v", round, s)
			}
		}
		if st, _ := m.Status("helper"); st.Restarts != round {
			t.Fatalf("round %d: restarts %d", round, st.Restarts)
		}
	}
	close(stop)
	<-done
	tr, err := m.Transfer("helper")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Send(context.Background(), &sdk.SendRequest{}, nil); err != nil {
		t.Fatalf("Send after relaunches: %v", err)
	}
}

// badBinaries are executables that fail to load in different ways.
func badBinaries(t *testing.T, dir string) {
	writeScript(t, dir, "castray-discovery-crash", "exit 1")                                          // crashes at start
	writeScript(t, dir, "not-a-plugin", "echo hello; exec sleep 600")                                 // says something else
	writeScript(t, dir, "castray-transfer-shake", "echo '1|99|tcp|127.0.0.1:1|grpc'; exec sleep 600") // wrong handshake
}

func TestUnconfiguredBadBinariesAreSkipped(t *testing.T) {
	dir := pluginDir(t, map[string]string{"castray-transfer-helper": "ok", "castray-transfer-fut": "name=fut,future"})
	badBinaries(t, dir)
	failed := map[string]bool{}
	m := load(t, pluginmgr.Options{Dir: dir, OnState: func(s pluginmgr.Status) {
		if s.State == pluginmgr.StateFailed {
			failed[s.Name] = true // OnState runs in Load here: no lock needed
		}
	}})
	want := map[string]string{ // name → part of the error
		"crash":        "",
		"not-a-plugin": "hello",
		"shake":        "incompatible API version",
		"fut":          "API versions [99]",
	}
	got := map[string]pluginmgr.Status{}
	for _, st := range m.List() {
		got[st.Name] = st
	}
	if len(got) != 5 || got["helper"].State != pluginmgr.StateHealthy {
		t.Fatalf("List = %+v", m.List())
	}
	for name, msg := range want {
		st := got[name]
		if st.State != pluginmgr.StateFailed || st.LastError == "" || !strings.Contains(st.LastError, msg) || st.PID != 0 || st.Path == "" {
			t.Errorf("%s: %+v, want failed with an error containing %q", name, st, msg)
		}
		if !failed[name] {
			t.Errorf("%s: no failed state reported", name)
		}
		if _, err := m.Transfer(name); !errors.Is(err, pluginmgr.ErrNoPlugin) {
			t.Errorf("Transfer(%s) err = %v", name, err)
		}
	}
	if d := m.Discoverers(); len(d) != 0 {
		t.Errorf("Discoverers = %v", d)
	}
}

func TestConfiguredBadBinaryStopsLoad(t *testing.T) {
	dir := pluginDir(t, map[string]string{"castray-transfer-helper": "ok", "c-future": "name=fut,future"})
	badBinaries(t, dir)
	_, err := pluginmgr.Load(pluginmgr.Options{Dir: dir, Settings: map[string]pluginmgr.Settings{
		"crash": {Enabled: true},
		"shake": {Enabled: true},
		"fut":   {Enabled: true},
	}})
	var le *pluginmgr.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LoadError", err)
	}
	if len(le.Problems) != 3 {
		t.Errorf("problems = %q, want one per configured bad plugin", le.Problems)
	}
	for _, want := range []string{`plugin "crash"`, `plugin "shake": `, "incompatible API version", `plugin "fut"`, "API versions [99]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-a-plugin") {
		t.Errorf("an unconfigured binary stopped the load:\n%v", err)
	}
}
