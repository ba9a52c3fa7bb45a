package daemontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// Raw sends a request to the daemon. body is nil, raw bytes (sent as they
// are), a string (sent as JSON text) or a value (marshalled to JSON).
func (d *Daemon) Raw(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r, ct = strings.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, d.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// Try is Raw that decodes a JSON answer into out (if non-nil).
func (d *Daemon) Try(method, path string, body, out any) (int, error) {
	code, raw, err := d.Raw(method, path, body)
	if err != nil {
		return code, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return code, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return code, nil
}

// Do is Try that fails the test when the request cannot be made or the
// answer cannot be decoded; it returns the status code.
func (d *Daemon) Do(method, path string, body, out any) int {
	d.T.Helper()
	code, err := d.Try(method, path, body, out)
	if err != nil {
		d.T.Fatalf("%s %s: %v", method, path, err)
	}
	return code
}

// GetJSON gets path and decodes its JSON answer into out; anything but 200
// fails the test.
func (d *Daemon) GetJSON(path string, out any) {
	d.T.Helper()
	if code := d.Do("GET", path, nil, out); code != 200 {
		d.T.Fatalf("GET %s: %d", path, code)
	}
}

// PostJSON posts body as JSON to path and decodes the answer into out; it
// returns the status code.
func (d *Daemon) PostJSON(path string, body, out any) int {
	d.T.Helper()
	return d.Do("POST", path, body, out)
}

// PluginStatus is one entry of GET /api/plugins.
type PluginStatus struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	PID         int    `json:"pid"`
	Restarts    int    `json:"restarts"`
	APIVersion  int    `json:"api_version"`
	APIVersions []int  `json:"api_versions"`
	LastError   string `json:"last_error"`
	Schema      []any  `json:"config_schema"`
}

// Plugins is GET /api/plugins by plugin name.
func (d *Daemon) Plugins() map[string]PluginStatus {
	d.T.Helper()
	var resp struct {
		Plugins []PluginStatus `json:"plugins"`
	}
	d.GetJSON("/api/plugins", &resp)
	out := map[string]PluginStatus{}
	for _, p := range resp.Plugins {
		out[p.Name] = p
	}
	return out
}

// WaitPluginsHealthy polls GET /api/plugins until every named plugin is
// healthy (ReadyTimeout at most); the daemon exiting fails the test.
func (d *Daemon) WaitPluginsHealthy(names ...string) {
	d.T.Helper()
	PollUntil(d.T, ReadyTimeout, fmt.Sprintf("plugins %v to be healthy", names), func() bool {
		d.failIfExited("before its plugins were ready")
		var resp struct {
			Plugins []PluginStatus `json:"plugins"`
		}
		if code, err := d.Try("GET", "/api/plugins", nil, &resp); err != nil || code != 200 {
			return false
		}
		healthy := map[string]bool{}
		for _, p := range resp.Plugins {
			healthy[p.Name] = p.State == "healthy"
		}
		for _, n := range names {
			if !healthy[n] {
				return false
			}
		}
		return true
	})
}

// DefaultPoll is PollUntil's deadline when it is given none.
const DefaultPoll = 2 * time.Minute

// PollUntil calls cond every 100 ms until it holds. The deadline (timeout,
// or DefaultPoll when 0) only bounds a broken run: passing it fails the test
// naming what, and nothing is asserted about how long it took.
func PollUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if timeout <= 0 {
		timeout = DefaultPoll
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ProcessAlive is true for a running process; a zombie (exited, not yet
// reaped) counts as gone.
func ProcessAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	_, ok := rayproc.Lister{}.Process(pid) // not listed: gone, or a zombie
	return ok
}
