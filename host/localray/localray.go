package localray

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk/ray"
	"github.com/castray/castray/sdk/raytoken"
)

const (
	// EnvMarker is set to the temp dir in the environment of `ray start`, and so of every Ray
	// process of the head that does not overwrite its environment.
	EnvMarker = "CASTRAY_LOCALRAY"
	// DefaultTimeout bounds `ray start` plus the wait for the dashboard.
	DefaultTimeout = 90 * time.Second
	// StopGrace is how long Stop waits after the first SIGTERM before it sends SIGKILL.
	StopGrace = 10 * time.Second
	// MaxTempDirLen keeps <temp dir>/session_<date>_<pid>/sockets/dash_MetricsHead under the
	// 107 bytes a unix socket path may have (the part after the temp dir is up to 68 bytes).
	MaxTempDirLen = 39
	// startLog is where the output of `ray start` goes, inside the temp dir. A file, not a
	// pipe: the daemons `ray start` leaves behind inherit it.
	startLog  = "castray-ray-start.log"
	userAgent = "castray-localray/1"
)

// ErrNoRay means the ray CLI was not found.
var ErrNoRay = errors.New("localray: the ray CLI was not found")

// Options configure Start. Zero values are sensible.
type Options struct {
	RayBin  string        // "": "ray" on PATH; not found: ErrNoRay
	TempDir string        // Ray's --temp-dir, at most MaxTempDirLen bytes; "": a fresh /tmp/castray-ray-XXXX
	NumCPUs int           // --num-cpus; 0: Ray's default
	Env     []string      // added last to the environment of `ray start` (e.g. RAY_AUTH_MODE)
	Timeout time.Duration // readiness budget; 0: DefaultTimeout
	Log     hclog.Logger  // nil: no logging
}

// Ports are the TCP ports Start chose for the head.
type Ports struct {
	GCS, Dashboard, ClientServer, DashboardAgent int
	DashboardMetric, AutoscalerMetric            int
}

// Head is a running Ray head started by Start. Stop it with Stop.
type Head struct {
	DashboardURL string // "http://127.0.0.1:NNNN"
	GCSAddress   string // as Ray reports it (ray_current_cluster): "<node ip>:<port>"
	TempDir      string
	SessionName  string // equals /api/version session_name
	SessionDir   string
	RayVersion   string // /api/version ray_version
	AuthMode     string // /api/authentication_mode: "disabled" or "token"
	Token        string // the token the head uses when AuthMode is "token"
	Ports        Ports
	StartupTime  time.Duration // exec of `ray start` until ready

	log        hclog.Logger
	own        owner
	ownTempDir bool
	client     *http.Client

	stopMu  sync.Mutex
	stopped bool
	stopErr error
}

// Start starts a Ray head owned by the caller and waits until its dashboard answers
// /api/gcs_healthz with "success" and /api/version with 200. On failure it stops whatever it
// started and returns an error that carries the tail of Ray's output.
func Start(ctx context.Context, o Options) (*Head, error) {
	if o.RayBin == "" {
		o.RayBin = "ray"
	}
	bin, err := exec.LookPath(o.RayBin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRay, err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	h := &Head{log: o.Log, client: &http.Client{Timeout: 10 * time.Second}}
	if err := h.prepareTempDir(o.TempDir); err != nil {
		return nil, err
	}
	env, err := h.prepare(bin, o.Env)
	if err != nil {
		h.removeTempDir()
		return nil, err
	}

	args := []string{"start", "--head",
		"--port=" + strconv.Itoa(h.Ports.GCS),
		"--dashboard-port=" + strconv.Itoa(h.Ports.Dashboard),
		"--dashboard-host=127.0.0.1",
		"--ray-client-server-port=" + strconv.Itoa(h.Ports.ClientServer),
		"--dashboard-agent-listen-port=" + strconv.Itoa(h.Ports.DashboardAgent),
		"--temp-dir=" + h.TempDir,
		"--include-dashboard=true",
		"--disable-usage-stats",
		"--log-color=false",
	}
	if o.NumCPUs > 0 {
		args = append(args, "--num-cpus="+strconv.Itoa(o.NumCPUs))
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	h.log.Info("starting a local Ray head", "ray", bin, "temp_dir", h.TempDir,
		"gcs_port", h.Ports.GCS, "dashboard", h.DashboardURL)

	outPath := filepath.Join(h.TempDir, startLog)
	fail := func(err error) (*Head, error) {
		out, _ := os.ReadFile(outPath)
		msg := fmt.Sprintf("localray: %v\n--- ray start output (tail) ---\n%s", err, tail(string(out), 4000))
		if logs := h.logTails(); logs != "" {
			msg += logs
		}
		if serr := h.Stop(context.Background()); serr != nil {
			msg += "\n--- cleanup ---\n" + serr.Error()
		}
		return nil, errors.New(msg)
	}
	outFile, err := os.Create(outPath)
	if err != nil {
		h.removeTempDir()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = h.TempDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outFile, outFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		outFile.Close()
		return fail(fmt.Errorf("exec %s: %w", bin, err))
	}
	h.own.pgid = cmd.Process.Pid
	err = cmd.Wait()
	outFile.Close()
	if err != nil {
		return fail(fmt.Errorf("`%s %s` failed after %v: %w", bin, strings.Join(args, " "),
			time.Since(begin).Round(time.Millisecond), err))
	}
	startExited := time.Since(begin)
	if err := h.waitReady(ctx, env); err != nil {
		return fail(fmt.Errorf("the head did not come up within %v: %w", o.Timeout, err))
	}
	h.StartupTime = time.Since(begin)
	h.log.Info("local Ray head is up", "startup", h.StartupTime.Round(time.Millisecond),
		"ray_start", startExited.Round(time.Millisecond), "gcs", h.GCSAddress,
		"dashboard", h.DashboardURL, "session", h.SessionName, "auth", h.AuthMode, "ray_version", h.RayVersion)
	return h, nil
}

// prepareTempDir makes or checks the temp dir.
func (h *Head) prepareTempDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("/tmp", "castray-ray-")
		if err != nil {
			return fmt.Errorf("localray: %w", err)
		}
		h.TempDir, h.ownTempDir = d, true
	} else {
		d, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("localray: %w", err)
		}
		if len(d) > MaxTempDirLen {
			return fmt.Errorf("localray: temp dir %q is %d bytes; keep it to %d so Ray's unix socket paths stay under 107 bytes",
				d, len(d), MaxTempDirLen)
		}
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			h.ownTempDir = true
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("localray: %w", err)
		}
		h.TempDir = d
	}
	h.own.tempDir = h.TempDir
	if ps := h.own.procs(); len(ps) > 0 {
		h.own.tempDir = "" // not ours: Stop must leave them alone
		h.removeTempDir()
		return fmt.Errorf("localray: temp dir %s is in use by %d processes of another Ray head (first: %v)", h.TempDir, len(ps), ps[0])
	}
	return nil
}

