package localray

import (
	"slices"
	"testing"

	"github.com/castray/castray/sdk/ray/rayproc"
	"github.com/castray/castray/sdk/ray/rayproc/rayproctest"
)

// TestOwnerProcsFake: a head's processes are those marked by cwd, command line or
// environment, plus the members of the `ray start` process group while that group holds a
// marked one; zombies and look-alike dirs are not.
func TestOwnerProcsFake(t *testing.T) {
	const dir = "/tmp/castray-ray-t"
	root := t.TempDir()
	for _, p := range []rayproc.Process{
		{PID: 10, PGID: 10, Argv: []string{"/v/raylet", "--x=1"}, Cwd: dir + "/session_1"},                           // cwd
		{PID: 11, PGID: 11, Argv: []string{"/v/gcs_server", "--log_dir=" + dir + "/session_1/logs"}, Cwd: "/"},       // command line
		{PID: 12, PGID: 12, Argv: []string{"ray::DashboardAgent"}, Cwd: "/", Env: map[string]string{EnvMarker: dir}}, // environment
		{PID: 13, PGID: 13, Argv: []string{"ray::IDLE"}, Cwd: "/", Env: map[string]string{EnvMarker: dir + "x"}},     // another head
		{PID: 14, PGID: 10, Argv: []string{"ray-dashboard-NodeHead-0 (python3 -c x)"}, Cwd: "/"},                     // group 10
		{PID: 15, PGID: 15, Argv: []string{"python3", dir + "x/foo"}, Cwd: "/"},                                      // look-alike
		{PID: 16, PGID: 10, State: "Z", Argv: []string{"/v/raylet", "--temp_dir=" + dir}, Cwd: dir},                  // zombie
		{PID: 21, PGID: 20, Argv: []string{"sleep", "100"}, Cwd: "/"},                                                // group 20, unmarked
		{PID: 2, Comm: "kthreadd"},
	} {
		rayproctest.Write(t, root, p)
	}
	pids := func(ps []rayproc.Process) []int {
		var out []int
		for _, p := range ps {
			out = append(out, p.PID)
		}
		slices.Sort(out)
		return out
	}
	if got := pids(owner{tempDir: dir, pgid: 10, procRoot: root}.procs()); !slices.Equal(got, []int{10, 11, 12, 14}) {
		t.Errorf("group 10: %v, want [10 11 12 14]", got)
	}
	// Group 20 holds no marked process: a reused pgid pulls in nobody.
	if got := pids(owner{tempDir: dir, pgid: 20, procRoot: root}.procs()); !slices.Equal(got, []int{10, 11, 12}) {
		t.Errorf("group 20: %v, want [10 11 12]", got)
	}
	if got := (owner{procRoot: root}).procs(); got != nil {
		t.Errorf("no temp dir: %v", got)
	}
	if got := (owner{tempDir: dir, procRoot: root + "/missing"}).procs(); got != nil {
		t.Errorf("no /proc: %v", got)
	}

	// The stop order picks the raylet first and the GCS last by their roles.
	ps := owner{tempDir: dir, pgid: 10, procRoot: root}.procs()
	if got := pids(byRole(ps, func(r rayproc.Role) bool { return r == rayproc.RoleRaylet })); !slices.Equal(got, []int{10}) {
		t.Errorf("raylets: %v", got)
	}
	if got := pids(byRole(ps, func(r rayproc.Role) bool { return r != rayproc.RoleGCS })); !slices.Equal(got, []int{10, 12, 14}) {
		t.Errorf("all but the GCS: %v", got)
	}
}
