package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray/rayproc"
	"github.com/castray/castray/sdk/ray/rayproc/rayproctest"
)

func TestInfoAndSchema(t *testing.T) {
	d := plugintest.Discovery(t, New(hclog.NewNullLogger()))
	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "tmpdir" || info.GetKind() != sdk.KindDiscovery || info.GetPluginVersion() != "0.1.0" ||
		!slices.Equal(info.GetApiVersions(), []uint32{sdk.APIVersion}) {
		t.Fatalf("info = %v", info)
	}
	s, err := d.ConfigSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dirs": "[]", "include_defaults": "true", "max_sessions": "50", "check_processes": "true", "check_ports": "true"}
	for _, f := range s.GetFields() {
		def, ok := want[f.GetName()]
		if !ok {
			t.Errorf("unexpected key %q", f.GetName())
			continue
		}
		if f.GetDefaultJson() != def || f.GetType() == "" || f.GetDescription() == "" {
			t.Errorf("field %v: default %q want %q", f, f.GetDefaultJson(), def)
		}
		delete(want, f.GetName())
	}
	if len(want) != 0 {
		t.Errorf("schema lacks %v", want)
	}
}

func TestConfigureErrorsNameKeys(t *testing.T) {
	d := plugintest.Discovery(t, New(hclog.NewNullLogger()))
	for raw, key := range map[string]string{
		`{"dirz": []}`:                       "dirz",
		`{"max_sessions": 0}`:                "max_sessions",
		`{"max_sessions": 100000}`:           "max_sessions",
		`{"max_sessions": "5"}`:              "max_sessions",
		`{"include_defaults": "yes"}`:        "include_defaults",
		`{"check_ports": 1}`:                 "check_ports",
		`{"dirs": ["/tmp/ray", ""]}`:         "dirs[1]",
		`{"dirs": ["~bob/ray"]}`:             "dirs[0]",
		`{"dirs": "/tmp/ray"}`:               "dirs",
		`{"check_processes": true} {}`:       "",
		`{"dirs": ["/tmp/ray", " \t "]}`:     "dirs[1]",
		`{"max_sessions": -3, "dirs": [""]}`: "dirs[0]",
	} {
		problems, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(raw)})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		found := false
		for _, p := range problems {
			if p.GetKey() == key {
				found = true
			}
		}
		if !found {
			t.Errorf("Configure(%s) = %v, want an error naming %q", raw, problems, key)
		}
	}
	for _, ok := range []string{``, `{}`, `{"dirs": ["~/ray_tmp", "./x", "/tmp/ray"], "include_defaults": false, "max_sessions": 1, "check_processes": false, "check_ports": false}`} {
		if problems, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(ok)}); err != nil || problems != nil {
			t.Errorf("Configure(%s) = %v, %v", ok, problems, err)
		}
	}
}

