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
	"sync"
	"syscall"
	"time"

	"github.com/castray/castray/e2e/progkit"
)

// daemon is one `castray serve` process started by the campaign.
type daemon struct {
	*progkit.Process
	url     string
	client  *http.Client
	started time.Time
}

type pluginStatus struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	State     string `json:"state"`
	PID       int    `json:"pid"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
}

// cleanEnv is the environment without CastRay or Ray settings that would
// leak into the daemon under test.
func cleanEnv() []string { return progkit.CleanEnv("CASTRAY_", "RAY_") }

// startDaemon spawns castray serve on a free loopback port with the given
// plugin dir, data dir and config file. The caller must call stop.
func startDaemon(binDir, pluginDir, dataDir, config string) (*daemon, error) {
	port, err := progkit.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dataDir, "--plugin-dir", pluginDir,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	if config != "" {
		args = append(args, "--config", config)
	}
	cmd := exec.Command(filepath.Join(binDir, "castray"), args...)
	cmd.Env = cleanEnv()
	started := time.Now()
	p, err := progkit.StartProcess(cmd, nil)
	if err != nil {
		return nil, err
	}
	return &daemon{Process: p, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Minute}, started: started}, nil
}

func (d *daemon) pid() int { return d.Cmd.Process.Pid }

// waitReady polls until /healthz answers 200 and /api/plugins lists every
// plugin of want healthy with a pid.
func (d *daemon) waitReady(ctx context.Context, want []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last []pluginStatus
	for {
		if d.Exited() {
			return fmt.Errorf("daemon exited before it was ready: %v\n%s", d.ExitErr, tail(d.Log.String(), 4000))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (plugins %+v)\n%s", timeout, last, tail(d.Log.String(), 4000))
		}
		if code, _ := d.get(ctx, "/healthz", nil); code == 200 {
			ps, err := d.plugins(ctx)
			if err == nil {
				last = ps
				if healthy(ps, want) {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func healthy(ps []pluginStatus, want []string) bool {
	byName := map[string]pluginStatus{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	for _, n := range want {
		if p, ok := byName[n]; !ok || p.State != "healthy" || p.PID <= 0 {
			return false
		}
	}
	return true
}

func (d *daemon) plugins(ctx context.Context) ([]pluginStatus, error) {
	var resp struct {
		Plugins []pluginStatus `json:"plugins"`
	}
	if _, err := d.get(ctx, "/api/plugins", &resp); err != nil {
		return nil, err
	}
	return resp.Plugins, nil
}

// get GETs path and decodes a JSON answer into out (if non-nil).
func (d *daemon) get(ctx context.Context, path string, out any) (int, error) {
	return d.do(ctx, "GET", path, nil, "", out)
}

// do sends a request; an answer of 300 or more is an error carrying the body.
func (d *daemon) do(ctx context.Context, method, path string, body []byte, ctype string, out any) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, r)
	if err != nil {
		return 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
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
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, tail(string(raw), 300), err)
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
	return d.do(ctx, "POST", path, raw, "application/json", out)
}

// upload PUTs data as an uploaded file.
func (d *daemon) upload(ctx context.Context, name string, data []byte) error {
	_, err := d.do(ctx, "PUT", "/api/files/"+name, data, "", nil)
	return err
}

// targetRec and transferRec are the parts of a transfer record the
// campaign checks.
type targetRec struct {
	NodeID      string `json:"node_id"`
	State       string `json:"state"`
	BytesReused uint64 `json:"bytes_reused"`
	SHA256      string `json:"sha256"`
	Error       string `json:"error"`
}

type transferRec struct {
	ID       string      `json:"id"`
	State    string      `json:"state"`
	Error    string      `json:"error"`
	Attempts int         `json:"attempts"`
	Targets  []targetRec `json:"targets"`
}

func ended(state string) bool {
	switch state {
	case "completed", "partial", "failed", "cancelled", "interrupted":
		return true
	}
	return false
}

func (d *daemon) startTransfer(ctx context.Context, body map[string]any) (string, error) {
	var r struct {
		Transfer transferRec `json:"transfer"`
	}
	if _, err := d.postJSON(ctx, "/api/transfers", body, &r); err != nil {
		return "", err
	}
	return r.Transfer.ID, nil
}

func (d *daemon) transfer(ctx context.Context, id string) (transferRec, error) {
	var r struct {
		Transfer transferRec `json:"transfer"`
	}
	_, err := d.get(ctx, "/api/transfers/"+id, &r)
	return r.Transfer, err
}

// waitTransfer polls a transfer until it has ended (timeout: it hangs).
func (d *daemon) waitTransfer(ctx context.Context, id string, timeout time.Duration) (transferRec, error) {
	deadline := time.Now().Add(timeout)
	for {
		rec, err := d.transfer(ctx, id)
		if err == nil && ended(rec.State) {
			return rec, nil
		}
		if ctx.Err() != nil {
			return rec, ctx.Err()
		}
		if time.Now().After(deadline) {
			return rec, fmt.Errorf("transfer %s still %q after %v (%v)", id, rec.State, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 20 s), then
// kills and reports plugin processes the daemon left behind.
func (d *daemon) stop() error {
	d.client.CloseIdleConnections()
	kids := children(d.pid())
	var errs []error
	if err := d.Terminate(); err != nil {
		errs = append(errs, err)
	}
	if left := waitGone(kids, 10*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("plugin processes %v outlived the daemon; killed", left))
	}
	return errors.Join(errs...)
}

// kill9 kills the daemon with SIGKILL and waits for it; it returns the
// plugin processes that were its children, for the caller to watch.
func (d *daemon) kill9() []int {
	kids := children(d.pid())
	_ = d.Cmd.Process.Kill()
	<-d.Done
	d.client.CloseIdleConnections()
	return kids
}

// waitGone waits up to timeout for pids to exit, then SIGKILLs and returns
// those still alive.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, p := range pids {
			if processAlive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procStat reads ppid and state of a process from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 > len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// processAlive is true for a running process; a zombie counts as gone.
func processAlive(pid int) bool {
	_, st, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

// children lists the live child processes of pid, read from /proc.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, st, ok := procStat(p); ok && ppid == pid && st != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// openFDs counts /proc/<pid>/fd.
func openFDs(pid int) int {
	e, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(e)
}

// goroutines reads go_goroutines from the daemon's /metrics.
func (d *daemon) goroutines(ctx context.Context) int {
	req, err := http.NewRequestWithContext(ctx, "GET", d.url+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// healthPoller asks the daemon /healthz and /api/status every interval
// while it runs and counts the answers: the daemon must answer throughout.
type healthPoller struct {
	mu        sync.Mutex
	ok, fail  int
	latencies []time.Duration
	failures  []string
	stop      chan struct{}
	done      chan struct{}
}

func pollHealth(d func() *daemon, every time.Duration) *healthPoller {
	h := &healthPoller{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(h.done)
		defer client.CloseIdleConnections()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			path := "/healthz"
			if i%2 == 1 {
				path = "/api/status"
			}
			start := time.Now()
			resp, err := client.Get(d().url + path)
			took := time.Since(start)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			h.mu.Lock()
			if err == nil && resp.StatusCode == 200 {
				h.ok++
				h.latencies = append(h.latencies, took)
			} else {
				h.fail++
				msg := fmt.Sprint(err)
				if err == nil {
					msg = resp.Status
				}
				if len(h.failures) < 5 {
					h.failures = append(h.failures, fmt.Sprintf("%s %s: %s", time.Now().Format("15:04:05.000"), path, msg))
				}
			}
			h.mu.Unlock()
		}
	}()
	return h
}

func (h *healthPoller) finish() {
	close(h.stop)
	<-h.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// linkOrCopy puts a plugin binary into a private plugin dir.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