// prepare picks the ports and builds the environment of `ray start`.
func (h *Head) prepare(bin string, extra []string) ([]string, error) {
	var ps [6]int
	for i := range ps {
		p, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("localray: picking free ports: %w", err)
		}
		ps[i] = p
	}
	h.Ports = Ports{GCS: ps[0], Dashboard: ps[1], ClientServer: ps[2], DashboardAgent: ps[3],
		DashboardMetric: ps[4], AutoscalerMetric: ps[5]}
	h.DashboardURL = "http://127.0.0.1:" + strconv.Itoa(h.Ports.Dashboard)

	// Inherit the daemon's environment except what would point Ray at another cluster.
	drop := map[string]bool{"RAY_ADDRESS": true, "RAY_API_SERVER_ADDRESS": true, EnvMarker: true, "PATH": true}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	// The CLI's own bin dir (a virtualenv's) first, so Ray's workers find the same Python.
	path := filepath.Dir(bin)
	if p := os.Getenv("PATH"); p != "" {
		path += string(os.PathListSeparator) + p
	}
	env = append(env,
		"PATH="+path,
		"RAY_USAGE_STATS_ENABLED=0",
		"DASHBOARD_METRIC_PORT="+strconv.Itoa(h.Ports.DashboardMetric),
		"AUTOSCALER_METRIC_PORT="+strconv.Itoa(h.Ports.AutoscalerMetric),
		EnvMarker+"="+h.TempDir,
	)
	return append(env, extra...), nil
}