// fixture is a temp root holding copies of the real sessions plus broken ones.
type fixture struct {
	root      string // the live 2.60 --port=0 head's temp dir, with the broken sessions
	explicit  string // the raycluster capture's temp dir (stale)
	windows   string // the Windows fixture's temp dir (stale)
	corrupt   string // name of the session with corrupt files
	unreadble string // name of the session whose dir cannot be listed
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{
		root:      filepath.Join(base, "live"),
		explicit:  filepath.Join(base, "explicit"),
		windows:   filepath.Join(base, "ray_temp"),
		corrupt:   "session_2026-01-02_03-04-05_000001_42",
		unreadble: "session_2026-01-01_00-00-00_000001_7",
	}
	// The live head: its whole captured tree, ray_current_cluster and session_latest.
	copyTree(t, liveDir, f.root)
	must(t, os.Symlink(filepath.Join(f.root, liveSession), filepath.Join(f.root, "session_latest")))
	// A corrupt session: bad JSON, a bad port file, a FIFO where a log should be is in
	// fifo_test.go.
	c := filepath.Join(f.root, f.corrupt)
	must(t, os.MkdirAll(filepath.Join(c, "logs"), 0o755))
	must(t, os.WriteFile(filepath.Join(c, "ports_by_node.json"), []byte(`{"127.0.0.1:/tmp/ray/x": {"gcs_server_port": 6380`), 0o644))
	must(t, os.WriteFile(filepath.Join(c, "node_ip_address.json"), []byte(`["127.0.0.1"]`), 0o644))
	must(t, os.WriteFile(filepath.Join(c, "gcs_server_port_"+liveHeadNode), []byte("sixty"), 0o644))
	must(t, os.WriteFile(filepath.Join(c, "logs", "gcs_server.out"), []byte("\x00\xff garbage\n"), 0o644))
	// A symlink loop and a dangling link named like sessions.
	must(t, os.Symlink("session_loop", filepath.Join(f.root, "session_loop")))
	must(t, os.Symlink("/nonexistent/session_x", filepath.Join(f.root, "session_dangling")))
	// A session dir that cannot be listed (denyFS), and a stray file named like one.
	must(t, os.MkdirAll(filepath.Join(f.root, f.unreadble), 0o755))
	must(t, os.WriteFile(filepath.Join(f.root, "session_notes.txt"), []byte("x"), 0o644))

	// The raycluster capture (explicit --port), long stopped.
	copyTree(t, explicitDir, f.explicit)
	must(t, os.Symlink(filepath.Join(f.explicit, explicitSession), filepath.Join(f.explicit, "session_latest")))
	// The Windows session, as the original CastRay's ./ray_temp held it.
	copyTree(t, winDir, f.windows)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) options(t *testing.T, procs ProcessLister, ports PortChecker) Options {
	o := testOptions(t, procs, ports)
	o.fs = denyFS{deny: map[string]bool{filepath.Join(f.root, f.unreadble): true}}
	return o
}

func (f *fixture) config() map[string]any {
	return map[string]any{"dirs": []string{f.root, f.explicit, f.windows}, "include_defaults": false}
}

