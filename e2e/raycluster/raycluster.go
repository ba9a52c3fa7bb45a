package raycluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// StartTimeout bounds `ray start` plus the wait for the dashboard.
	StartTimeout = 90 * time.Second
	// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
	StopGrace = 10 * time.Second
	// UserAgent is sent with every dashboard request (never a browser's: Ray answers POST/PUT
	// from a "Mozilla" User-Agent with 405).
	UserAgent = "castray-e2e/1"
	// maxSocketDirLen keeps <temp>/session_<date>_<pid>/sockets/plasma_store under the
	// 107-byte limit of unix socket paths (the session part is about 65 bytes).
	maxSocketDirLen = 40
)

// TokenAuthNA starts the skip message of a test that asked for a token-auth cluster from a
// Ray release without token auth; e2e/compat.sh looks for it to mark the cell
// "n/a (not in this release)".
const TokenAuthNA = "token auth n/a (not in this release)"

// Options configure Start. Zero values are sensible.
type Options struct {
	// GCSPort is --port. 0: the helper picks a free port. -1: pass --port=0 so Ray picks one
	// itself; the real port is then read back from the session.
	GCSPort                  int
	DashboardPort            int // --dashboard-port; 0: a free port
	ClientServerPort         int // --ray-client-server-port; 0: a free port
	DashboardAgentListenPort int // --dashboard-agent-listen-port; 0: a free port
	// DashboardMetricPort and AutoscalerMetricPort are the Prometheus ports that Ray 2.60
	// otherwise fixes at 44227 and 44217 for every cluster (env DASHBOARD_METRIC_PORT /
	// AUTOSCALER_METRIC_PORT). 0: a free port.
	DashboardMetricPort  int
	AutoscalerMetricPort int
	// TempDir is --temp-dir; it must be unique to this cluster and short. "": a fresh
	// /tmp/crt-XXXXXX, removed by Stop. A caller-given dir is left in place.
	TempDir string
	// AuthMode: "" leaves RAY_AUTH_MODE unset (Ray's own default; with the helper's private
	// HOME that is what a user without ~/.ray/auth_token gets). "token" or "disabled" set
	// RAY_AUTH_MODE; "token" also sets RAY_AUTH_TOKEN to a fresh 64-hex token (the format Ray 2.60 generates) unless Env sets
	// RAY_AUTH_TOKEN itself.
	AuthMode string
	NumCPUs  int // --num-cpus; default 1
	// Loopback makes Ray use 127.0.0.1 as the node IP, so every port binds to loopback only
	// and GCSAddress is 127.0.0.1:port. By default Ray 2.60 uses the machine's primary IP
	// (--node-ip-address=127.0.0.1 is silently replaced by it). This sets
	// RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, Ray's single-machine mode: a worker node can then
	// not join (`ray start --address` aborts), so leave it off for multi-node tests.
	Loopback bool
	// Env is added last to the environment of `ray start` and of Cluster.Ray; it overrides
	// anything the helper sets (HOME, RAY_AUTH_TOKEN, ...).
	Env       []string
	ExtraArgs []string // appended to `ray start`
}

// Cluster is a running Ray head started by Start.
type Cluster struct {
	GCSAddress   string // as Ray reports it in <TempDir>/ray_current_cluster: "<node ip>:<port>"
	NodeIP       string // host part of GCSAddress: the machine's primary IP, or 127.0.0.1 with Options.Loopback
	DashboardURL string // "http://127.0.0.1:NNNN"
	TempDir      string
	SessionDir   string // <TempDir>/session_<date>_<pid>, resolved from session_latest
	SessionName  string // basename of SessionDir; equals /api/version session_name
	Token        string // the auth token if token auth is on, else ""
	AuthMode     string // as reported by GET /api/authentication_mode
	RayVersion   string // /api/version ray_version
	// NoAuthEndpoint: the dashboard has no /api/authentication_mode (404), as in releases
	// without token auth; AuthMode is then "".
	NoAuthEndpoint bool
	RayBin         string
	HomeDir        string // the private HOME given to Ray: <TempDir>/home

	GCSPort, DashboardPort, ClientServerPort, DashboardAgentListenPort int
	DashboardMetricPort, AutoscalerMetricPort                          int

	StartOutput string        // stdout and stderr of `ray start`
	StartupTime time.Duration // from exec of `ray start` until ready (all of the below)
	// Milestones of StartupTime, each measured from the exec of `ray start`.
	Timings struct {
		RayStartExited time.Duration // `ray start` returned
		VersionOK      time.Duration // /api/version first answered 200
		StatusOK       time.Duration // the autoscaler's cluster status first listed the CPUs
	}
	StopDuration time.Duration // set by Stop

	t          testing.TB
	numCPUs    int
	begin      time.Time
	env        []string
	own        owner
	ownTempDir bool
	stopOnce   sync.Once
	client     *http.Client
}

