package daemontest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/progkit"
	"github.com/castray/castray/host/api/openapitest"
)

// Buffer collects a process's output; safe for the process's writers and
// the test's readers at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n bytes of s, marked with … when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// FreePort asks the kernel for a free loopback port.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Options say how to start `castray serve`.
type Options struct {
	// Config is the config file's text, written to a temporary file with
	// ConfigExt (".hcl" when empty); none is passed when it is empty.
	Config    string
	ConfigExt string
	// PluginDir is passed as --plugin-dir. Plugins are binaries (places in
	// BinDir such as Plugin("transfer", "ray"), or absolute paths) linked,
	// or else copied, into PluginDir, or into a private temporary folder
	// when PluginDir is empty, so that nothing else in the bin dir is
	// loaded. With neither, the daemon gets BinDir's plugins folder.
	PluginDir string
	Plugins   []string
	// DataDir is passed as --data-dir; a temporary folder when empty.
	DataDir string
	// DropEnv are prefixes of the test's environment entries the daemon
	// does not inherit; nil means CASTRAY_ and RAY_ (no setting of the
	// test run leaks into the daemon). Env entries are added after it and
	// replace an inherited entry of the same name.
	DropEnv []string
	Env     []string
	// Args are extra flags for serve.
	Args []string
}

// Daemon is one `castray serve` process on 127.0.0.1:<free port>.
type Daemon struct {
	T         testing.TB
	opts      Options
	cmd       *exec.Cmd
	url       string
	dataDir   string
	pluginDir string
	log       *Buffer
	done      chan struct{}
	exitErr   error
	// api checks every response the helpers get against openapi.yaml;
	// its mismatches fail the test when it ends.
	api    *openapitest.Transport
	client *http.Client

	proxyOnce sync.Once
	proxyURL  string
}

// StopTimeout is how long Stop waits after SIGTERM before it kills.
const StopTimeout = 20 * time.Second

// ReadyTimeout bounds the wait for /healthz (and WaitPluginsHealthy).
const ReadyTimeout = 60 * time.Second

// Start starts castray serve with o and waits until /healthz answers 200.
// The daemon is stopped (Stop) when the test ends; on a failed test its
// output's tail is logged.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	d := StartProcess(t, o)
	d.WaitReady()
	return d
}

// StartProcess starts castray serve with o and does not wait for it.
func StartProcess(t testing.TB, o Options) *Daemon {
	t.Helper()
	if BinDir() == "" {
		t.Fatalf("no binaries: set $%s or call daemontest.Main from TestMain", EnvBinDir)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.PluginDir == "" && len(o.Plugins) > 0 {
		o.PluginDir = filepath.Join(t.TempDir(), "plugins")
	}
	if len(o.Plugins) > 0 {
		linkPlugins(t, o.PluginDir, o.Plugins)
		o.Plugins = nil // linked once; a Restart reuses the folder
	}
	if o.PluginDir == "" {
		o.PluginDir = filepath.Join(BinDir(), "plugins")
	}
	if o.Config != "" {
		ext := o.ConfigExt
		if ext == "" {
			ext = ".hcl"
		}
		path := filepath.Join(t.TempDir(), "castray"+ext)
		if err := os.WriteFile(path, []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		o.Config, o.ConfigExt = "", ""
		o.Args = append([]string{"--config", path}, o.Args...)
	}
	port := FreePort(t)
	args := append([]string{"serve", "--data-dir", o.DataDir, "--plugin-dir", o.PluginDir,
		"--host", "127.0.0.1", "--port", fmt.Sprint(port)}, o.Args...)
	cmd := exec.Command(Bin("castray"), args...)
	cmd.Env = environ(o.DropEnv, o.Env)
	api := openapitest.Watch(t, nil)
	d := &Daemon{T: t, opts: o, cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), dataDir: o.DataDir,
		pluginDir: o.PluginDir, log: &Buffer{}, done: make(chan struct{}), api: api, client: &http.Client{Transport: api}}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("daemon %s output (tail):\n%s", d.url, Tail(d.log.String(), 16000))
		}
	})
	return d
}

// environ is the test's environment without the drop prefixes (CASTRAY_ and
// RAY_ by default) and the names env sets, then env.
func environ(drop, env []string) []string {
	if drop == nil {
		drop = []string{"CASTRAY_", "RAY_"}
	}
	for _, kv := range env {
		if name, _, ok := strings.Cut(kv, "="); ok {
			drop = append(drop, name+"=")
		}
	}
	return append(progkit.CleanEnv(drop...), env...)
}

