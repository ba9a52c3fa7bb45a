package raystatus

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray/rayproc"
	"github.com/castray/castray/sdk/ray/rayproc/rayproctest"
	"github.com/castray/castray/sdk/raytoken"
)

// collect is a DiscoverSink that records everything.
type collect struct{ plugintest.Sink }

func (c *collect) byGCS(addr string) *sdk.ClusterCandidate {
	for _, x := range c.Candidates() {
		if x.GetGcsAddress() == addr {
			return x
		}
	}
	return nil
}

func (c *collect) noteWith(sub string) *sdk.DiscoverNote {
	for _, n := range c.Notes() {
		if strings.Contains(n.GetMessage(), sub) {
			return n
		}
	}
	return nil
}

// client configures d with cfg (JSON) and serves it over gRPC.
func client(t *testing.T, d *Discoverer, cfg string) sdk.Discoverer {
	t.Helper()
	c := plugintest.Discovery(t, d)
	problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
	if err != nil || len(problems) > 0 {
		t.Fatalf("Configure(%s): %v %v", cfg, sdk.ConfigErrorsString(problems), err)
	}
	return c
}

func discover(t *testing.T, c sdk.Discoverer, req *sdk.DiscoverRequest) (*sdk.DiscoverSummary, *collect) {
	t.Helper()
	var got collect
	s, err := c.Discover(context.Background(), req, &got)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return s, &got
}

func TestInfoAndSchema(t *testing.T) {
	c := plugintest.Discovery(t, New(nil))
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "ray-status" || info.GetKind() != sdk.KindDiscovery || info.GetPluginVersion() != "0.1.0" ||
		!reflect.DeepEqual(info.GetApiVersions(), []uint32{sdk.APIVersion}) {
		t.Errorf("info %+v", info)
	}
	schema, err := c.ConfigSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range schema.GetFields() {
		names = append(names, f.GetName())
		if f.GetType() == "" || f.GetDescription() == "" || f.GetDefaultJson() == "" {
			t.Errorf("field %s lacks type, description or default", f.GetName())
		}
		if !json.Valid([]byte(f.GetDefaultJson())) {
			t.Errorf("field %s: default %q is not JSON", f.GetName(), f.GetDefaultJson())
		}
	}
	// Every key of Config is in the schema, and nothing else.
	want := []string{"ray_path", "addresses", "local", "expand_multiple", "precheck", "timeout_ms", "max_concurrency", "auth_token"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("schema keys %v, want %v", names, want)
	}
	b, _ := json.Marshal(defaultConfig())
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if len(m) != len(want) {
		t.Errorf("Config has %d keys, schema %d", len(m), len(want))
	}
}

func TestConfigureErrorsNameKeys(t *testing.T) {
	c := plugintest.Discovery(t, New(nil))
	tests := []struct{ cfg, key string }{
		{`{"timeout_ms": 5}`, "timeout_ms"},
		{`{"timeout_ms": "soon"}`, "timeout_ms"},
		{`{"max_concurrency": 0}`, "max_concurrency"},
		{`{"max_concurrency": 99}`, "max_concurrency"},
		{`{"addresses": ["127.0.0.1"]}`, "addresses"},
		{`{"addresses": ["http://127.0.0.1:8265"]}`, "addresses"},
		{`{"addresses": ["127.0.0.1:0"]}`, "addresses"},
		{`{"auth_token": "a b"}`, "auth_token"},
		{`{"local": "yes"}`, "local"},
		{`{"bogus": 1}`, "bogus"},
	}
	for _, tc := range tests {
		problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(tc.cfg)})
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) == 0 || problems[0].GetKey() != tc.key {
			t.Errorf("Configure(%s) = %v, want an error naming %q", tc.cfg, sdk.ConfigErrorsString(problems), tc.key)
		}
		if strings.Contains(sdk.ConfigErrorsString(problems), "a b") {
			t.Errorf("an error echoes the token: %v", sdk.ConfigErrorsString(problems))
		}
	}
	for _, ok := range []string{``, `{}`, `{"ray_path": "/nowhere/ray", "addresses": ["127.0.0.1:6379", "[::1]:6379", "head:6379"], "timeout_ms": 100, "max_concurrency": 16, "local": false}`} {
		if problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(ok)}); err != nil || len(problems) > 0 {
			t.Errorf("Configure(%s) = %v %v", ok, sdk.ConfigErrorsString(problems), err)
		}
	}
}