// TestDiscoverFixtures is the main scenario: a live 2.60 head (its processes faked from
// the capture), a stale 2.60 head, the stale Windows session, and broken entries.
func TestDiscoverFixtures(t *testing.T) {
	f := newFixture(t)
	procs := &fakeProcs{procs: liveProcesses(t, f.root)}
	ports := &fakePorts{open: map[string]bool{liveGCS: true}}
	d := serve(t, f.options(t, procs, ports), f.config())
	sink, sum := discover(t, d, nil)

	live := sink.bySession(liveSession)
	if live == nil {
		t.Fatalf("no live candidate; got %v", sink.Candidates())
	}
	if live.GetStatus() != sdk.StatusActive || live.GetGcsAddress() != liveGCS || live.GetDashboardUrl() != liveDash ||
		live.GetClientAddress() != liveClient || live.GetClusterId() != liveCluster || live.GetRayVersion() != "2.60.0" ||
		live.GetSessionDir() != filepath.Join(f.root, liveSession) || live.GetNodeCount() != -1 || live.GetSource() != "tmpdir" {
		t.Errorf("live candidate = %v", live)
	}
	for k, v := range map[string]string{"session_latest": "true", "ray_current_cluster": "true", "node_ip": "192.0.2.2",
		"head_node_id": liveHeadNode, "gcs_port": "40743", "temp_dir": f.root} {
		if live.GetAttributes()[k] != v {
			t.Errorf("live attribute %s = %q, want %q", k, live.GetAttributes()[k], v)
		}
	}
	for _, ev := range []string{"live gcs_server pid", "raylet pid", "dashboard pid", "TCP connect " + liveGCS + " → accepted", "session_latest"} {
		if !hasEvidence(live, ev) {
			t.Errorf("live evidence lacks %q: %q", ev, live.GetEvidence())
		}
	}

	expl := sink.bySession(explicitSession)
	if expl == nil || expl.GetStatus() != sdk.StatusInactive || expl.GetGcsAddress() != explicitGCS ||
		expl.GetClusterId() != explicitCluster || expl.GetDashboardUrl() != "http://127.0.0.1:35509" {
		t.Errorf("stale 2.60 candidate = %v", expl)
	} else {
		if !hasEvidence(expl, "no live Ray process names this session") || !hasEvidence(expl, "refused") {
			t.Errorf("stale evidence = %q", expl.GetEvidence())
		}
		if expl.GetAttributes()["gcs_host_source"] != "ray_current_cluster" {
			t.Errorf("stale GCS host from %q", expl.GetAttributes()["gcs_host_source"])
		}
	}

	win := sink.bySession(winSession)
	if win == nil || win.GetStatus() != sdk.StatusInactive || win.GetGcsAddress() != winGCS || win.GetDashboardUrl() != "" ||
		win.GetClusterId() != winCluster || win.GetRayVersion() != "2.48.0" {
		t.Errorf("windows candidate = %v", win)
	} else {
		a := win.GetAttributes()
		if a["platform"] != "windows" || !strings.HasPrefix(a["dashboard"], "disabled") || a["node_ip"] != "127.0.0.1" ||
			a["dashboard_agent_listen_port"] != "52365" || a["runtime_env_agent_port"] != "64325" {
			t.Errorf("windows attributes = %v", a)
		}
	}

	cor := sink.bySession(f.corrupt)
	if cor == nil || cor.GetStatus() != sdk.StatusInactive || cor.GetGcsAddress() != "" {
		t.Errorf("corrupt candidate = %v", cor)
	}
	for _, sub := range []string{"ports_by_node.json", "node_ip_address.json", "gcs_server_port_"} {
		if len(sink.notesAbout(sub)) == 0 {
			t.Errorf("no note about %s; notes %v", sub, sink.Notes())
		}
	}
	if n := sink.notesAbout("session_loop"); len(n) != 1 || !strings.Contains(n[0], "warn") {
		t.Errorf("symlink loop notes = %v", n)
	}
	if n := sink.notesAbout("session_dangling"); len(n) != 1 {
		t.Errorf("dangling link notes = %v", n)
	}
	unr := sink.bySession(f.unreadble)
	if unr == nil || unr.GetStatus() != sdk.StatusInactive || !hasEvidence(unr, "unreadable") {
		t.Errorf("unreadable candidate = %v", unr)
	}
	if n := sink.notesAbout("session dir unreadable"); len(n) != 1 {
		t.Errorf("unreadable notes = %v", n)
	}
	if sink.bySession("session_loop") != nil || sink.bySession("session_notes.txt") != nil || sink.bySession("session_latest") != nil {
		t.Errorf("non-sessions reported: %v", sink.Candidates())
	}
	if len(sink.Candidates()) != 5 || sum.GetCandidates() != 5 {
		t.Errorf("%d candidates (summary %d), want 5", len(sink.Candidates()), sum.GetCandidates())
	}
	if sum.GetProbes() == 0 {
		t.Errorf("summary = %v", sum)
	}
	// Only local addresses were dialled: the live GCS, the stale ones.
	for _, a := range ports.called() {
		if !slices.Contains([]string{liveGCS, explicitGCS, winGCS}, a) {
			t.Errorf("dialled %s", a)
		}
	}
}