// PrivatePluginDir is a new temporary plugin folder holding only plugins
// (as in Options.Plugins), for several daemons to share.
func PrivatePluginDir(t testing.TB, plugins ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	linkPlugins(t, dir, plugins)
	return dir
}

// linkPlugins hard-links (else copies) each plugin binary into dir.
func linkPlugins(t testing.TB, dir string, plugins []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		src := p
		if !filepath.IsAbs(src) {
			src = Bin(p)
		}
		dst := filepath.Join(dir, filepath.Base(src))
		if os.Link(src, dst) == nil {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("plugin %s: %v (build it into $%s/plugins)", p, err, EnvBinDir)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// WaitReady polls /healthz until it answers 200; the daemon exiting first,
// or no answer within ReadyTimeout, fails the test.
func (d *Daemon) WaitReady() {
	d.T.Helper()
	PollUntil(d.T, ReadyTimeout, "the daemon to answer /healthz", func() bool {
		d.failIfExited("before it was ready")
		resp, err := d.client.Get(d.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (d *Daemon) failIfExited(when string) {
	d.T.Helper()
	select {
	case <-d.done:
		d.T.Fatalf("daemon exited %s: %v\n%s", when, d.exitErr, Tail(d.log.String(), 16000))
	default:
	}
}

// Client is an HTTP client for the daemon whose responses are checked
// against host/api/openapi.yaml: a response that does not match it fails
// the test when the test ends, listed with the others. Every helper here
// uses it; a test that makes its own requests to the daemon should too (the
// typed client: client.New(d.URL(), client.WithHTTPClient(d.Client()))).
func (d *Daemon) Client() *http.Client { return d.client }

// API is the transport behind Client, for checking a response that did not
// go through it (a WebSocket handshake: API().Observe).
func (d *Daemon) API() *openapitest.Transport { return d.api }

// ProxyURL is the base URL of a reverse proxy to the daemon, started on
// first use and closed when the test ends, for clients the test does not
// drive request by request (a browser, the CLI binary): every answer it
// passes on for a path of the API is checked against host/api/openapi.yaml
// like Client's (openapitest.Proxy).
func (d *Daemon) ProxyURL() string {
	d.proxyOnce.Do(func() { d.proxyURL = openapitest.Proxy(d.T, d.url, d.api) })
	return d.proxyURL
}

// URL is the daemon's base URL, http://127.0.0.1:<port>.
func (d *Daemon) URL() string { return d.url }

// DataDir is the daemon's --data-dir.
func (d *Daemon) DataDir() string { return d.dataDir }

// PluginDir is the daemon's --plugin-dir.
func (d *Daemon) PluginDir() string { return d.pluginDir }

// Log is everything the daemon wrote to stdout and stderr so far.
func (d *Daemon) Log() string { return d.log.String() }

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the daemon and does not wait.
func (d *Daemon) Signal(sig syscall.Signal) error { return d.cmd.Process.Signal(sig) }

// Wait waits (at most timeout) for the daemon to exit and returns how it
// exited (nil: status 0).
func (d *Daemon) Wait(timeout time.Duration) error {
	d.T.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.T.Fatalf("daemon did not exit within %v", timeout)
	}
	return d.exitErr
}

// Stop sends SIGTERM, kills the daemon if it has not exited after
// StopTimeout, and returns how it exited (nil: status 0). Stopping an exited
// daemon only returns that.
func (d *Daemon) Stop() error { return d.stop(syscall.SIGTERM) }

// Kill9 kills the daemon (SIGKILL: no shutdown of its own; its plugins
// notice on their own) and waits for it.
func (d *Daemon) Kill9() error { return d.stop(syscall.SIGKILL) }

// StopWith sends sig (SIGKILL after StopTimeout) and waits for the exit.
func (d *Daemon) StopWith(sig syscall.Signal) error { return d.stop(sig) }

func (d *Daemon) stop(sig syscall.Signal) error {
	if d.Exited() {
		return d.exitErr
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(StopTimeout):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	return d.exitErr
}

// Restart stops the daemon (SIGTERM) if it still runs and starts a new one
// with the same options: the same data dir, plugin dir and config, on a new
// port. It waits for /healthz.
func (d *Daemon) Restart() *Daemon {
	d.T.Helper()
	_ = d.Stop()
	return Start(d.T, d.opts)
}