// TestDiscoverCluster: a given address and the plain run, each answering a
// real 2.60.0 capture.
func TestDiscoverCluster(t *testing.T) {
	f := newFake(t)
	const given, local = "192.0.2.2:52529", "192.0.2.2:44517"
	f.answer(given, "ray-2.60.0_v1_2node_request_resources.txt", "", 0)
	f.answer("", "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	f.currentCluster(local)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{given}, TimeoutMs: 20000})

	if s.GetCandidates() != 2 || len(got.Candidates()) != 2 || s.GetProbes() != 2 || len(s.GetErrors()) != 0 {
		t.Fatalf("summary %+v, candidates %d, notes %v", s, len(got.Candidates()), got.Notes())
	}
	two := got.byGCS(given)
	if two == nil {
		t.Fatalf("no candidate for %s", given)
	}
	if two.GetSource() != "ray-status" || two.GetNodeCount() != 2 || two.GetStatus() != sdk.StatusActive ||
		two.GetRayVersion() != "2.60.0" || two.GetAuthRequired() {
		t.Errorf("candidate %+v", two)
	}
	if two.GetResourcesTotal()["CPU"] != 3 || two.GetResourcesUsed()["CPU"] != 3 || two.GetResourcesTotal()["custom_res"] != 3 ||
		!near(two.GetResourcesTotal()["memory"], 29.85*gib) {
		t.Errorf("resources %v / %v", two.GetResourcesTotal(), two.GetResourcesUsed())
	}
	a := two.GetAttributes()
	if a["node_ids"] != "2ccc7a53d0ee7d1d7f5e32b6d7ea7175ccdc284308fefeaa7c55f8c2,600374830cd39b21e9c608ed8ea0c599e772bf95cbcfecf61910fc7f" ||
		a["pending_demands"] != "4" || a["active_nodes"] != "2" || a["status_layout"] != LayoutPendingDemands ||
		!strings.Contains(a["resource_requests"], "4 from request_resources()") || a["ray_cli"] != f.bin {
		t.Errorf("attributes %v", a)
	}
	if len(two.GetEvidence()) == 0 || !strings.Contains(two.GetEvidence()[0], "`ray status --address "+given+"` (address given by the request) → exit 0") {
		t.Errorf("evidence %q", two.GetEvidence())
	}

	one := got.byGCS(local)
	if one == nil {
		t.Fatalf("the plain run did not report ray_current_cluster's address %s: %+v", local, got.Candidates())
	}
	if one.GetNodeCount() != 1 || one.GetResourcesTotal()["CPU"] != 1 ||
		!strings.Contains(strings.Join(one.GetEvidence(), "\n"), filepath.Join(f.tmpdir, "ray", "ray_current_cluster")) {
		t.Errorf("plain candidate %+v", one)
	}
	calls := f.calls()
	if calls["plain"] == nil || calls[key(given)] == nil || calls[key(given)].address != "" {
		t.Errorf("calls %v (an --address run must not see RAY_ADDRESS)", calls)
	}
	// `ray --version` runs once per CLI, not once per call.
	if s, _ := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{given}}); s.GetCandidates() != 2 {
		t.Errorf("second round: %+v", s)
	}
	if n := f.versionRuns(); n != 1 {
		t.Errorf("`ray --version` ran %d times in two rounds", n)
	}
}

