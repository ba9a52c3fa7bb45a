package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/e2e/daemontest"
	"github.com/castray/castray/e2e/progkit"
	"github.com/castray/castray/host/api/openapitest"
)

var binDir string

func TestMain(m *testing.M) {
	// Like `make build`: the daemon and every in-tree plugin.
	builds, err := daemontest.AllPlugins()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builds["castray"] = daemontest.Castray
	dir, cleanup, err := daemontest.Prepare(builds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run() // os.Exit skips deferred calls: clean up first
	cleanup()
	os.Exit(code)
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int { return daemontest.FreePort(t) }

// syncBuffer collects a process's output safely.
type syncBuffer = daemontest.Buffer

// daemon is one castray serve process.
type daemon struct {
	t testing.TB
	// client is for every request to the daemon: its transport checks each
	// response against host/api/openapi.yaml, and a mismatch fails the test
	// when it ends (api.Observe checks what does not go through it).
	client  *http.Client
	api     *openapitest.Transport
	proxy   string // proxyURL's, once started
	cmd     *exec.Cmd
	URL     string
	DataDir string
	Token   string
	Stdout  *syncBuffer
	Stderr  *syncBuffer
	done    chan struct{}
	exitErr error
}

type daemonOpts struct {
	config     string // file contents; written with configExt
	configExt  string // ".hcl" (default) or ".json"
	env        []string
	args       []string // extra flags for serve
	dataDir    string
	host       string
	noPortFlag bool // let file/env choose the port; URL then comes from portHint
	portHint   int
}

// startDaemonProcess starts castray serve and does not wait for readiness.
func startDaemonProcess(t testing.TB, o daemonOpts) *daemon {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.host == "" {
		o.host = "127.0.0.1"
	}
	port := o.portHint
	args := []string{"serve", "--data-dir", o.dataDir, "--plugin-dir", filepath.Join(binDir, "plugins")}
	if !o.noPortFlag {
		port = freePort(t)
		args = append(args, "--host", o.host, "--port", fmt.Sprint(port))
	}
	if o.config != "" {
		ext := o.configExt
		if ext == "" {
			ext = ".hcl"
		}
		path := filepath.Join(t.TempDir(), "castray"+ext)
		if err := os.WriteFile(path, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	args = append(args, o.args...)
	cmd := exec.Command(filepath.Join(binDir, "castray"), args...)
	cmd.Env = append(cleanEnv(), o.env...)
	api := openapitest.Watch(t, nil)
	d := &daemon{t: t, cmd: cmd, DataDir: o.dataDir, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{}),
		api: api, client: &http.Client{Transport: api}}
	cmd.Stdout, cmd.Stderr = d.Stdout, d.Stderr
	host := o.host
	if host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	d.URL = fmt.Sprintf("http://%s:%d", host, port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("daemon stdout:\n%s\ndaemon stderr:\n%s", d.Stdout, d.Stderr)
		}
	})
	return d
}

// proxyURL is the base URL of a reverse proxy to the daemon for the CLI
// binary: the answers it gets are checked against the document like
// d.client's (openapitest.Proxy).
func (d *daemon) proxyURL() string {
	if d.proxy == "" {
		d.proxy = openapitest.Proxy(d.t, d.URL, d.api)
	}
	return d.proxy
}

// cleanEnv is the test's environment without CastRay or Ray settings that
// would leak into the daemon under test.
func cleanEnv() []string { return progkit.CleanEnv("CASTRAY_", "RAY_ADDRESS=") }

// startDaemon starts castray serve and waits until /healthz answers.
func startDaemon(t testing.TB, o daemonOpts) *daemon {
	t.Helper()
	d := startDaemonProcess(t, o)
	d.waitReady()
	return d
}

func (d *daemon) waitReady() {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			d.t.Fatalf("daemon exited before it was ready: %v\nstderr:\n%s", d.exitErr, d.Stderr)
		default:
		}
		resp, err := d.client.Get(d.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("daemon not ready after 30 s\nstderr:\n%s", d.Stderr)
}

// wait waits for the process to exit and returns its exit code.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("daemon did not exit within %v", timeout)
	}
	if d.exitErr == nil {
		return 0
	}
	if ee, ok := d.exitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	d.t.Fatalf("wait: %v", d.exitErr)
	return -1
}

func (d *daemon) stop(sig syscall.Signal) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (d *daemon) do(method, path string, body any, out any) int {
	d.t.Helper()
	var r io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r, contentType = strings.NewReader(b), "application/json"
	default:
		raw, _ := json.Marshal(b)
		r, contentType = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, d.URL+path, r)
	if err != nil {
		d.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/yaml") {
		d.t.Errorf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// pluginStatus is the part of /api/plugins the tests read.
type pluginStatus struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	State     string `json:"state"`
	PID       int    `json:"pid"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
}

func (d *daemon) plugins() map[string]pluginStatus {
	d.t.Helper()
	var resp struct {
		Plugins []pluginStatus `json:"plugins"`
	}
	if code := d.do("GET", "/api/plugins", nil, &resp); code != 200 {
		d.t.Fatalf("GET /api/plugins: %d", code)
	}
	out := map[string]pluginStatus{}
	for _, p := range resp.Plugins {
		out[p.Name] = p
	}
	return out
}

// processAlive is true for a running process; a zombie (exited, not yet
// reaped) counts as gone.
func processAlive(pid int) bool { return daemontest.ProcessAlive(pid) }

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
