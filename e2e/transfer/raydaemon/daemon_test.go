package raydaemon

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
)

var (
	pluginLocal = daemontest.Plugin("transfer", "local")
	pluginRay   = daemontest.Plugin("transfer", "ray")
)

func TestMain(m *testing.M) {
	os.Exit(daemontest.Main(m, map[string]string{
		"castray":   daemontest.Castray,
		pluginLocal: "./plugins/transfer/local",
		pluginRay:   "./plugins/transfer/ray",
	}))
}

// pluginDir makes a private plugin folder holding only the two transfer
// plugins, so discovery plugins that happen to sit in CASTRAY_BIN_DIR are not
// loaded.
func pluginDir(t *testing.T) string {
	t.Helper()
	return daemontest.PrivatePluginDir(t, pluginLocal, pluginRay)
}

// daemon is one `castray serve` process.
type daemon struct {
	*daemontest.Daemon
	t *testing.T
}

// startDaemon runs castray serve with config (HCL) on dataDir and waits until
// /healthz answers and both plugins are healthy.
func startDaemon(t *testing.T, plugins, dataDir, config string) *daemon {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{Config: config, PluginDir: plugins, DataDir: dataDir})
	d.WaitPluginsHealthy("local", "ray")
	return &daemon{Daemon: d, t: t}
}

// stop signals the daemon and waits for its exit (SIGKILL after 20 s).
func (d *daemon) stop(sig syscall.Signal) { _ = d.StopWith(sig) }

func (d *daemon) pluginPID(name string) int {
	d.t.Helper()
	return d.Plugins()[name].PID
}

func (d *daemon) do(method, path string, body any, out any) int {
	d.t.Helper()
	return d.Do(method, path, body, out)
}

// processAlive is true for a running process; a zombie counts as gone.
func processAlive(pid int) bool { return daemontest.ProcessAlive(pid) }

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	daemontest.PollUntil(t, timeout, what, cond)
}

func tail(s string, n int) string { return daemontest.Tail(s, n) }