// TestPlainSkippedWhenGiven: when a given address is also the cluster the
// plain `ray status` would pick, one run is made.
func TestPlainSkippedWhenGiven(t *testing.T) {
	f := newFake(t)
	const addr = "192.0.2.2:44517"
	f.answer(addr, "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	f.currentCluster(addr)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{addr}})
	if s.GetCandidates() != 1 || s.GetProbes() != 1 || f.calls()["plain"] != nil {
		t.Fatalf("summary %+v calls %v", s, f.calls())
	}
	if ev := strings.Join(got.Candidates()[0].GetEvidence(), "\n"); !strings.Contains(ev, "also the cluster a plain `ray status` picks") {
		t.Errorf("evidence %q", ev)
	}
}

func TestNoCLI(t *testing.T) {
	f := newFake(t)
	for _, tc := range []struct{ cfg, level, has string }{
		{`{"ray_path": "/nowhere/ray"}`, "warn", "/nowhere/ray"},
		{`{}`, "info", `no "ray" in PATH`},
	} {
		c := client(t, f.discoverer(), tc.cfg)
		s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{"127.0.0.1:6379"}})
		if s.GetCandidates() != 0 || s.GetProbes() != 0 || len(s.GetErrors()) != 0 || len(got.Notes()) != 1 {
			t.Fatalf("%s: summary %+v notes %v", tc.cfg, s, got.Notes())
		}
		n := got.Notes()[0]
		if !strings.Contains(n.GetMessage(), "ray CLI not found") || !strings.Contains(n.GetMessage(), tc.has) || n.GetLevel() != tc.level {
			t.Errorf("%s: note %+v", tc.cfg, n)
		}
	}
}

