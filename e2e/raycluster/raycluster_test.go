package raycluster

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Ray's defaults; the smoke test must run on other ports.
var rayDefaultPorts = map[string]int{
	"gcs": 6379, "dashboard": 8265, "client_server": 10001, "dashboard_agent_listen": 52365,
	"dashboard_metric": 44227, "autoscaler_metric": 44217,
}

var sessionNameRE = regexp.MustCompile(`^session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d{6}_\d+$`)

// TestSmokeTokenAndDisabled is the e2e suite's smoke test: two real heads at once, one with
// token auth on helper-picked ports and one with auth disabled, a GCS port chosen by Ray
// (--port=0) and Loopback. Stopping the first must leave the second untouched.
func TestSmokeTokenAndDisabled(t *testing.T) {
	pinned := CLIVersion(t, RayBin(t))

	tok := Start(t, Options{AuthMode: "token"})
	checkHead(t, tok, pinned)
	if tok.AuthMode != "token" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(tok.Token) {
		t.Fatalf("token cluster: AuthMode=%q Token=%q, want token and a 64-hex token", tok.AuthMode, tok.Token)
	}
	checkAuth(t, tok)

	dis := Start(t, Options{AuthMode: "disabled", GCSPort: -1, Loopback: true})
	checkHead(t, dis, pinned)
	if dis.NodeIP != "127.0.0.1" || !strings.HasPrefix(dis.GCSAddress, "127.0.0.1:") {
		t.Errorf("Loopback: NodeIP %q, GCSAddress %q, want 127.0.0.1", dis.NodeIP, dis.GCSAddress)
	}
	if dis.AuthMode != "disabled" || dis.Token != "" {
		t.Fatalf("disabled cluster: AuthMode=%q Token=%q", dis.AuthMode, dis.Token)
	}
	if p, err := SessionPort(dis.SessionDir, "gcs_server_port"); err != nil || p != dis.GCSPort {
		t.Errorf("--port=0: session port file says %d (%v), cluster says %d", p, err, dis.GCSPort)
	}
	checkAuth(t, dis)

	// The other cluster's long-lived core processes (workers may come and go on their own).
	disProcs := map[int]bool{}
	for _, p := range dis.Processes() {
		if p.Comm == "gcs_server" || p.Comm == "raylet" || strings.Contains(strings.Join(p.Cmdline, " "), "dashboard/dashboard.py") {
			disProcs[p.PID] = true
		}
	}
	if len(disProcs) != 3 {
		t.Errorf("want gcs_server, raylet and dashboard.py in the disabled cluster, found %d of them", len(disProcs))
	}
	stopAndCheck(t, tok)

	// The other cluster must not have lost a single process.
	for pid := range disProcs {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			t.Errorf("stopping %s killed pid %d of the other cluster %s", tok.TempDir, pid, dis.TempDir)
		}
	}
	if st, _, err := dis.HTTPGet("/api/version"); err != nil || st != http.StatusOK {
		t.Errorf("other cluster after Stop of the first: /api/version = %d, %v", st, err)
	}
	stopAndCheck(t, dis)
	tok.Stop() // idempotent
}

// TestDefaultAuthMode records Ray's own default for `ray start --head` (RAY_AUTH_MODE unset,
// no token anywhere: the helper's private HOME has no ~/.ray/auth_token). In Ray 2.60.0 it is
// "disabled"; the test only demands that the reported mode and the HTTP behaviour agree, and
// logs the mode so that a Ray upgrade that flips the default shows up in the test output.
func TestDefaultAuthMode(t *testing.T) {
	pinned := CLIVersion(t, RayBin(t))
	c := Start(t, Options{})
	checkHead(t, c, pinned)
	t.Logf("Ray %s default auth mode for `ray start --head` without any token: %q", pinned, c.AuthMode)
	checkAuth(t, c)
	if c.AuthMode == "disabled" && !strings.Contains(c.StartOutput, "Token authentication is disabled") {
		t.Errorf("expected Ray's warning about disabled token auth in the start output:\n%s", c.StartOutput)
	}
	if _, err := os.Stat(filepath.Join(c.HomeDir, ".ray", "auth_token")); err == nil {
		t.Errorf("ray start wrote a token into HOME/.ray/auth_token")
	}
	stopAndCheck(t, c)
}

// TestStopRunsWhenTestFails runs a test that starts a head and then fails, in a child test
// process, and checks that the failed test's cleanup stopped the head and removed its dir.
func TestStopRunsWhenTestFails(t *testing.T) {
	RayBin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailingTest$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CASTRAY_RAYCLUSTER_FAILING_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the helper test should have failed:\n%s", out)
	}
	m := regexp.MustCompile(`TEMPDIR=(\S+)`).FindSubmatch(out)
	if m == nil || !strings.Contains(string(out), "deliberate failure") {
		t.Fatalf("the helper test did not get as far as its deliberate failure:\n%s", out)
	}
	dir := string(m[1])
	if ps := procsMentioning(dir); len(ps) > 0 {
		t.Errorf("after the failed test, processes still mention %s: %v", dir, ps)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still exists after the failed test (%v)", dir, err)
	}
	if !strings.Contains(string(out), "raycluster: stopped") {
		t.Errorf("no Stop report in the failed test's output:\n%s", out)
	}
}

