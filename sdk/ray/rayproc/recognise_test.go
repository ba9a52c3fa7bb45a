package rayproc_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// The live captures in testdata/ (see README.md there).
const (
	liveTempDir  = "/tmp/crt-3750609512"
	liveSession  = "session_2026-11-25_20-26-17_136359_24861"
	liveGCS      = "192.0.2.2:40743"
	liveHeadNode = "b11a4cc239148644a6176523d700bbd6e2f6bbf453e3c44448e2f324"
	liveCluster  = "3497e3e13ae74c21f8569b1f6433a125b4fb32fc7c303d535f667e97"

	explicitTempDir = "/tmp/crt-1610949189"
	explicitSession = "session_2026-11-25_20-23-23_346120_17941"
	explicitGCS     = "192.0.2.2:40519"
)

// liveProcesses returns the command lines captured from the live --port=0 head, with its
// temp dir replaced by root.
func liveProcesses(t testing.TB, root string) []rayproc.Process {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "live-2.60.0-port0.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rayproc.Process
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for pid := 24875; sc.Scan(); pid++ {
		var p struct {
			Comm string   `json:"comm"`
			Argv []string `json:"argv"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		for i, a := range p.Argv {
			p.Argv[i] = strings.ReplaceAll(a, liveTempDir, root)
		}
		out = append(out, rayproc.Process{PID: pid, Comm: p.Comm, Argv: p.Argv})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecogniseLiveProcesses runs the recogniser over the command lines of the live
// --port=0 head: every Ray process is recognised with its role, the helpers of Python's
// multiprocessing are not, and the flags give the head's facts.
func TestRecogniseLiveProcesses(t *testing.T) {
	root := "/tmp/crt-test"
	want := root + "/" + liveSession
	roles := map[rayproc.Role]int{}
	var gcsAddrs []string
	for _, p := range liveProcesses(t, root) {
		rp, ok := rayproc.Recognise(p)
		if !ok {
			if strings.HasPrefix(p.Argv[0], "ray") || strings.Contains(strings.Join(p.Argv, " "), "ray/_private/workers") {
				t.Errorf("not recognised: %v", p.Argv)
			}
			continue
		}
		roles[rp.Role]++
		if a := rp.GCSAddress(); a != "" {
			gcsAddrs = append(gcsAddrs, a)
		}
		switch rp.Role {
		case rayproc.RoleClientServer:
			if len(rp.SessionDirs) != 0 {
				t.Errorf("client server names a session: %v", rp.SessionDirs)
			}
			if a := rp.ListenAddress(); a != "192.0.2.2:43921" {
				t.Errorf("client server listens on %q", a)
			}
			continue
		case rayproc.RoleDashboardAgent, rayproc.RoleRuntimeEnvAgent, rayproc.RoleDashboardModule:
			if !rp.Titled || len(rp.Flags) != 0 || len(rp.SessionDirs) != 0 {
				t.Errorf("%s: titled %v, flags %v, dirs %v", rp.Role, rp.Titled, rp.Flags, rp.SessionDirs)
			}
			continue
		case rayproc.RoleDashboard:
			if a := rp.ListenAddress(); a != "127.0.0.1:33781" {
				t.Errorf("dashboard listens on %q", a)
			}
			if rp.TempDir() != root {
				t.Errorf("dashboard temp dir %q", rp.TempDir())
			}
		case rayproc.RoleRaylet:
			if rp.SessionName() != liveSession || rp.SessionDir() != want || rp.TempDir() != root || rp.NodeIP() != "192.0.2.2" ||
				rp.Flag("node_id") != liveHeadNode || rp.Flag("cluster_id") != liveCluster {
				t.Errorf("raylet facts: name %q dir %q temp %q ip %q flags %v", rp.SessionName(), rp.SessionDir(), rp.TempDir(), rp.NodeIP(), rp.Flags)
			}
			if p := rp.Ports(); p["min_worker_port"] != 10002 || p["max_worker_port"] != 19999 {
				t.Errorf("raylet ports %v", p)
			}
			if _, ok := rp.Ports()["node_manager_port"]; ok {
				t.Errorf("port 0 listed: %v", rp.Ports())
			}
		case rayproc.RoleGCS:
			// --gcs_server_port=0: the GCS picked its port and its flags do not say which.
			if rp.GCSAddress() != "" || rp.ListenAddress() != "" || rp.SessionName() != liveSession || rp.NodeIP() != "192.0.2.2" {
				t.Errorf("gcs facts: %q %v", rp.GCSAddress(), rp.Flags)
			}
		}
		if rp.Titled {
			t.Errorf("%s titled", rp.Role)
		}
		if len(rp.SessionDirs) != 1 || rp.SessionDirs[0] != want {
			t.Errorf("%s: session dirs %v, want [%s]", rp.Role, rp.SessionDirs, want)
		}
	}
	for r, n := range map[rayproc.Role]int{rayproc.RoleGCS: 1, rayproc.RoleRaylet: 1, rayproc.RoleDashboard: 1,
		rayproc.RoleMonitor: 1, rayproc.RoleLogMonitor: 1, rayproc.RoleClientServer: 1, rayproc.RoleDashboardAgent: 1,
		rayproc.RoleRuntimeEnvAgent: 1, rayproc.RoleDashboardModule: 9} {
		if roles[r] != n {
			t.Errorf("role %s seen %d times, want %d; all: %v", r, roles[r], n, roles)
		}
	}
	for _, a := range gcsAddrs {
		if a != liveGCS {
			t.Errorf("GCS address %q, want %s", a, liveGCS)
		}
	}
	if len(gcsAddrs) < 4 {
		t.Errorf("only %d processes named the GCS: %v", len(gcsAddrs), gcsAddrs)
	}

	idx := rayproc.NewIndex(liveProcesses(t, root))
	var matched []rayproc.Role
	for _, p := range idx.ForSession(liveSession, []string{want}) {
		matched = append(matched, p.Role)
	}
	slices.Sort(matched)
	if w := []rayproc.Role{rayproc.RoleDashboard, rayproc.RoleGCS, rayproc.RoleLogMonitor, rayproc.RoleMonitor, rayproc.RoleRaylet}; !slices.Equal(matched, w) {
		t.Errorf("ForSession: %v, want %v", matched, w)
	}
	if m := idx.ForSession(liveSession, []string{"/elsewhere/" + liveSession}); len(m) != 0 {
		t.Errorf("a copy of the session matched: %v", m)
	}
	if cs, ok := idx.ClientServerFor(liveGCS); !ok || cs.PID == 0 || cs.Role != rayproc.RoleClientServer {
		t.Errorf("ClientServerFor: %+v %v", cs, ok)
	}
	if _, ok := idx.ClientServerFor("192.0.2.2:1"); ok {
		t.Error("client server of another GCS")
	}
	if got := idx.SessionsOnGCSPort(40743); !slices.Equal(got, []string{liveSession}) {
		t.Errorf("SessionsOnGCSPort: %v", got)
	}
	if got := rayproc.RayletGCSAddresses(liveProcesses(t, root)); !slices.Equal(got, []string{liveGCS}) {
		t.Errorf("RayletGCSAddresses: %v", got)
	}
}

// TestRecogniseCapturedTable reads the raycluster capture's process table (command lines
// cut at 400 bytes, split on spaces): the GCS, raylet, dashboard and monitors still name
// the session.
func TestRecogniseCapturedTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0-explicit.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	matched := map[rayproc.Role]bool{}
	var ps []rayproc.Process
	for _, line := range strings.Split(string(data), "\n") {
		cols := strings.SplitN(line, "\t", 5)
		if len(cols) != 5 || strings.HasPrefix(line, "#") {
			continue
		}
		p := rayproc.Process{Comm: cols[2], Argv: strings.Fields(cols[4])}
		ps = append(ps, p)
		idx := rayproc.NewIndex([]rayproc.Process{p})
		for _, rp := range idx.ForSession(explicitSession, []string{explicitTempDir + "/" + explicitSession}) {
			matched[rp.Role] = true
		}
	}
	for _, r := range []rayproc.Role{rayproc.RoleGCS, rayproc.RoleRaylet, rayproc.RoleDashboard, rayproc.RoleMonitor, rayproc.RoleLogMonitor} {
		if !matched[r] {
			t.Errorf("%s not matched to the session; matched %v", r, matched)
		}
	}
	idx := rayproc.NewIndex(ps)
	if got := idx.SessionsOnGCSPort(40519); !slices.Equal(got, []string{explicitSession}) {
		t.Errorf("SessionsOnGCSPort: %v", got)
	}
	named := 0
	for _, rp := range idx.Procs {
		if a := rp.GCSAddress(); a != "" {
			named++
			if a != explicitGCS {
				t.Errorf("%s names GCS %q, want %s", rp.Role, a, explicitGCS)
			}
		}
	}
	if named < 2 {
		t.Errorf("only %d processes named the GCS", named)
	}
}

func TestRecogniseForms(t *testing.T) {
	for _, tc := range []struct {
		argv   []string
		role   rayproc.Role
		titled bool
	}{
		{[]string{"ray::IDLE"}, rayproc.RoleWorker, true},
		{[]string{"ray::Counter.incr    "}, rayproc.RoleWorker, true},
		{[]string{"ray::DashboardAgent"}, rayproc.RoleDashboardAgent, true},
		{[]string{"ray::RuntimeEnvAgent"}, rayproc.RoleRuntimeEnvAgent, true},
		{[]string{"ray-dashboard-NodeHead-0 (python3 -c x)"}, rayproc.RoleDashboardModule, true},
		{[]string{"/v/bin/python3", "-u", "/v/ray/_private/workers/default_worker.py", "--gcs-address=10.0.0.1:6379", "--session-name=session_x"}, rayproc.RoleWorker, false},
		{[]string{`C:\v\python.exe`, `C:\v\ray\dashboard\dashboard.py`, "--host=0.0.0.0", "--port=8265"}, rayproc.RoleDashboard, false},
		{[]string{`C:\v\ray\core\src\ray\raylet\raylet.exe`, "--gcs-address=127.0.0.1:65416"}, rayproc.RoleRaylet, false},
		{[]string{"/opt/ray/gcs_server", "--node-ip-address=10.0.0.1", "--gcs_server_port=6379"}, rayproc.RoleGCS, false},
		{[]string{"python3", "-m", "ray.util.client.server", "--address=[::1]:6379", "--host=::1", "--port=10001"}, rayproc.RoleClientServer, false},
		{[]string{"python3", "-u", "/v/ray/dashboard/agent.py", "--gcs-address=10.0.0.1:6379"}, rayproc.RoleDashboardAgent, false},
		{[]string{"python3", "-u", "/v/ray/_private/runtime_env/agent/main.py"}, rayproc.RoleRuntimeEnvAgent, false},
	} {
		rp, ok := rayproc.Recognise(rayproc.Process{PID: 7, Argv: tc.argv})
		if !ok || rp.Role != tc.role || rp.Titled != tc.titled || rp.PID != 7 {
			t.Errorf("%q: %v %s titled=%v", tc.argv, ok, rp.Role, rp.Titled)
		}
	}
	for _, argv := range [][]string{
		nil, {""}, {"ray::"}, {"ray"}, {"ray", "start", "--head"}, {"python3", "-c", "print(1)"},
		{"python3", "--x", "/v/ray/dashboard/dashboard.py"}, {"/usr/bin/bash", "--gcs-address=1.2.3.4:5"},
	} {
		if rp, ok := rayproc.Recognise(rayproc.Process{Argv: argv}); ok {
			t.Errorf("%q recognised as %s", argv, rp.Role)
		}
	}

	rp, _ := rayproc.Recognise(rayproc.Process{Argv: []string{"gcs_server", "--node-ip-address=10.0.0.1", "--gcs_server_port=6379", "--gcs_server_port=1", "--session-dir=tmp/rel"}})
	if rp.GCSAddress() != "10.0.0.1:6379" || rp.ListenAddress() != "10.0.0.1:6379" || rp.SessionDir() != "" {
		t.Errorf("gcs: %q %q %q", rp.GCSAddress(), rp.ListenAddress(), rp.SessionDir())
	}
	rp, _ = rayproc.Recognise(rayproc.Process{Argv: []string{"python3", "-m", "ray.util.client.server", "--address=[::1]:6379", "--host=::1", "--port=10001"}})
	if rp.GCSAddress() != "[::1]:6379" || rp.ListenAddress() != "[::1]:10001" {
		t.Errorf("client server: %q %q", rp.GCSAddress(), rp.ListenAddress())
	}
	for _, bad := range []string{"--gcs-address=None", "--gcs-address=10.0.0.1", "--gcs-address=10.0.0.1:0", "--gcs-address=auto", "--gcs-address=http://h:1", "--gcs-address=a b:1"} {
		rp, _ := rayproc.Recognise(rayproc.Process{Argv: []string{"raylet", bad}})
		if a := rp.GCSAddress(); a != "" {
			t.Errorf("%s gave GCS address %q", bad, a)
		}
	}
}

// TestRayletGCSAddresses follows Ray's find_gcs_addresses: only processes whose executable
// name contains "raylet", every --gcs-address= word of their arguments (also inside the
// worker command), values taken as they are.
func TestRayletGCSAddresses(t *testing.T) {
	ps := []rayproc.Process{
		{PID: 100, Argv: []string{"/venv/lib/ray/core/src/ray/raylet/raylet", "--raylet_socket_name=x", "--gcs-address=10.0.0.1:6379"}},
		{PID: 101, Argv: []string{"/usr/bin/python", "worker.py", "--gcs-address=10.0.0.9:6379"}}, // not a raylet
		{PID: 102, Argv: []string{"raylet", "--python_worker_command=python w.py --gcs-address=10.0.0.2:6379 --x=1"}},
		{PID: 103, Argv: []string{"raylet", "--gcs-address=None", "--gcs-address=", "--gcs-address=10.0.0.1:6379"}},
		{PID: 104, Argv: []string{"ray::raylet-ish", "--gcs-address=10.0.0.7:6379"}},
		{PID: 105},
	}
	if got := rayproc.RayletGCSAddresses(ps); !reflect.DeepEqual(got, []string{"10.0.0.1:6379", "10.0.0.2:6379"}) {
		t.Errorf("RayletGCSAddresses: %v", got)
	}
	if got := rayproc.RayletGCSAddresses(nil); len(got) != 0 {
		t.Errorf("no processes: %v", got)
	}
}

func TestSessionDirsIn(t *testing.T) {
	for in, want := range map[string][]string{
		"--log_dir=/tmp/x/session_2026_1/logs":                       {"/tmp/x/session_2026_1"},
		"/a/session_1/sockets/raylet /b/session_2 /a/session_1/x":    {"/a/session_1", "/b/session_2", "/a/session_1"},
		"--session-dir=/tmp/r/session_latest":                        nil,
		"relative/session_1/logs":                                    nil,
		"-Dray.object-store.socket-name=/t/session_9/sockets/plasma": {"/t/session_9"},
		"/x/session_":               nil,
		"/x/session_a/../session_b": {"/x/session_a"},
	} {
		got := rayproc.SessionDirsIn(in)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("SessionDirsIn(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "65535": 65535, "0": 0, "65536": 0, "-1": 0, "+1": 0, " 1": 0, "": 0, "0080": 80, "123456": 0} {
		n, ok := rayproc.ParsePort(s)
		if n != want || ok != (want != 0) {
			t.Errorf("ParsePort(%q) = %d, %v", s, n, ok)
		}
	}
}