func TestNoClusterIsNotAnError(t *testing.T) {
	f := newFake(t)
	f.answer("", "", "ray-2.60.0_no_cluster.stderr", 1)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`"}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{})
	if s.GetCandidates() != 0 || len(s.GetErrors()) != 0 {
		t.Fatalf("summary %+v", s)
	}
	n := got.noteWith("found no running Ray cluster")
	if n == nil || n.GetLevel() != "info" {
		t.Errorf("notes %v", got.Notes())
	}
}

func TestFailureIsAnError(t *testing.T) {
	f := newFake(t)
	const addr = "192.0.2.2:1234"
	f.write(key(addr)+".err", "Traceback (most recent call last):\n  File \"x\", line 1\nValueError: something broke\n")
	f.write(key(addr)+".exit", "3")
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false, "local": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{addr}})
	if s.GetCandidates() != 0 || len(s.GetErrors()) != 1 || !strings.Contains(s.GetErrors()[0], "exit 3: ValueError: something broke") {
		t.Fatalf("summary %+v", s)
	}
	if n := got.noteWith("ValueError: something broke"); n == nil || n.GetLevel() != "error" || n.GetTarget() != addr {
		t.Errorf("notes %v", got.Notes())
	}
}

func TestUnreachableAndVersionMismatch(t *testing.T) {
	f := newFake(t)
	const dead, old = "192.0.2.2:49115", "192.0.2.2:39161"
	f.answer(dead, "", "ray-2.60.0_dead_address.stderr", 1)
	f.answer(old, "", "ray-2.60.0_cli_vs_2.49.2_cluster_version_mismatch.stderr", 1)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false, "local": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{dead, old}})
	if s.GetCandidates() != 1 || len(s.GetErrors()) != 0 {
		t.Fatalf("summary %+v notes %v", s, got.Notes())
	}
	if n := got.noteWith("no Ray GCS answered"); n == nil || n.GetTarget() != dead {
		t.Errorf("notes %v", got.Notes())
	}
	cand := got.byGCS(old)
	if cand == nil || cand.GetRayVersion() != "2.49.2" || cand.GetNodeCount() != -1 || cand.GetStatus() != sdk.StatusActive {
		t.Errorf("mismatch candidate %+v", cand)
	}
	if n := got.noteWith("cluster runs Ray 2.49.2"); n == nil || n.GetLevel() != "warn" {
		t.Errorf("notes %v", got.Notes())
	}
}

func TestMultipleInstancesAreExpanded(t *testing.T) {
	f := newFake(t)
	f.answer("", "", "ray-2.60.0_multiple_instances.stderr", 1)
	f.answer("192.0.2.2:44549", "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	f.answer("192.0.2.2:52529", "ray-2.60.0_v1_2node_demands.txt", "", 0)
	f.answer("192.0.2.2:34727", "ray-2.9.3_v2_idle.txt", "", 0)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{})
	if s.GetCandidates() != 3 || s.GetProbes() != 4 {
		t.Fatalf("summary %+v notes %v", s, got.Notes())
	}
	if got.byGCS("192.0.2.2:52529").GetNodeCount() != 2 || got.byGCS("192.0.2.2:34727").GetNodeCount() != 1 {
		t.Errorf("candidates %+v", got.Candidates())
	}
	if got.noteWith("found several Ray clusters") == nil {
		t.Errorf("notes %v", got.Notes())
	}
	// expand_multiple off: only the note.
	f2 := newFake(t)
	f2.answer("", "", "ray-2.60.0_multiple_instances.stderr", 1)
	c = client(t, f2.discoverer(), `{"ray_path": "`+f2.bin+`", "expand_multiple": false}`)
	if s, _ := discover(t, c, &sdk.DiscoverRequest{}); s.GetCandidates() != 0 || s.GetProbes() != 1 {
		t.Errorf("expand_multiple=false: %+v", s)
	}
}

// TestToken: the token reaches the CLI as RAY_AUTH_MODE=token +
// RAY_AUTH_TOKEN and never appears in what the plugin reports.
func TestToken(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const ok, refused = "192.0.2.2:1001", "192.0.2.2:1002"
	f := newFake(t)
	f.answer(ok, "ray-2.60.0_v1_1node_token.txt", "", 0)
	// A CLI that echoes the token must not get it into a note.
	f.write(key(refused)+".err", readTestdata(t, "ray-2.60.0_auth_bad_token.stderr")+"\nsaw token "+tok+"\n")
	f.write(key(refused)+".exit", "1")
	f.answer("", "", "ray-2.60.0_auth_mode_without_token.stderr", 1)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false, "auth_token": "`+tok+`"}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{ok, refused}})

	calls := f.calls()
	for _, k := range []string{key(ok), key(refused), "plain"} {
		if calls[k] == nil || calls[k].mode != "token" || calls[k].token != tok {
			t.Errorf("run %s got mode %q token %q", k, calls[k].mode, calls[k].token)
		}
	}
	if s.GetCandidates() != 2 || len(s.GetErrors()) != 1 || !strings.Contains(s.GetErrors()[0], "authentication") {
		t.Fatalf("summary %+v notes %v", s, got.Notes())
	}
	if cand := got.byGCS(ok); cand == nil || cand.GetAuthRequired() || cand.GetNodeCount() != 1 ||
		cand.GetAttributes()["auth_token_source"] != raytoken.SourceConfig {
		t.Errorf("candidate with token %+v", cand)
	}
	if cand := got.byGCS(refused); cand == nil || !cand.GetAuthRequired() || cand.GetNodeCount() != -1 {
		t.Errorf("refused candidate %+v", cand)
	}
	// The plain run failed before connecting: an error note mentioning auth, no candidate.
	if n := got.noteWith("authentication failed"); n == nil {
		t.Errorf("notes %v", got.Notes())
	}
	all, _ := json.Marshal([]any{s, got.Candidates(), got.Notes()})
	if strings.Contains(string(all), tok) {
		t.Errorf("the token leaked: %s", all)
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	f := newFake(t)
	f.answer("", "ray-2.60.0_v1_1node_token.txt", "", 0)
	tokFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tokFile, []byte("  filetoken \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = append(f.env, "RAY_AUTH_TOKEN_PATH="+tokFile)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`"}`)
	_, got := discover(t, c, &sdk.DiscoverRequest{})
	if p := f.calls()["plain"]; p == nil || p.token != "filetoken" || p.mode != "token" {
		t.Errorf("plain run %+v", p)
	}
	if len(got.Candidates()) != 1 || got.Candidates()[0].GetAttributes()["auth_token_source"] != raytoken.SourceEnvPath {
		t.Errorf("candidates %+v", got.Candidates())
	}
	// No token anywhere: the CLI's environment is left alone.
	f2 := newFake(t)
	f2.answer("", "ray-2.60.0_v1_1node_token.txt", "", 0)
	c = client(t, f2.discoverer(), `{"ray_path": "`+f2.bin+`"}`)
	discover(t, c, &sdk.DiscoverRequest{})
	if p := f2.calls()["plain"]; p == nil || p.token != "" || p.mode != "" {
		t.Errorf("plain run without token %+v", p)
	}
}