// TestPortReusedByAnotherSession: a stale session whose GCS port a live session now uses
// is inactive, without a probe.
func TestPortReusedByAnotherSession(t *testing.T) {
	f := newFixture(t)
	// The stale explicit-port session claims the live head's port.
	sess := filepath.Join(f.explicit, explicitSession)
	must(t, os.WriteFile(filepath.Join(sess, "gcs_server_port_a1fd542f430d45f8326ef0db2840ef93f1b525b5ebaabee5e9d8d407"), []byte("40743"), 0o644))
	must(t, os.WriteFile(filepath.Join(f.explicit, "ray_current_cluster"), []byte(liveGCS), 0o644))
	ports := &fakePorts{open: map[string]bool{liveGCS: true}}
	d := serve(t, f.options(t, &fakeProcs{procs: liveProcesses(t, f.root)}, ports), f.config())
	sink, _ := discover(t, d, nil)
	c := sink.bySession(explicitSession)
	if c == nil || c.GetStatus() != sdk.StatusInactive || !hasEvidence(c, "now belongs to live session "+liveSession) {
		t.Fatalf("candidate = %v", c)
	}
	if !hasEvidence(c, "disagreeing: logs/gcs_server.out says GCS port 40519") {
		t.Errorf("disagreement not reported: %q", c.GetEvidence())
	}
}

// TestPortAnswersWithoutProcess: no process names the session but its GCS port answers
// and no live session owns it: unknown, not active.
func TestPortAnswersWithoutProcess(t *testing.T) {
	f := newFixture(t)
	ports := &fakePorts{open: map[string]bool{liveGCS: true, winGCS: true}}
	d := serve(t, f.options(t, &fakeProcs{}, ports), f.config())
	sink, _ := discover(t, d, nil)
	for _, name := range []string{liveSession, winSession} {
		c := sink.bySession(name)
		if c == nil || c.GetStatus() != sdk.StatusUnknown || !hasEvidence(c, "answers but no visible process") {
			t.Errorf("%s = %v", name, c)
		}
	}
	if c := sink.bySession(explicitSession); c == nil || c.GetStatus() != sdk.StatusInactive {
		t.Errorf("explicit = %v", c)
	}
}

// TestDiscoverReadsProcFS runs the default process reader (rayproc) over a fake /proc that
// holds the live head's captured processes, a zombie raylet of the stale head and a kernel
// thread: the live session is active by its processes, the stale one inactive.
func TestDiscoverReadsProcFS(t *testing.T) {
	f := newFixture(t)
	proc := t.TempDir()
	for _, p := range liveProcesses(t, f.root) {
		rayproctest.Write(t, proc, p)
	}
	rayproctest.Write(t, proc, rayproc.Process{PID: 17950, State: "Z",
		Argv: []string{"raylet", "--session_dir=" + filepath.Join(f.explicit, explicitSession), "--gcs-address=" + explicitGCS}})
	rayproctest.Write(t, proc, rayproc.Process{PID: 2, Comm: "kthreadd"})
	ports := &fakePorts{open: map[string]bool{liveGCS: true}}
	d := serve(t, f.options(t, rayproc.Lister{Root: proc}, ports), f.config())
	sink, _ := discover(t, d, nil)
	live := sink.bySession(liveSession)
	if live == nil || live.GetStatus() != sdk.StatusActive || live.GetClientAddress() != liveClient || live.GetDashboardUrl() != liveDash {
		t.Fatalf("live = %v", live)
	}
	if pids := live.GetAttributes()["pids"]; !strings.Contains(pids, "gcs_server=24875") || !strings.Contains(pids, "raylet=") {
		t.Errorf("live pids %q", pids)
	}
	if c := sink.bySession(explicitSession); c == nil || c.GetStatus() != sdk.StatusInactive || !hasEvidence(c, "no live Ray process names this session") {
		t.Errorf("stale = %v", c)
	}
}