// Start starts a Ray head and waits until its dashboard answers /api/gcs_healthz ("success"),
// /api/version (200, with the token if needed) and /api/cluster_status?format=1 (the
// autoscaler has published a status that lists the CPUs, so `ray status` works at once). It
// registers t.Cleanup(c.Stop) before anything is started, so the cluster is stopped when the
// test ends, failed or not. If the head does not come up within StartTimeout the test fails
// with Ray's output and the tails of its logs.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := RayBin(t)
	if err := acquireLock(t); err != nil {
		t.Fatalf("raycluster: %v", err)
	}
	c := &Cluster{t: t, RayBin: bin, client: &http.Client{Timeout: 30 * time.Second}}
	locked := true
	t.Cleanup(func() {
		c.Stop()
	})
	// Stop releases the lock; until then a failure here must release it too.
	defer func() {
		if locked && c.own.tempDir == "" {
			releaseLock()
		}
	}()
	reapOrphans(t.Logf)

	if err := c.prepare(opts); err != nil {
		t.Fatalf("raycluster: %v", err)
	}
	locked = false // from here on Stop owns the lock and the dirs

	args := []string{"start", "--head",
		"--port=" + strconv.Itoa(c.GCSPort),
		"--dashboard-port=" + strconv.Itoa(c.DashboardPort),
		"--dashboard-host=127.0.0.1",
		"--ray-client-server-port=" + strconv.Itoa(c.ClientServerPort),
		"--dashboard-agent-listen-port=" + strconv.Itoa(c.DashboardAgentListenPort),
		"--temp-dir=" + c.TempDir,
		"--num-cpus=" + strconv.Itoa(c.numCPUs),
		"--include-dashboard=true",
		"--disable-usage-stats",
		"--log-color=false",
	}
	args = append(args, opts.ExtraArgs...)

	begin := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), begin.Add(StartTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = c.TempDir
	cmd.Env = c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: the daemons `ray start` leaves behind may inherit its stdout, and
	// os/exec would wait for a pipe's last writer.
	outPath := filepath.Join(c.HomeDir, "ray-start.log")
	outFile, err := os.Create(outPath)
	if err != nil {
		t.Fatalf("raycluster: %v", err)
	}
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Start(); err != nil {
		outFile.Close()
		t.Fatalf("raycluster: exec %s: %v", bin, err)
	}
	c.own.pgid = cmd.Process.Pid
	err = cmd.Wait()
	c.Timings.RayStartExited = time.Since(begin)
	c.begin = begin
	outFile.Close()
	if b, rerr := os.ReadFile(outPath); rerr == nil {
		c.StartOutput = string(b)
	}
	if err != nil {
		t.Fatalf("raycluster: `ray %s` failed after %v: %v\n--- ray start output ---\n%s%s",
			strings.Join(args, " "), time.Since(begin).Round(time.Millisecond), err, c.StartOutput, c.logTails())
	}
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("raycluster: head did not come up within %v: %v\n--- ray start output ---\n%s%s",
			StartTimeout, err, c.StartOutput, c.logTails())
	}
	c.StartupTime = time.Since(begin)
	if opts.AuthMode == "token" && c.AuthMode != "token" {
		if c.NoAuthEndpoint {
			c.Stop()
			t.Skipf("%s: Ray %s has no /api/authentication_mode and ignores RAY_AUTH_MODE=token", TokenAuthNA, c.RayVersion)
		}
		t.Fatalf("raycluster: RAY_AUTH_MODE=token, but the head reports authentication mode %q", c.AuthMode)
	}
	t.Logf("raycluster: head up in %v (ray start exited %v, /api/version %v, cluster status %v): gcs=%s dashboard=%s session=%s auth=%s ray=%s",
		c.StartupTime.Round(time.Millisecond), c.Timings.RayStartExited.Round(time.Millisecond),
		c.Timings.VersionOK.Round(time.Millisecond), c.Timings.StatusOK.Round(time.Millisecond), c.GCSAddress, c.DashboardURL, c.SessionName, c.AuthMode, c.RayVersion)
	return c
}