func TestResolveTokenOrder(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte("hometoken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pathFile := filepath.Join(t.TempDir(), "t")
	_ = os.WriteFile(pathFile, []byte("pathtoken"), 0o600)
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	check := func(cfg, want string) {
		t.Helper()
		tok, _, err := resolveToken(cfg, get, home)
		if err != nil || tok != want {
			t.Errorf("resolveToken(%q, %v) = %q %v, want %q", cfg, env, tok, err, want)
		}
	}
	check("", "hometoken")
	env["RAY_AUTH_TOKEN_PATH"] = pathFile
	check("", "pathtoken")
	env["RAY_AUTH_TOKEN"] = "envtoken"
	check("", "envtoken")
	check("cfgtoken", "cfgtoken")
	delete(env, "RAY_AUTH_TOKEN")
	env["RAY_AUTH_TOKEN_PATH"] = filepath.Join(t.TempDir(), "missing")
	if _, _, err := resolveToken("", get, home); err == nil {
		t.Error("an unreadable RAY_AUTH_TOKEN_PATH must be an error")
	}
}

// TestTimeoutKillsProcessGroup: a run past timeout_ms is killed with its
// children, reported as an error, and the others still finish.
//
// The test checks that the plugin asks for 500 ms for each run, then
// stands in for the timers: the slow run (which would sleep ten minutes)
// times out once it has started its grandchild; the fast run gets a
// generous timer, so a loaded machine cannot make it miss 500 ms.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	f := newFake(t)
	const slow, fast = "192.0.2.2:2001", "192.0.2.2:2002"
	f.sleep(slow, 600)
	f.answer(fast, "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	d := f.discoverer()
	var mu sync.Mutex
	asked := map[string]time.Duration{}
	d.run = func(ctx context.Context, bin string, args, env []string, timeout time.Duration) runResult {
		mu.Lock()
		asked[args[len(args)-1]] = timeout
		mu.Unlock()
		if args[len(args)-1] != slow {
			return runCLI(ctx, bin, args, env, hangGuard)
		}
		// The slow run's timeout expires once it has started its
		// grandchild, which must then be killed with it.
		return runCLIUntil(ctx, bin, args, env, func() (<-chan time.Time, func() bool) {
			expired := make(chan time.Time, 1)
			go func() {
				if waitFor(hangGuard, func() bool { return f.hasChild(slow) }) {
					expired <- time.Now()
				}
			}()
			return expired, func() bool { return true }
		})
	}
	c := client(t, d, `{"ray_path": "`+f.bin+`", "precheck": false, "local": false, "timeout_ms": 500}`)
	s, got := discoverGuarded(t, c, &sdk.DiscoverRequest{Addresses: []string{slow, fast}})
	if s.GetCandidates() != 1 || got.byGCS(fast) == nil || len(s.GetErrors()) != 1 || !strings.Contains(s.GetErrors()[0], "timed out") {
		t.Fatalf("summary %+v notes %v", s, got.Notes())
	}
	mu.Lock()
	if asked[slow] != 500*time.Millisecond || asked[fast] != 500*time.Millisecond {
		t.Errorf("per-run timeouts %v, want 500ms each", asked)
	}
	mu.Unlock()
	if c := f.calls()[key(slow)]; c == nil || !c.end.IsZero() {
		t.Errorf("the slow run was not killed: %+v", c)
	}
	if f.childAlive(slow) {
		t.Error("the killed run's child process is still alive")
	}
}

// discoverGuarded is discover with a hang guard: it fails the test if the
// call has not returned after hangGuard.
func discoverGuarded(t *testing.T, c sdk.Discoverer, req *sdk.DiscoverRequest) (*sdk.DiscoverSummary, *collect) {
	t.Helper()
	type result struct {
		s   *sdk.DiscoverSummary
		got *collect
		err error
	}
	done := make(chan result, 1)
	go func() {
		var got collect
		s, err := c.Discover(context.Background(), req, &got)
		done <- result{s, &got, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Discover: %v", r.err)
		}
		return r.s, r.got
	case <-time.After(hangGuard):
		t.Fatalf("Discover did not return within %v", hangGuard)
		return nil, nil
	}
}

// TestCancelReturnsPromptly: cancelling the call kills the runs at once
// (the fake would otherwise sleep for ten minutes).
func TestCancelReturnsPromptly(t *testing.T) {
	f := newFake(t)
	f.sleep("", 600)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "timeout_ms": 600000}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Discover(ctx, &sdk.DiscoverRequest{}, &collect{})
		done <- err
	}()
	f.childStarted("")
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the cancelled Discover returned no error")
		}
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return after the cancellation")
	}
	if c := f.calls()["plain"]; !c.end.IsZero() {
		t.Error("the cancelled run was not killed: it ran to its end")
	}
	if f.childAlive("") {
		t.Error("the cancelled run's child process is still alive")
	}
}

