package raydaemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/castray/castray/sdk/ray/rayproc"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("CASTRAY_BIN_DIR")
	if binDir != "" {
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "castray-rd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for out, pkg := range map[string]string{
		"castray":                        "./cmd/castray",
		"plugins/castray-transfer-local": "./plugins/transfer/local",
		"plugins/castray-transfer-ray":   "./plugins/transfer/ray",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, out), pkg)
		cmd.Dir = "../../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
	}
	binDir = tmp
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// pluginDir makes a private plugin folder holding only the two transfer
// plugins, so discovery plugins that happen to sit in CASTRAY_BIN_DIR are not
// loaded.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"castray-transfer-local", "castray-transfer-ray"} {
		src, dst := filepath.Join(binDir, "plugins", name), filepath.Join(dir, name)
		if os.Link(src, dst) == nil {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("plugin %s: %v", name, err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is one `castray serve` process.
type daemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	log     *syncBuffer
	done    chan struct{}
	exitErr error
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon runs castray serve with config (HCL) on dataDir and waits until
// /healthz answers and both plugins are healthy.
func startDaemon(t *testing.T, plugins, dataDir, config string) *daemon {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "castray.hcl")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(binDir, "castray"), "serve", "--data-dir", dataDir, "--plugin-dir", plugins,
		"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--config", cfg)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTRAY_") && !strings.HasPrefix(kv, "RAY_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	d := &daemon{t: t, cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), dataDir: dataDir, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("daemon %s log (tail):\n%s", d.url, tail(d.log.String(), 8000))
		}
	})
	eventually(t, 60*time.Second, "the daemon and its two plugins to be ready", func() bool {
		select {
		case <-d.done:
			t.Fatalf("daemon exited before it was ready: %v\n%s", d.exitErr, d.log)
		default:
		}
		var resp struct {
			Plugins []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"plugins"`
		}
		if code, err := d.try("GET", "/api/plugins", nil, &resp); err != nil || code != 200 {
			return false
		}
		healthy := 0
		for _, p := range resp.Plugins {
			if p.State == "healthy" && (p.Name == "local" || p.Name == "ray") {
				healthy++
			}
		}
		return healthy == 2
	})
	return d
}

// stop signals the daemon and waits for its exit (SIGKILL after 20 s).
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

func (d *daemon) pluginPID(name string) int {
	d.t.Helper()
	var resp struct {
		Plugins []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"plugins"`
	}
	d.do("GET", "/api/plugins", nil, &resp)
	for _, p := range resp.Plugins {
		if p.Name == name {
			return p.PID
		}
	}
	return 0
}

// try sends a request; body is raw bytes (PUT) or a value sent as JSON.
func (d *daemon) try(method, path string, body any, out any) (int, error) {
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, d.url+path, r)
	if err != nil {
		return 0, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
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
	return resp.StatusCode, nil
}

func (d *daemon) do(method, path string, body any, out any) int {
	d.t.Helper()
	code, err := d.try(method, path, body, out)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code
}

// processAlive is true for a running process; a zombie counts as gone.
func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	_, ok := rayproc.Lister{}.Process(pid)
	return ok
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