// prepare fills in ports, dirs and the environment.
func (c *Cluster) prepare(opts Options) error {
	if opts.NumCPUs == 0 {
		opts.NumCPUs = 1
	}
	c.numCPUs = opts.NumCPUs
	switch opts.AuthMode {
	case "", "token", "disabled":
	default:
		return fmt.Errorf("Options.AuthMode %q: want \"\", \"token\" or \"disabled\"", opts.AuthMode)
	}

	if opts.TempDir == "" {
		d, err := os.MkdirTemp("/tmp", "crt-")
		if err != nil {
			return err
		}
		c.TempDir, c.ownTempDir = d, true
	} else {
		d, err := filepath.Abs(opts.TempDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		c.TempDir = d
	}
	c.own.tempDir = c.TempDir
	if len(c.TempDir) > maxSocketDirLen {
		return fmt.Errorf("TempDir %q is %d bytes; keep it under %d so Ray's unix socket paths stay under 107 bytes",
			c.TempDir, len(c.TempDir), maxSocketDirLen)
	}
	// The private HOME lives in the temp dir, so whoever removes the one removes the other
	// (including the orphan reaper).
	c.HomeDir = filepath.Join(c.TempDir, "home")
	if err := os.MkdirAll(c.HomeDir, 0o700); err != nil {
		return err
	}

	pick := func(want int) (int, error) {
		if want > 0 {
			return want, nil
		}
		return freePort()
	}
	var errs []error
	var e error
	switch {
	case opts.GCSPort < 0:
		c.GCSPort = 0 // Ray picks; read back in waitReady
	default:
		c.GCSPort, e = pick(opts.GCSPort)
		errs = append(errs, e)
	}
	c.DashboardPort, e = pick(opts.DashboardPort)
	errs = append(errs, e)
	c.ClientServerPort, e = pick(opts.ClientServerPort)
	errs = append(errs, e)
	c.DashboardAgentListenPort, e = pick(opts.DashboardAgentListenPort)
	errs = append(errs, e)
	c.DashboardMetricPort, e = pick(opts.DashboardMetricPort)
	errs = append(errs, e)
	c.AutoscalerMetricPort, e = pick(opts.AutoscalerMetricPort)
	errs = append(errs, e)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("picking free ports: %w", err)
	}
	c.DashboardURL = "http://127.0.0.1:" + strconv.Itoa(c.DashboardPort)

	// The environment: the test's, minus anything that would point Ray at another cluster or
	// at the user's token, plus the helper's settings, plus opts.Env (last wins in os/exec).
	drop := map[string]bool{"HOME": true, "RAY_AUTH_MODE": true, "RAY_AUTH_TOKEN": true,
		"RAY_AUTH_TOKEN_PATH": true, "RAY_ADDRESS": true, "RAY_API_SERVER_ADDRESS": true,
		envClusterMarker: true, envOwnerMarker: true}
	drop["PATH"] = true
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	// The ray CLI's own bin dir (the venv's) first on PATH, so that job entrypoints and
	// drivers saying "python" get the Python that has ray installed.
	path := filepath.Dir(c.RayBin)
	if p := os.Getenv("PATH"); p != "" {
		path += string(os.PathListSeparator) + p
	}
	env = append(env,
		"PATH="+path,
		"HOME="+c.HomeDir,
		"RAY_USAGE_STATS_ENABLED=0",
		// The dashboard gives each of its module subprocesses 30 s to come up and otherwise
		// aborts `ray start` ("Module MetricsHead failed to start. Timeout after 30.0
		// seconds.", seen with 2.53.0 on the shared 2-core machine); the helper's own
		// deadline is StartTimeout.
		"RAY_DASHBOARD_SUBPROCESS_MODULE_WAIT_READY_TIMEOUT="+strconv.Itoa(int(StartTimeout/time.Second)),
		"DASHBOARD_METRIC_PORT="+strconv.Itoa(c.DashboardMetricPort),
		"AUTOSCALER_METRIC_PORT="+strconv.Itoa(c.AutoscalerMetricPort),
		envClusterMarker+"="+c.TempDir,
		envOwnerMarker+"="+strconv.Itoa(os.Getpid()),
	)
	if opts.AuthMode != "" {
		env = append(env, "RAY_AUTH_MODE="+opts.AuthMode)
	}
	if opts.Loopback {
		env = append(env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0")
	}
	if opts.AuthMode == "token" && lookupEnv(opts.Env, "RAY_AUTH_TOKEN") == "" && lookupEnv(opts.Env, "RAY_AUTH_TOKEN_PATH") == "" {
		tok, err := newToken()
		if err != nil {
			return err
		}
		env = append(env, "RAY_AUTH_TOKEN="+tok)
	}
	c.env = append(env, opts.Env...)
	return nil
}

// waitReady polls the session files and the dashboard until the head answers.
func (c *Cluster) waitReady(ctx context.Context) error {
	var last error
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		last = c.probe()
		if last == nil {
			return nil
		}
		if len(c.own.procs()) == 0 {
			return fmt.Errorf("no Ray process of this cluster is running any more; last probe: %w", last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last probe: %v", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// probe does one readiness round and fills in the cluster's fields.
func (c *Cluster) probe() error {
	if c.SessionDir == "" {
		sd, err := filepath.EvalSymlinks(filepath.Join(c.TempDir, "session_latest"))
		if err != nil {
			return fmt.Errorf("session dir: %w", err)
		}
		c.SessionDir, c.SessionName = sd, filepath.Base(sd)
	}
	if c.GCSAddress == "" {
		// With --port=0 the session's port file is the authority; ray_current_cluster must agree.
		if c.GCSPort == 0 {
			p, err := SessionPort(c.SessionDir, "gcs_server_port")
			if err != nil {
				return err
			}
			c.GCSPort = p
		}
		b, err := os.ReadFile(filepath.Join(c.TempDir, "ray_current_cluster"))
		if err != nil {
			return fmt.Errorf("gcs address: %w", err)
		}
		addr := strings.TrimSpace(string(b))
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("ray_current_cluster %q: %w", addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("ray_current_cluster %q: %w", addr, err)
		}
		if p != c.GCSPort {
			return fmt.Errorf("ray_current_cluster says %s, but the GCS port is %d", addr, c.GCSPort)
		}
		c.GCSAddress, c.NodeIP, c.GCSPort = addr, host, p
	}
	st, body, err := c.HTTPGetAs("/api/gcs_healthz", "")
	if err != nil {
		return err
	}
	if st != http.StatusOK || strings.TrimSpace(string(body)) != "success" {
		return fmt.Errorf("/api/gcs_healthz: %d %q", st, truncate(body))
	}
	st, body, err = c.HTTPGetAs("/api/authentication_mode", "")
	if err != nil {
		return err
	}
	var am struct {
		Mode string `json:"authentication_mode"`
	}
	switch {
	case st == http.StatusNotFound:
		// Releases without token auth have no such endpoint (2.9.3, 2.30.0; checked live,
		// docs/compat.md): the cluster is open.
		am.Mode, c.NoAuthEndpoint = "", true
	case st != http.StatusOK || json.Unmarshal(body, &am) != nil || am.Mode == "":
		return fmt.Errorf("/api/authentication_mode: %d %q", st, truncate(body))
	}
	c.AuthMode = am.Mode
	c.Token = ""
	if am.Mode == "token" {
		tok, err := c.resolveToken()
		if err != nil {
			return err
		}
		c.Token = tok
	}
	st, body, err = c.HTTPGet("/api/version")
	if err != nil {
		return err
	}
	var v struct {
		RayVersion  string `json:"ray_version"`
		SessionName string `json:"session_name"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return fmt.Errorf("/api/version: %d %q", st, truncate(body))
	}
	// Older releases (2.9.3 live) have no session_name in /api/version at all.
	if v.SessionName != "" && v.SessionName != c.SessionName {
		return fmt.Errorf("/api/version session_name %q, but session_latest is %s", v.SessionName, c.SessionDir)
	}
	c.RayVersion = v.RayVersion
	if c.Timings.VersionOK == 0 {
		c.Timings.VersionOK = time.Since(c.begin)
	}
	// The Ray client server comes up after the dashboard (seen in CI: a probe of its port was
	// refused right after the head was "up"); wait until it accepts, so tests can probe it.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.NodeIP, strconv.Itoa(c.ClientServerPort)), time.Second)
	if err != nil {
		return fmt.Errorf("the Ray client server does not accept connections yet: %w", err)
	}
	conn.Close()
	// The autoscaler monitor publishes the cluster status a few seconds after the dashboard is
	// up; until then `ray status` prints "No cluster status". Wait for it too, so tests can use
	// either right away.
	st, body, err = c.HTTPGet("/api/cluster_status?format=1")
	if err != nil {
		return err
	}
	var cs struct {
		Data struct {
			ClusterStatus *string `json:"clusterStatus"`
		} `json:"data"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &cs) != nil || cs.Data.ClusterStatus == nil {
		return fmt.Errorf("/api/cluster_status?format=1: %d %q", st, truncate(body))
	}
	// The first status the monitor publishes can list the node without its CPU resources
	// (seen live with 2.60.0: only memory and object_store_memory); wait for CPU as well.
	if s := *cs.Data.ClusterStatus; strings.HasPrefix(s, "No cluster status") || !strings.Contains(s, "Active:") ||
		(c.numCPUs > 0 && !strings.Contains(s, " CPU")) {
		return fmt.Errorf("/api/cluster_status?format=1: the autoscaler has not published a complete status yet: %q", truncate([]byte(s)))
	}
	c.Timings.StatusOK = time.Since(c.begin)
	return nil
}

// SessionPort reads the port Ray 2.60 caches in <session dir>/<name>_<node id hex> (one file
// per port, e.g. gcs_server_port_<56 hex>, holding the bare number). Older Ray (2.9.3, 2.30.0, 2.53.0 live)
// keeps one ports_by_node.json instead, {"<node ip>:<plasma store socket>": {"<name>": port}},
// with gcs_server_port only for --port=0; it is read when no per-port file exists. It fails
// unless exactly one node cached the port.
func SessionPort(sessionDir, name string) (int, error) {
	m, err := filepath.Glob(filepath.Join(sessionDir, name+"_*"))
	if err != nil {
		return 0, err
	}
	if len(m) == 0 {
		if b, err := os.ReadFile(filepath.Join(sessionDir, "ports_by_node.json")); err == nil {
			var byNode map[string]map[string]int
			if err := json.Unmarshal(b, &byNode); err != nil {
				return 0, fmt.Errorf("%s/ports_by_node.json: %w", sessionDir, err)
			}
			var found []int
			for _, ports := range byNode {
				if p, ok := ports[name]; ok {
					found = append(found, p)
				}
			}
			if len(found) != 1 {
				return 0, fmt.Errorf("%s/ports_by_node.json: want one node with %s, found %d", sessionDir, name, len(found))
			}
			return found[0], nil
		}
	}
	if len(m) != 1 {
		return 0, fmt.Errorf("%s: want one %s_<node id> file, found %d", sessionDir, name, len(m))
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", m[0], err)
	}
	return p, nil
}

// resolveToken finds the token the cluster uses, in Ray's own order: RAY_AUTH_TOKEN, the file
// named by RAY_AUTH_TOKEN_PATH, then $HOME/.ray/auth_token of the Ray processes.
func (c *Cluster) resolveToken() (string, error) {
	if t := lookupEnv(c.env, "RAY_AUTH_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	path := lookupEnv(c.env, "RAY_AUTH_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(lookupEnv(c.env, "HOME"), ".ray", "auth_token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token auth is on but the token is unknown: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first), nil
}

// Stop stops this cluster's processes and only those (see the package doc), then removes the
// helper's dirs and releases the machine lock. It is idempotent; Start registers it with
// t.Cleanup. Processes that survive SIGKILL fail the test.
func (c *Cluster) Stop() {
	c.stopOnce.Do(c.stop)
}

func (c *Cluster) stop() {
	if c.own.tempDir == "" {
		return // prepare never got as far as a temp dir; nothing was started
	}
	defer releaseLock()
	rep := c.own.terminate(StopGrace)
	c.StopDuration = rep.Duration
	if len(rep.Killed) > 0 {
		c.t.Logf("raycluster: %d of %d processes ignored SIGTERM for %v and were killed: %v",
			uniqueCount(rep.Killed), rep.Found, StopGrace, rep.Killed)
	}
	if len(rep.Left) > 0 {
		c.t.Errorf("raycluster: %d processes of %s survived SIGKILL: %v", len(rep.Left), c.TempDir, rep.Left)
	} else {
		c.t.Logf("raycluster: stopped %d processes of %s in %v", rep.Found, c.TempDir, rep.Duration.Round(time.Millisecond))
	}
	if c.ownTempDir {
		if err := os.RemoveAll(c.TempDir); err != nil {
			c.t.Errorf("raycluster: remove %s: %v", c.TempDir, err)
		}
	}
	if c.HomeDir != "" {
		_ = os.RemoveAll(c.HomeDir)
	}
}

// Processes lists the live processes that belong to this cluster.
func (c *Cluster) Processes() []Proc { return c.own.procs() }

// Ports lists the TCP ports the helper chose or learned for this cluster.
func (c *Cluster) Ports() map[string]int {
	return map[string]int{
		"gcs": c.GCSPort, "dashboard": c.DashboardPort, "client_server": c.ClientServerPort,
		"dashboard_agent_listen": c.DashboardAgentListenPort,
		"dashboard_metric":       c.DashboardMetricPort, "autoscaler_metric": c.AutoscalerMetricPort,
	}
}

// HTTPGet sends GET <DashboardURL><path> with the cluster's token, if any.
func (c *Cluster) HTTPGet(path string) (status int, body []byte, err error) {
	return c.HTTPGetAs(path, c.Token)
}

// HTTPGetAs sends GET <DashboardURL><path> with "Authorization: Bearer <token>", or with no
// credentials when token is "".
func (c *Cluster) HTTPGetAs(path, token string) (status int, body []byte, err error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequest(http.MethodGet, c.DashboardURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body, err
}

// Env returns the environment Ray() gives the ray CLI: the cluster's own (private HOME, auth
// settings, Options.Env) plus RAY_ADDRESS=<GCSAddress> (for status, list, …),
// RAY_API_SERVER_ADDRESS=<DashboardURL> (for `ray job …`) and, with token auth,
// RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (the CLI does not switch to token mode by itself).
func (c *Cluster) Env() []string {
	env := append([]string(nil), c.env...)
	env = append(env, "RAY_ADDRESS="+c.GCSAddress, "RAY_API_SERVER_ADDRESS="+c.DashboardURL)
	if c.Token != "" {
		env = append(env, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+c.Token)
	}
	return env
}

// Ray runs the ray CLI against this cluster (see Env) with the temp dir as working directory,
// so that anything it leaves running (e.g. `ray start --address=…` for a worker node) is tied
// to this cluster and stopped by Stop. It returns stdout; on failure the error carries stderr.
func (c *Cluster) Ray(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.RayBin, args...)
	cmd.Dir = c.TempDir
	cmd.Env = c.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ray %s: %w\n--- stderr ---\n%s", strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return stdout.String(), nil
}

// logTails returns the ends of the main logs, for failure messages.
func (c *Cluster) logTails() string {
	logs := filepath.Join(c.TempDir, "session_latest", "logs")
	var b strings.Builder
	for _, name := range []string{"gcs_server.out", "gcs_server.err", "raylet.out", "raylet.err", "dashboard.log", "dashboard.err"} {
		data, err := os.ReadFile(filepath.Join(logs, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s (tail) ---\n%s", name, tail(string(data), 3000))
	}
	return b.String()
}

// --- small helpers ---

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort asks the kernel for a free TCP port on all interfaces (Ray binds some ports on
// 0.0.0.0 and some on the node IP). Ports already handed out by this process are skipped.
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

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil // 64 hex characters, like Ray 2.60 (secrets.token_hex(32))
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

func truncate(b []byte) string {
	return tail(string(b), 300)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func uniqueCount(ps []Proc) int {
	seen := map[int]bool{}
	for _, p := range ps {
		seen[p.PID] = true
	}
	return len(seen)
}