// TestBudgetBoundsRuns: the request's timeout_ms bounds a run below the
// plugin's timeout_ms. The budget's deadline is under the test's control:
// five minutes away, while the plugin allows ten; the run must be given
// at most what is left of the budget (its own timer a backstop a second
// later), and is killed when the budget runs out.
func TestBudgetBoundsRuns(t *testing.T) {
	f := newFake(t)
	f.sleep("", 600)
	d := f.discoverer()
	deadline := time.Now().Add(5 * time.Minute)
	budgets := budgetHook(d, deadline)
	asked := make(chan time.Duration, 1)
	d.run = func(ctx context.Context, bin string, args, env []string, timeout time.Duration) runResult {
		asked <- timeout
		return runCLI(ctx, bin, args, env, timeout)
	}
	c := client(t, d, `{"ray_path": "`+f.bin+`", "timeout_ms": 600000}`)
	done := make(chan *sdk.DiscoverSummary, 1)
	go func() {
		s, _ := c.Discover(context.Background(), &sdk.DiscoverRequest{TimeoutMs: 700}, &collect{})
		done <- s
	}()
	var b budgetCall
	select {
	case b = <-budgets:
	case <-time.After(hangGuard):
		t.Fatal("the request's budget was never applied")
	}
	if b.budget != 630*time.Millisecond { // 700 ms less a tenth for the summary
		t.Errorf("budget %v, want 630ms", b.budget)
	}
	select {
	case timeout := <-asked:
		if timeout <= 0 || timeout > 5*time.Minute+budgetBackstop {
			t.Errorf("run timeout %v: not bounded by the budget's deadline (5 min away; the plugin allows 10)", timeout)
		}
	case <-time.After(hangGuard):
		t.Fatal("ray status never ran")
	}
	f.childStarted("")
	b.ctx.expire()
	var s *sdk.DiscoverSummary
	select {
	case s = <-done:
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return when the budget ran out")
	}
	if len(s.GetErrors()) != 1 || !strings.Contains(s.GetErrors()[0], "killed after") {
		t.Errorf("errors %q", s.GetErrors())
	}
	if f.childAlive("") {
		t.Error("child still alive")
	}
}

// TestBudgetReported: runs cut short or never started by the request's
// budget are summary errors. The budget runs out (under the test's
// control) while one run is going and the other waits for its turn.
func TestBudgetReported(t *testing.T) {
	f := newFake(t)
	const a, b = "192.0.2.2:4001", "192.0.2.2:4002"
	f.sleep(a, 600)
	f.sleep(b, 600)
	d := f.discoverer()
	budgets := budgetHook(d, time.Now().Add(time.Hour))
	c := client(t, d, `{"ray_path": "`+f.bin+`", "precheck": false, "local": false, "max_concurrency": 1, "timeout_ms": 600000}`)
	done := make(chan *sdk.DiscoverSummary, 1)
	go func() {
		s, _ := c.Discover(context.Background(), &sdk.DiscoverRequest{Addresses: []string{a, b}, TimeoutMs: 1000}, &collect{})
		done <- s
	}()
	var bc budgetCall
	select {
	case bc = <-budgets:
	case <-time.After(hangGuard):
		t.Fatal("the request's budget was never applied")
	}
	if bc.budget != 900*time.Millisecond {
		t.Errorf("budget %v, want 900ms", bc.budget)
	}
	// Either may go first; the other waits (max_concurrency 1).
	if !waitFor(hangGuard, func() bool { return f.hasChild(a) || f.hasChild(b) }) {
		t.Fatal("no run started")
	}
	bc.ctx.expire()
	var s *sdk.DiscoverSummary
	select {
	case s = <-done:
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return when the budget ran out")
	}
	errs := strings.Join(s.GetErrors(), "\n")
	if len(s.GetErrors()) != 2 || !strings.Contains(errs, "killed after") || !strings.Contains(errs, "the call's time budget ran out") ||
		!strings.Contains(errs, "not run: the call's time budget ran out") {
		t.Errorf("errors %q", s.GetErrors())
	}
	if cs := f.calls(); cs[key(a)] != nil && cs[key(b)] != nil {
		t.Errorf("both runs started with max_concurrency 1: %v", cs)
	}
}