// TestWithoutProcessTable: the GCS port alone decides; with no check at all, unknown.
func TestWithoutProcessTable(t *testing.T) {
	f := newFixture(t)
	ports := &fakePorts{open: map[string]bool{liveGCS: true}}
	for _, tc := range []struct {
		name  string
		procs ProcessLister
		cfg   map[string]any
		live  sdk.ClusterStatus
		stale sdk.ClusterStatus
	}{
		{"no /proc", rayproc.Lister{Root: filepath.Join(t.TempDir(), "no-proc")}, nil, sdk.StatusActive, sdk.StatusInactive},
		{"check_processes=false", &fakeProcs{procs: liveProcesses(t, f.root)}, map[string]any{"check_processes": false}, sdk.StatusActive, sdk.StatusInactive},
		{"no checks", &fakeProcs{procs: liveProcesses(t, f.root)}, map[string]any{"check_processes": false, "check_ports": false}, sdk.StatusUnknown, sdk.StatusUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			d := serve(t, f.options(t, tc.procs, ports), cfg)
			sink, _ := discover(t, d, nil)
			if c := sink.bySession(liveSession); c == nil || c.GetStatus() != tc.live {
				t.Errorf("live = %v", c)
			}
			if c := sink.bySession(explicitSession); c == nil || c.GetStatus() != tc.stale {
				t.Errorf("stale = %v", c)
			}
			if c := sink.bySession(f.corrupt); c == nil || c.GetStatus() != sdk.StatusUnknown {
				t.Errorf("corrupt (no GCS address) = %v", c)
			}
		})
	}
}

// TestScopeAndOverrides: the request's hosts narrow the GCS probes; config_json overrides
// the configuration for one call.
func TestScopeAndOverrides(t *testing.T) {
	f := newFixture(t)
	ports := &fakePorts{open: map[string]bool{liveGCS: true}}
	d := serve(t, f.options(t, &fakeProcs{err: rayproc.ErrNoProcessTable}, ports), map[string]any{"include_defaults": false})
	override, _ := json.Marshal(map[string]any{"dirs": []string{f.root}})
	sink, _ := discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"10.0.0.0/8", "not a host!"}, ConfigJson: override, TimeoutMs: 5000})
	if len(ports.called()) != 0 {
		t.Errorf("dialled %v outside the request's hosts", ports.called())
	}
	c := sink.bySession(liveSession)
	if c == nil || c.GetStatus() != sdk.StatusUnknown || !hasEvidence(c, "outside the request's hosts") {
		t.Errorf("live = %v", c)
	}
	if sink.bySession(winSession) != nil {
		t.Errorf("override ignored: windows session reported")
	}
	if len(sink.notesAbout("not a host")) != 1 {
		t.Errorf("bad host not noted: %v", sink.Notes())
	}
	// Ports narrow the scope too.
	sink, _ = discover(t, d, &sdk.DiscoverRequest{Ports: []uint32{6379}, ConfigJson: override})
	if c := sink.bySession(liveSession); c == nil || !hasEvidence(c, "outside the request's ports") {
		t.Errorf("live = %v", c)
	}
	// Hosts that include the GCS host allow the probe.
	sink, _ = discover(t, d, &sdk.DiscoverRequest{Hosts: []string{"192.0.2.2"}, ConfigJson: override})
	if c := sink.bySession(liveSession); c == nil || c.GetStatus() != sdk.StatusActive {
		t.Errorf("live = %v", c)
	}
	// A bad override fails the call, naming the key.
	_, err := d.Discover(context.Background(), &sdk.DiscoverRequest{ConfigJson: []byte(`{"max_sessions": 0}`)}, &collectSink{})
	if err == nil || !strings.Contains(err.Error(), "max_sessions") {
		t.Errorf("bad override: %v", err)
	}
}