// waitReady polls the session files and the dashboard until the head answers.
func (h *Head) waitReady(ctx context.Context, env []string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		last := h.probe(env)
		if last == nil {
			return nil
		}
		if len(h.own.procs()) == 0 {
			return fmt.Errorf("no process of the head is running any more; last probe: %w", last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last probe: %v", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// probe does one readiness round and fills in the head's fields.
func (h *Head) probe(env []string) error {
	if h.SessionDir == "" {
		sd, err := filepath.EvalSymlinks(filepath.Join(h.TempDir, "session_latest"))
		if err != nil {
			return fmt.Errorf("session dir: %w", err)
		}
		h.SessionDir, h.SessionName = sd, filepath.Base(sd)
	}
	if h.GCSAddress == "" {
		b, err := os.ReadFile(filepath.Join(h.TempDir, "ray_current_cluster"))
		if err != nil {
			return fmt.Errorf("gcs address: %w", err)
		}
		addr := strings.TrimSpace(string(b))
		if _, port, err := net.SplitHostPort(addr); err != nil || port != strconv.Itoa(h.Ports.GCS) {
			return fmt.Errorf("ray_current_cluster says %q, want port %d", addr, h.Ports.GCS)
		}
		h.GCSAddress = addr
	}
	st, body, err := h.get("/api/gcs_healthz", "")
	if err != nil {
		return err
	}
	if st != http.StatusOK || strings.TrimSpace(string(body)) != "success" {
		return fmt.Errorf("/api/gcs_healthz: %d %q", st, tail(string(body), 200))
	}
	if h.AuthMode == "" {
		st, body, err = h.get("/api/authentication_mode", "")
		if err != nil {
			return err
		}
		mode, derr := ray.DecodeAuthMode(body)
		switch {
		case st == http.StatusNotFound:
			// Releases without token auth have no such endpoint (2.9.3 and 2.30.0 live,
			// docs/compat.md): their heads are open.
			mode = "disabled"
		case st != http.StatusOK || derr != nil:
			return fmt.Errorf("/api/authentication_mode: %d %q", st, tail(string(body), 200))
		}
		if mode == "token" {
			tok, err := resolveToken(env)
			if err != nil {
				return err
			}
			h.Token = tok
		}
		h.AuthMode = mode
	}
	st, body, err = h.get("/api/version", h.Token)
	if err != nil {
		return err
	}
	v, derr := ray.DecodeVersion(body)
	if st != http.StatusOK || derr != nil {
		return fmt.Errorf("/api/version: %d %q", st, tail(string(body), 200))
	}
	// Older releases (2.9.3 live) put no session_name in /api/version.
	if v.SessionName != "" && v.SessionName != h.SessionName {
		return fmt.Errorf("/api/version session_name %q, but session_latest is %s", v.SessionName, h.SessionDir)
	}
	h.RayVersion = v.RayVersion
	return nil
}

// resolveToken finds the head's token as Ray's own clients do (sdk/raytoken), in the
// environment the head was started with: RAY_AUTH_TOKEN, the file named by
// RAY_AUTH_TOKEN_PATH, then $HOME/.ray/auth_token.
func resolveToken(env []string) (string, error) {
	tok, err := raytoken.FindIn("", raytoken.Env{
		Getenv: func(k string) string { return lookupEnv(env, k) },
		Home:   lookupEnv(env, "HOME"),
	})
	if err != nil {
		return "", fmt.Errorf("the head uses token auth but its token is unknown: %w", err)
	}
	if tok.Value == "" {
		return "", errors.New("the head uses token auth but its token is unknown: no RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token")
	}
	return tok.Value, nil
}

// get is one GET of the head's dashboard through the kit's dashboard GET (ray.Get).
func (h *Head) get(path, token string) (int, []byte, error) {
	a, err := ray.Get(context.Background(), h.client, h.DashboardURL+path, ray.GetOptions{Token: token, UserAgent: userAgent})
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s%s: %w", h.DashboardURL, path, err)
	}
	return a.Status, a.Body, nil
}

// Pids lists the live processes of the head.
func (h *Head) Pids() []int {
	if h == nil {
		return nil
	}
	var out []int
	for _, p := range h.own.procs() {
		out = append(out, p.PID)
	}
	return out
}

// Stop stops the head's processes and only those (see the package doc): SIGTERM in `ray
// stop`'s order, SIGKILL for what is left after StopGrace (or at once when ctx ends), then a
// check that none remains. It removes the temp dir if Start created it. It is idempotent and
// a no-op on a head that was never started.
func (h *Head) Stop(ctx context.Context) error {
	if h == nil {
		return nil
	}
	h.stopMu.Lock()
	defer h.stopMu.Unlock()
	if h.stopped {
		return h.stopErr
	}
	h.stopped = true
	if h.own.tempDir == "" {
		return nil
	}
	begin := time.Now()
	killAt := begin.Add(StopGrace)
	if d, ok := ctx.Deadline(); ok && d.Before(killAt) {
		killAt = d
	}
	found, killed, left := h.own.terminate(killAt)
	if killed > 0 {
		h.log.Warn("Ray processes ignored SIGTERM and were killed", "killed", killed, "found", found)
	}
	if len(left) > 0 {
		h.stopErr = fmt.Errorf("localray: %d processes of the head in %s survived SIGKILL: %v", len(left), h.TempDir, left)
		return h.stopErr
	}
	h.log.Info("local Ray head stopped", "processes", found, "took", time.Since(begin).Round(time.Millisecond))
	h.removeTempDir()
	return nil
}

func (h *Head) removeTempDir() {
	if !h.ownTempDir || h.TempDir == "" {
		return
	}
	if err := os.RemoveAll(h.TempDir); err != nil {
		h.log.Warn("could not remove the Ray temp dir", "dir", h.TempDir, "error", err)
	}
}

// logTails returns the ends of the head's main logs, for failure messages.
func (h *Head) logTails() string {
	logs := filepath.Join(h.TempDir, "session_latest", "logs")
	var b strings.Builder
	for _, name := range []string{"gcs_server.err", "raylet.err", "dashboard.err", "dashboard.log"} {
		data, err := os.ReadFile(filepath.Join(logs, name))
		if err == nil && len(strings.TrimSpace(string(data))) > 0 {
			fmt.Fprintf(&b, "\n--- %s (tail) ---\n%s", name, tail(string(data), 1500))
		}
	}
	return b.String()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort asks the kernel for a free TCP port on all interfaces (Ray binds some ports on
// 0.0.0.0 and some on the node IP), skipping ports this process handed out before.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[p] {
			portsGiven[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free port found")
}

func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