// TestConcurrencyBound: with max_concurrency 2, never more than two runs
// overlap. Every run waits, after logging its start, until the test lets
// it go, and the test lets one go only while two are running: so two do
// overlap, and a third start while two run shows in the log (a run's end
// is logged before it exits, and the next starts only after that).
func TestConcurrencyBound(t *testing.T) {
	f := newFake(t)
	var addrs []string
	for _, a := range []string{"192.0.2.2:3001", "192.0.2.2:3002", "192.0.2.2:3003", "192.0.2.2:3004", "192.0.2.2:3005"} {
		f.gate(a)
		f.answer(a, "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
		addrs = append(addrs, a)
	}
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "precheck": false, "local": false, "max_concurrency": 2, "timeout_ms": 600000}`)
	done := make(chan *sdk.DiscoverSummary, 1)
	go func() {
		s, _ := c.Discover(context.Background(), &sdk.DiscoverRequest{Addresses: addrs}, &collect{})
		done <- s
	}()
	released := map[string]bool{}
	for len(released) < len(addrs) {
		var next string
		running := 0
		ok := waitFor(hangGuard, func() bool {
			running, next = 0, ""
			for k, cl := range f.calls() {
				if cl.end.IsZero() && k != "version" {
					running++
					if !released[k] {
						next = k
					}
				}
			}
			// Two running, or the last one.
			return next != "" && (running >= 2 || len(released) == len(addrs)-1)
		})
		if !ok {
			t.Fatalf("stuck with %d released and %d running", len(released), running)
		}
		released[next] = true
		f.write(next+".go", "")
	}
	var s *sdk.DiscoverSummary
	select {
	case s = <-done:
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return")
	}
	if s.GetCandidates() != 5 {
		t.Fatalf("summary %+v", s)
	}
	calls := f.calls()
	delete(calls, "version")
	maxOverlap := 0
	for _, a := range calls {
		n := 0
		for _, b := range calls {
			if !b.start.After(a.start) && b.end.After(a.start) {
				n++
			}
		}
		maxOverlap = max(maxOverlap, n)
	}
	if maxOverlap != 2 {
		t.Errorf("max overlap %d, want 2", maxOverlap)
	}
}

// TestPrecheck: an address with nothing listening is not given to the CLI.
func TestPrecheck(t *testing.T) {
	f := newFake(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	live := l.Addr().String()
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l2.Addr().String()
	l2.Close()
	f.answer(live, "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`", "local": false}`)
	s, got := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{live, dead, "not-an-address"}, ProbeTimeoutMs: 500})
	if s.GetCandidates() != 1 || got.byGCS(live) == nil || len(s.GetErrors()) != 0 {
		t.Fatalf("summary %+v notes %v", s, got.Notes())
	}
	if f.calls()[key(dead)] != nil {
		t.Error("the CLI ran against a dead address")
	}
	if n := got.noteWith("no GCS answered at " + dead); n == nil || n.GetLevel() != "warn" {
		t.Errorf("notes %v", got.Notes())
	}
	if got.noteWith(`"not-an-address" skipped`) == nil {
		t.Errorf("notes %v", got.Notes())
	}
	// Nothing to run: no `ray --version` either.
	f2 := newFake(t)
	c = client(t, f2.discoverer(), `{"ray_path": "`+f2.bin+`", "local": false}`)
	if s, _ := discover(t, c, &sdk.DiscoverRequest{Addresses: []string{dead}}); s.GetCandidates() != 0 || f2.versionRuns() != 0 {
		t.Errorf("dead address only: %+v, %d version runs", s, f2.versionRuns())
	}
}