// TestMaxSessionsAndManySessions: newest first, the rest counted in a note; many sessions
// in one root are all reported.
func TestMaxSessionsAndManySessions(t *testing.T) {
	root := t.TempDir()
	const n = 30
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("session_2026-01-%02d_10-00-00_000000_%d", i+1, 100+i)
		dst := filepath.Join(root, name)
		copyTree(t, filepath.Join(winDir, winSession), dst)
	}
	ports := &fakePorts{}
	opts := testOptions(t, &fakeProcs{}, ports)
	d := serve(t, opts, map[string]any{"dirs": []string{root}, "include_defaults": false})
	sink, sum := discover(t, d, nil)
	if len(sink.Candidates()) != n || sum.GetCandidates() != n {
		t.Fatalf("%d candidates, want %d", len(sink.Candidates()), n)
	}
	d = serve(t, opts, map[string]any{"dirs": []string{root}, "include_defaults": false, "max_sessions": 3})
	sink, _ = discover(t, d, nil)
	var names []string
	for _, c := range sink.Candidates() {
		names = append(names, c.GetSessionName())
	}
	slices.Sort(names)
	want := []string{"session_2026-01-28_10-00-00_000000_127", "session_2026-01-29_10-00-00_000000_128", "session_2026-01-30_10-00-00_000000_129"}
	if !slices.Equal(names, want) {
		t.Errorf("max_sessions=3 reported %v, want %v", names, want)
	}
	if n := sink.notesAbout("only the newest 3"); len(n) != 1 {
		t.Errorf("notes = %v", sink.Notes())
	}
}

// TestDefaultRoots: $RAY_TMPDIR/ray, $TMPDIR/ray, ~/ray_tmp, ./ray_temp, ./ray_tmp, a
// configured session dir and a configured parent of "ray/"; the same dir reached twice is
// read once.
func TestDefaultRoots(t *testing.T) {
	base := t.TempDir()
	home, cwd := filepath.Join(base, "home"), filepath.Join(base, "cwd")
	place := func(dir, name string) {
		copyTree(t, filepath.Join(winDir, winSession), filepath.Join(dir, name))
	}
	place(filepath.Join(base, "raytmpdir", "ray"), "session_2026-01-01_00-00-00_000001_1")
	place(filepath.Join(base, "tmpdir", "ray"), "session_2026-01-01_00-00-00_000002_2")
	place(filepath.Join(home, "ray_tmp"), "session_2026-01-01_00-00-00_000003_3")
	place(filepath.Join(cwd, "ray_temp"), "session_2026-01-01_00-00-00_000004_4")
	place(filepath.Join(cwd, "ray_tmp"), "session_2026-01-01_00-00-00_000005_5")
	place(filepath.Join(base, "parent", "ray"), "session_2026-01-01_00-00-00_000006_6")
	place(filepath.Join(base, "single"), "session_2026-01-01_00-00-00_000007_7")
	place(filepath.Join(base, "single"), "session_2026-01-01_00-00-00_000008_8") // beside, not configured
	must(t, os.Symlink(filepath.Join(base, "tmpdir", "ray"), filepath.Join(base, "alias")))
	env := map[string]string{"RAY_TMPDIR": filepath.Join(base, "raytmpdir"), "TMPDIR": filepath.Join(base, "tmpdir")}
	opts := Options{
		Processes: &fakeProcs{}, Ports: &fakePorts{},
		Getenv:         func(k string) string { return env[k] },
		HomeDir:        func() (string, error) { return home, nil },
		WorkDir:        func() (string, error) { return cwd, nil },
		InterfaceAddrs: localAddrs,
	}
	d := serve(t, opts, map[string]any{"dirs": []string{
		filepath.Join(base, "parent"),
		filepath.Join(base, "single", "session_2026-01-01_00-00-00_000007_7"),
		filepath.Join(base, "alias"),
		filepath.Join(base, "missing"),
	}})
	sink, _ := discover(t, d, nil)
	got := map[string]int{}
	for _, c := range sink.Candidates() {
		if strings.HasPrefix(c.GetSessionDir(), base) {
			got[c.GetSessionName()]++
		}
	}
	for i := 1; i <= 7; i++ {
		name := fmt.Sprintf("session_2026-01-01_00-00-00_%06d_%d", i, i)
		if got[name] != 1 {
			t.Errorf("%s reported %d times; got %v", name, got[name], got)
		}
	}
	if got["session_2026-01-01_00-00-00_000008_8"] != 0 {
		t.Errorf("a session beside a configured session dir was read")
	}
	if n := sink.notesAbout("does not exist"); len(n) != 1 || !strings.Contains(n[0], "missing") {
		t.Errorf("missing dir notes = %v", n)
	}

	// A session dir and its parent both configured: the parent is still read whole, and
	// the session reported once.
	d = serve(t, opts, map[string]any{"include_defaults": false, "dirs": []string{
		filepath.Join(base, "single", "session_2026-01-01_00-00-00_000007_7"),
		filepath.Join(base, "single"),
	}})
	sink, _ = discover(t, d, nil)
	got = map[string]int{}
	for _, c := range sink.Candidates() {
		got[c.GetSessionName()]++
	}
	if len(got) != 2 || got["session_2026-01-01_00-00-00_000007_7"] != 1 || got["session_2026-01-01_00-00-00_000008_8"] != 1 {
		t.Errorf("session dir + parent: %v", got)
	}
}