// TestOrphansReapedAfterCrash: a test process that dies without running its cleanups (as a
// test binary killed by -timeout does) leaves its head running; the next Start on the machine
// must kill it.
func TestOrphansReapedAfterCrash(t *testing.T) {
	RayBin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailingTest$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CASTRAY_RAYCLUSTER_FAILING_HELPER=crash")
	out, _ := cmd.CombinedOutput()
	m := regexp.MustCompile(`TEMPDIR=(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the crashing helper did not start a head:\n%s", out)
	}
	dir := string(m[1])
	orphans := procsMentioning(dir)
	if len(orphans) == 0 {
		t.Fatalf("the crashed helper left no processes behind; the test proves nothing:\n%s", out)
	}
	t.Logf("%d orphaned processes mention %s", len(orphans), dir)
	c := Start(t, Options{AuthMode: "disabled"})
	if ps := procsMentioning(dir); len(ps) > 0 {
		t.Errorf("Start did not reap the orphans of %s: %v", dir, ps)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("orphaned temp dir %s still exists (%v)", dir, err)
	}
	stopAndCheck(t, c)
}

// TestHelperFailingTest is run by TestStopRunsWhenTestFails in a child process only.
func TestHelperFailingTest(t *testing.T) {
	mode := os.Getenv("CASTRAY_RAYCLUSTER_FAILING_HELPER")
	if mode == "" {
		t.Skip("runs only as the child of TestStopRunsWhenTestFails and TestOrphansReapedAfterCrash")
	}
	c := Start(t, Options{AuthMode: "disabled"})
	t.Logf("TEMPDIR=%s", c.TempDir)
	if mode == "crash" {
		fmt.Printf("TEMPDIR=%s\n", c.TempDir)
		os.Exit(3) // no cleanups run, like a test binary killed by -timeout
	}
	t.Fatal("deliberate failure: Stop must still run")
}

// fakeTB records what RayBin does when no ray exists.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

func TestRayBinMissing(t *testing.T) {
	empty := t.TempDir()
	old := repoRoot
	repoRoot = func() (string, error) { return empty, nil }
	defer func() { repoRoot = old }()
	t.Setenv(EnvRayBin, "")

	t.Setenv("CI", "true")
	f := &fakeTB{TB: t}
	RayBin(f)
	if !strings.Contains(f.fatal, "make ray-venv") || f.skip != "" {
		t.Errorf("CI=true: fatal=%q skip=%q, want a failure pointing at make ray-venv", f.fatal, f.skip)
	}

	t.Setenv("CI", "")
	f = &fakeTB{TB: t}
	RayBin(f)
	if !strings.Contains(f.skip, "make ray-venv") || f.fatal != "" {
		t.Errorf("no CI: fatal=%q skip=%q, want a skip pointing at make ray-venv", f.fatal, f.skip)
	}

	t.Setenv(EnvRayBin, filepath.Join(empty, "no-such-ray"))
	f = &fakeTB{TB: t}
	RayBin(f)
	if !strings.Contains(f.fatal, EnvRayBin) {
		t.Errorf("bad %s: fatal=%q, want a failure", EnvRayBin, f.fatal)
	}
}

func TestParseCLIVersion(t *testing.T) {
	v, err := parseCLIVersion("ray, version 2.60.0\n")
	if err != nil || v != "2.60.0" {
		t.Fatalf("got %q, %v", v, err)
	}
	if _, err := parseCLIVersion("python 3"); err == nil {
		t.Fatal("want an error")
	}
}

func TestMentions(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"--temp-dir=/tmp/crt-ab", true},
		{"--log_dir=/tmp/crt-ab/session_x/logs", true},
		{"--temp-dir=/tmp/crt-abc", false},
		{"/tmp/crt-abc/x /tmp/crt-ab", true},
		{"", false},
	} {
		if got := mentions(tc.s, "/tmp/crt-ab"); got != tc.want {
			t.Errorf("mentions(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// checkHead asserts what every started head must show.
func checkHead(t *testing.T, c *Cluster, pinned string) {
	t.Helper()
	for name, p := range c.Ports() {
		if p <= 0 || p == rayDefaultPorts[name] {
			t.Errorf("%s port %d: want a non-default port", name, p)
		}
	}
	st, body, err := c.HTTPGet("/api/version")
	if err != nil || st != http.StatusOK {
		t.Fatalf("/api/version: %d %v %s", st, err, body)
	}
	var v struct {
		Version     string `json:"version"`
		RayVersion  string `json:"ray_version"`
		RayCommit   string `json:"ray_commit"`
		SessionName string `json:"session_name"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("/api/version %s: %v", body, err)
	}
	if v.RayVersion != pinned || c.RayVersion != pinned {
		t.Errorf("ray_version %q (cluster %q), want the pinned %q", v.RayVersion, c.RayVersion, pinned)
	}
	if v.SessionName != filepath.Base(c.SessionDir) || v.SessionName != c.SessionName || !sessionNameRE.MatchString(v.SessionName) {
		t.Errorf("session_name %q, session dir %s, cluster %q", v.SessionName, c.SessionDir, c.SessionName)
	}
	if filepath.Dir(c.SessionDir) != c.TempDir {
		t.Errorf("session dir %s is not in the temp dir %s", c.SessionDir, c.TempDir)
	}
	if want := net.JoinHostPort(c.NodeIP, strconv.Itoa(c.GCSPort)); c.GCSAddress != want {
		t.Errorf("GCSAddress %q, want %q", c.GCSAddress, want)
	}
	// The GCS listens on all interfaces: loopback works too.
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.GCSPort)), 5*time.Second); err != nil {
		t.Errorf("GCS port %d: %v", c.GCSPort, err)
	} else {
		conn.Close()
	}
	// The CLI through the helper (address and token from the environment).
	out, err := c.Ray("status")
	if err != nil {
		t.Errorf("ray status: %v", err)
	} else if !strings.Contains(out, "Active:") || !strings.Contains(out, "0.0/1.0 CPU") {
		t.Errorf("ray status output unexpected:\n%s", out)
	}
	if len(c.Processes()) == 0 {
		t.Errorf("no processes found for %s", c.TempDir)
	}
}

