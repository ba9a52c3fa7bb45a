//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/castray/castray/e2e/progkit"
	"github.com/castray/castray/sdk/ray/rayproc"
)

const pluginBinary = "castray-transfer-local"

// daemon is one `castray serve` process started by the bench.
type daemon struct {
	*progkit.Process
	url     string
	client  *http.Client
	plugins []pluginStatus // as last seen by waitReady
}

type pluginStatus struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	PID   int    `json:"pid"`
}

// cleanEnv is the environment without CastRay or Ray settings that would
// leak into the daemon under test.
func cleanEnv() []string { return progkit.CleanEnv("CASTRAY_", "RAY_ADDRESS=") }

// startDaemon spawns castray serve on a free loopback port. The caller must
// call stop. extra are more serve flags.
func startDaemon(o options, dataDir string, extra ...string) (*daemon, error) {
	port, err := progkit.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data-dir", dataDir, "--plugin-dir", filepath.Join(o.binDir, "plugins"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(port)}, extra...)
	cmd := exec.Command(filepath.Join(o.binDir, "castray"), args...)
	cmd.Env = cleanEnv()
	p, err := progkit.StartProcess(cmd, nil)
	if err != nil {
		return nil, err
	}
	return &daemon{Process: p, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Transport: &http.Transport{}}}, nil
}

// waitReady polls until /healthz answers 200 and /api/plugins lists want
// plugins, all healthy with a pid. It returns when /healthz first answered.
func (d *daemon) waitReady(ctx context.Context, want int, timeout time.Duration) (healthz time.Time, err error) {
	deadline := time.Now().Add(timeout)
	for {
		if d.Exited() {
			return healthz, fmt.Errorf("daemon exited before it was ready: %v\n%s", d.ExitErr, d.Log)
		}
		if err := ctx.Err(); err != nil {
			return healthz, err
		}
		if time.Now().After(deadline) {
			return healthz, fmt.Errorf("not ready after %v (healthz seen: %v, plugins %+v)\n%s", timeout, !healthz.IsZero(), d.plugins, d.Log)
		}
		if healthz.IsZero() {
			if code, _ := d.get(ctx, "/healthz", nil); code == 200 {
				healthz = time.Now()
			}
		}
		if !healthz.IsZero() {
			var resp struct {
				Plugins []pluginStatus `json:"plugins"`
			}
			if code, err := d.get(ctx, "/api/plugins", &resp); code == 200 && err == nil {
				d.plugins = resp.Plugins
				if allHealthy(resp.Plugins, want) {
					return healthz, nil
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allHealthy(ps []pluginStatus, want int) bool {
	if len(ps) < want {
		return false
	}
	for _, p := range ps {
		if p.State != "healthy" || p.PID <= 0 {
			return false
		}
	}
	return true
}

// get GETs path and decodes a JSON answer into out (if non-nil).
func (d *daemon) get(ctx context.Context, path string, out any) (int, error) {
	return d.do(ctx, "GET", path, nil, -1, out)
}

func (d *daemon) do(ctx context.Context, method, path string, body io.Reader, size int64, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, body)
	if err != nil {
		return 0, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	if body != nil && method != "PUT" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	return resp.StatusCode, nil
}

func (d *daemon) postJSON(ctx context.Context, path string, v, out any) (int, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	return d.do(ctx, "POST", path, bytes.NewReader(raw), int64(len(raw)), out)
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 20 s). Plugin
// processes the daemon left behind are killed and reported. It returns how
// long the daemon took to exit.
func (d *daemon) stop() (time.Duration, error) {
	d.client.CloseIdleConnections()
	start := time.Now()
	var errs []error
	if err := d.Terminate(); err != nil {
		errs = append(errs, err)
	}
	took := time.Since(start)
	for _, p := range d.plugins {
		if processAlive(p.PID) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("plugin %s (pid %d) outlived the daemon; killed", p.Name, p.PID))
		}
	}
	if d.ExitErr != nil && len(errs) == 0 {
		var ee *exec.ExitError
		if !errors.As(d.ExitErr, &ee) || ee.ExitCode() != 0 {
			errs = append(errs, fmt.Errorf("daemon exited with %v\n%s", d.ExitErr, d.Log))
		}
	}
	return took, errors.Join(errs...)
}

// processAlive is true for a running process; a zombie counts as gone.
func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	_, ok := rayproc.Lister{}.Process(pid) // not listed: gone, or a zombie
	return ok
}

// vmRSS reads VmRSS of a process, in bytes.
func vmRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("pid %d: odd VmRSS line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// expectedPlugins counts the executables the daemon will load from its
// plugin directory (non-hidden, regular, executable), as pluginmgr does.
func expectedPlugins(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			n++
		}
	}
	return n, nil
}