// TestCancel: a process table or a GCS probe that hangs does not hold Discover past its
// context, over gRPC and called directly; afterwards none of the plugin's goroutines is
// left.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		procs *fakeProcs
		ports *fakePorts
	}{
		{"process table", &fakeProcs{block: true}, &fakePorts{}},
		{"port probe", &fakeProcs{}, &fakePorts{block: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := f.options(t, tc.procs, tc.ports)
			raw, _ := json.Marshal(f.config())
			impl := NewWithOptions(hclog.NewNullLogger(), opts)
			if p, err := impl.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw}); p != nil || err != nil {
				t.Fatal(p, err)
			}
			run := func(d sdk.Discoverer) {
				t.Helper()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					_, err := d.Discover(ctx, &sdk.DiscoverRequest{ProbeTimeoutMs: 60000}, &collectSink{})
					done <- err
				}()
				time.Sleep(100 * time.Millisecond)
				cancel()
				select {
				case <-done:
				case <-time.After(3 * time.Second):
					t.Fatal("Discover did not return after cancel")
				}
			}
			// Over gRPC, as the daemon calls it.
			run(serve(t, opts, f.config()))
			// Directly, to count goroutines without gRPC's own.
			before := runtime.NumGoroutine()
			run(impl)
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if g := runtime.NumGoroutine(); g > before {
				t.Errorf("%d goroutines after cancel, %d before", g, before)
			}
		})
	}
	// The request's own budget ends the call too, and says so in the summary.
	d := serve(t, f.options(t, &fakeProcs{}, &fakePorts{block: true}), f.config())
	t0 := time.Now()
	sum, err := d.Discover(context.Background(), &sdk.DiscoverRequest{TimeoutMs: 300, ProbeTimeoutMs: 60000}, &collectSink{})
	if err != nil || time.Since(t0) > 3*time.Second {
		t.Errorf("TimeoutMs 300: %v after %v", err, time.Since(t0))
	}
	if len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "stopped before every session was read") {
		t.Errorf("summary errors %q", sum.GetErrors())
	}
}

// TestSinkErrorStops: when the daemon goes away mid-stream the call ends with its error.
func TestSinkErrorStops(t *testing.T) {
	f := newFixture(t)
	impl := NewWithOptions(hclog.NewNullLogger(), f.options(t, &fakeProcs{}, &fakePorts{}))
	raw, _ := json.Marshal(f.config())
	if p, err := impl.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw}); p != nil || err != nil {
		t.Fatal(p, err)
	}
	_, err := impl.Discover(context.Background(), &sdk.DiscoverRequest{}, failingSink{})
	if err != errBoom {
		t.Errorf("Discover = %v, want the sink's error", err)
	}
}

type failingSink struct{}

func (failingSink) Candidate(*sdk.ClusterCandidate) error { return errBoom }
func (failingSink) Note(*sdk.DiscoverNote) error          { return errBoom }
