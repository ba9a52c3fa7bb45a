//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/castray/castray/e2e/progkit"
)

// daemon is the `castray serve` under load.
type daemon struct {
	*progkit.Process
	port  int
	url   string // http://127.0.0.1:port
	token string
}

// startDaemon writes a config (token, client buffer, no Ray of its own)
// and spawns castray serve on a free loopback port.
func startDaemon(o options, root string) (*daemon, error) {
	port, err := progkit.FreePort()
	if err != nil {
		return nil, err
	}
	token := ""
	if o.token {
		token = randomToken()
	}
	cfg := fmt.Sprintf(`web_server {
  host      = "127.0.0.1"
  port      = %d
  api_token = %q
}
ray_cluster {
  create_demo_nodes = true
  fallback_to_local = false
}
external_cluster {
  auto_discover = false
}
events {
  client_buffer = %d
}
logging {
  level = "warn"
}
`, port, token, o.clientBuffer)
	cfgPath := filepath.Join(root, "castray.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(o.binDir, "castray"), "serve", "--config", cfgPath,
		"--data-dir", filepath.Join(root, "data"), "--plugin-dir", filepath.Join(o.binDir, "plugins"))
	cmd.Env = progkit.CleanEnv("CASTRAY_", "RAY_ADDRESS=")
	var also io.Writer
	if o.daemonLog != "" {
		f, err := os.Create(o.daemonLog)
		if err != nil {
			return nil, err
		}
		also = f
	}
	p, err := progkit.StartProcess(cmd, also)
	if err != nil {
		return nil, err
	}
	return &daemon{Process: p, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port), token: token}, nil
}

func (d *daemon) waitReady(ctx context.Context, c *http.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if d.Exited() {
			return fmt.Errorf("daemon exited before it answered: %v\n%s", d.ExitErr, d.Log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no /healthz 200 after %v\n%s", timeout, d.Log)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", d.url+"/healthz", nil)
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (d *daemon) stop() error { return d.Terminate() }

// procFigures are the leak figures of the daemon: from /metrics
// (go_goroutines, castray_process_open_fds,
// castray_process_resident_memory_bytes) and, as a cross-check, /proc.
type procFigures struct {
	goroutines int
	fds        int
	rss        int64
	procFDs    int // entries of /proc/<pid>/fd
	wsClients  int // castray_websocket_clients
	wsDropped  int // castray_websocket_dropped_total
}

func (d *daemon) figures(ctx context.Context, c *http.Client) (procFigures, error) {
	var f procFigures
	req, _ := http.NewRequestWithContext(ctx, "GET", d.url+"/metrics", nil)
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return f, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return f, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	want := map[string]bool{"go_goroutines": false, "castray_process_open_fds": false,
		"castray_process_resident_memory_bytes": false, "castray_websocket_clients": false, "castray_websocket_dropped_total": false}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if _, known := want[name]; !known {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return f, fmt.Errorf("/metrics: %s: %w", name, err)
		}
		want[name] = true
		switch name {
		case "go_goroutines":
			f.goroutines = int(v)
		case "castray_process_open_fds":
			f.fds = int(v)
		case "castray_process_resident_memory_bytes":
			f.rss = int64(v)
		case "castray_websocket_clients":
			f.wsClients = int(v)
		case "castray_websocket_dropped_total":
			f.wsDropped = int(v)
		}
	}
	if err := sc.Err(); err != nil {
		return f, err
	}
	for name, seen := range want {
		if !seen {
			return f, fmt.Errorf("/metrics has no %s", name)
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Cmd.Process.Pid)); err == nil {
		f.procFDs = len(ents)
	}
	return f, nil
}

func (f procFigures) String() string {
	return fmt.Sprintf("goroutines %d, open fds %d (/proc: %d), RSS %.1f MiB, ws clients %d, ws dropped %d",
		f.goroutines, f.fds, f.procFDs, float64(f.rss)/(1<<20), f.wsClients, f.wsDropped)
}