func TestConfigOverridePerCall(t *testing.T) {
	f := newFake(t)
	f.answer("", "ray-2.60.0_v1_1node_e2e-capture.txt", "", 0)
	c := client(t, f.discoverer(), `{"ray_path": "`+f.bin+`"}`)
	s, _ := discover(t, c, &sdk.DiscoverRequest{ConfigJson: []byte(`{"local": false}`)})
	if s.GetProbes() != 0 {
		t.Errorf("override ignored: %+v", s)
	}
	if _, err := c.Discover(context.Background(), &sdk.DiscoverRequest{ConfigJson: []byte(`{"timeout_ms": 1}`)}, &collect{}); err == nil ||
		!strings.Contains(err.Error(), "timeout_ms") {
		t.Errorf("bad override: %v", err)
	}
	// The configured values are back for the next call.
	if s, _ := discover(t, c, &sdk.DiscoverRequest{}); s.GetCandidates() != 1 {
		t.Errorf("after override: %+v", s)
	}
}

func TestLookupDefaultAddress(t *testing.T) {
	tmp := t.TempDir()
	proc := t.TempDir()
	mkproc := func(pid int, args ...string) {
		rayproctest.Write(t, proc, rayproc.Process{PID: pid, Argv: args})
	}
	env := []string{"RAY_TMPDIR=" + tmp}
	ctx := context.Background()
	if got := lookupDefaultAddress(ctx, env, proc); got.Address != "" {
		t.Errorf("nothing: %+v", got)
	}
	mkproc(100, "/venv/lib/ray/core/src/ray/raylet/raylet", "--raylet_socket_name=x", "--gcs-address=10.0.0.1:6379")
	mkproc(101, "/usr/bin/python", "worker.py", "--gcs-address=10.0.0.9:6379") // not a raylet
	if got := lookupDefaultAddress(ctx, env, proc); got.Address != "10.0.0.1:6379" {
		t.Errorf("one raylet: %+v", got)
	}
	mkproc(102, "raylet", "--python_worker_command=python w.py --gcs-address=10.0.0.2:6379 --x=1")
	if got := lookupDefaultAddress(ctx, env, proc); got.Address != "" || !reflect.DeepEqual(got.Raylets, []string{"10.0.0.1:6379", "10.0.0.2:6379"}) {
		t.Errorf("two raylets: %+v", got)
	}
	_ = os.MkdirAll(filepath.Join(tmp, "ray"), 0o755)
	_ = os.WriteFile(filepath.Join(tmp, "ray", "ray_current_cluster"), []byte("10.0.0.2:6379"), 0o644)
	if got := lookupDefaultAddress(ctx, env, proc); got.Address != "10.0.0.2:6379" || !strings.Contains(got.Source, "ray_current_cluster") {
		t.Errorf("file: %+v", got)
	}
	if got := lookupDefaultAddress(ctx, append(env, "RAY_ADDRESS=10.0.0.3:6379"), proc); got.Address != "10.0.0.3:6379" || got.Source != "env RAY_ADDRESS" {
		t.Errorf("env: %+v", got)
	}
	if got := lookupDefaultAddress(ctx, append(env, "RAY_ADDRESS=auto"), proc); got.Address != "10.0.0.2:6379" {
		t.Errorf("auto: %+v", got)
	}
	if got := lookupDefaultAddress(ctx, append(env, "RAY_ADDRESS=local"), proc); got.Address != "" {
		t.Errorf("local with two raylets: %+v", got)
	}
	if got := lookupDefaultAddress(ctx, append(env, "RAY_ADDRESS=http://127.0.0.1:8265"), proc); got.Address != "" {
		t.Errorf("url: %+v", got)
	}
	// TMPDIR is the fallback of RAY_TMPDIR.
	if got := lookupDefaultAddress(ctx, []string{"TMPDIR=" + tmp}, t.TempDir()); got.Address != "10.0.0.2:6379" {
		t.Errorf("TMPDIR: %+v", got)
	}
}

func TestVersionChecked(t *testing.T) {
	for v, want := range map[string]bool{"2.60.0": true, "2.40.0": true, "3.0.0": true, "2.39.9": false, "2.9.3": false, "": false, "x.y": false, "2.61.0rc1": true,
		"3.0.0.dev0": true, "2.60.0.post1": true, "2.40": true, "2.39.9rc1": false, "2": false, "2.x": false} {
		if versionChecked(v) != want {
			t.Errorf("versionChecked(%q) != %v", v, want)
		}
	}
	if v := parseCLIVersion("ray, version 2.60.0\n"); v != "2.60.0" {
		t.Errorf("parseCLIVersion: %q", v)
	}
}