// checkAuth asserts the HTTP behaviour that the reported auth mode implies.
func checkAuth(t *testing.T, c *Cluster) {
	t.Helper()
	st, body, err := c.HTTPGetAs("/api/authentication_mode", "")
	if err != nil || st != http.StatusOK {
		t.Fatalf("/api/authentication_mode: %d %v", st, err)
	}
	var am struct {
		Mode string `json:"authentication_mode"`
	}
	if err := json.Unmarshal(body, &am); err != nil || am.Mode != c.AuthMode {
		t.Errorf("/api/authentication_mode %s, cluster says %q", body, c.AuthMode)
	}
	noTok, _, err := c.HTTPGetAs("/api/version", "")
	if err != nil {
		t.Fatal(err)
	}
	switch c.AuthMode {
	case "token":
		if noTok != http.StatusUnauthorized {
			t.Errorf("token mode: /api/version without a token = %d, want 401", noTok)
		}
		if st, _, _ := c.HTTPGetAs("/api/version", "0123456789abcdef0123456789abcdef"); st != http.StatusForbidden {
			t.Errorf("token mode: /api/version with a wrong token = %d, want 403", st)
		}
		if st, _, _ := c.HTTPGet("/api/version"); st != http.StatusOK {
			t.Errorf("token mode: /api/version with the token = %d, want 200", st)
		}
		// Health stays open.
		if st, _, _ := c.HTTPGetAs("/api/gcs_healthz", ""); st != http.StatusOK {
			t.Errorf("token mode: /api/gcs_healthz without a token = %d, want 200", st)
		}
	case "disabled":
		if noTok != http.StatusOK {
			t.Errorf("disabled mode: /api/version without a token = %d, want 200", noTok)
		}
	default:
		t.Errorf("unexpected auth mode %q", c.AuthMode)
	}
}

// stopAndCheck stops c and asserts that nothing of it is left.
func stopAndCheck(t *testing.T, c *Cluster) {
	t.Helper()
	c.Stop()
	t.Logf("Stop of %s took %v", c.TempDir, c.StopDuration.Round(time.Millisecond))
	if ps := procsMentioning(c.TempDir); len(ps) > 0 {
		t.Errorf("after Stop, processes still mention %s: %v", c.TempDir, ps)
	}
	if ps := c.Processes(); len(ps) > 0 {
		t.Errorf("after Stop, processes of %s remain: %v", c.TempDir, ps)
	}
	if _, err := os.Stat(c.TempDir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still exists (%v)", c.TempDir, err)
	}
	for name, p := range c.Ports() {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("%s port %d still taken after Stop: %v", name, p, err)
			continue
		}
		l.Close()
	}
}

// procsMentioning lists, independently of the helper's matcher, any live process whose
// command line or working directory names dir.
func procsMentioning(dir string) []string {
	var out []string
	for _, p := range allProcs() {
		hit := p.Cwd == dir || strings.HasPrefix(p.Cwd, dir+"/")
		for _, arg := range p.Cmdline {
			hit = hit || mentions(arg, dir)
		}
		if hit {
			out = append(out, strconv.Itoa(p.PID)+": "+strings.Join(p.Cmdline, " "))
		}
	}
	return out
}
