package rayproc_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/castray/castray/sdk/ray/rayproc"
	"github.com/castray/castray/sdk/ray/rayproc/rayproctest"
)

func pids(ps []rayproc.Process) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	slices.Sort(out)
	return out
}

// TestListerFake reads a /proc-shaped tree: zombies, dead tasks, non-pid entries and the
// process <root>/self names are left out; kernel threads are listed without a command line;
// stat fields, cwd and the asked-for environment variables are read.
func TestListerFake(t *testing.T) {
	root := t.TempDir()
	rayproctest.Write(t, root, rayproc.Process{PID: 100, PPID: 1, PGID: 100, Argv: []string{"python3", "/v/ray/dashboard/dashboard.py", "--session-dir=/t/session_a"},
		Cwd: "/t", Env: map[string]string{"CASTRAY_LOCALRAY": "/t", "HOME": "/root"}})
	rayproctest.Write(t, root, rayproc.Process{PID: 101, State: "Z", Comm: "raylet"})
	rayproctest.Write(t, root, rayproc.Process{PID: 102, Comm: "kthreadd"})
	rayproctest.Write(t, root, rayproc.Process{PID: 103, PGID: 100, Comm: "a) b) (c", Argv: []string{"gcs_server", "--log_dir=/t/session_a/logs"}})
	rayproctest.Write(t, root, rayproc.Process{PID: 104, State: "X", Argv: []string{"gone"}})
	rayproctest.Write(t, root, rayproc.Process{PID: 105, Argv: []string{"castray"}})
	must(t, os.Symlink("105", filepath.Join(root, "self")))
	must(t, os.MkdirAll(filepath.Join(root, "sys"), 0o755))

	ps, err := rayproc.Lister{Root: root, Cwd: true, Env: []string{"CASTRAY_LOCALRAY"}}.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := pids(ps); !slices.Equal(got, []int{100, 102, 103}) {
		t.Fatalf("pids %v, want [100 102 103]", got)
	}
	byPID := map[int]rayproc.Process{}
	for _, p := range ps {
		byPID[p.PID] = p
	}
	if p := byPID[100]; p.PPID != 1 || p.PGID != 100 || p.State != "S" || p.Comm != "python3" || p.Cwd != "/t" ||
		len(p.Env) != 1 || p.Env["CASTRAY_LOCALRAY"] != "/t" || len(p.Argv) != 3 || p.Argv[2] != "--session-dir=/t/session_a" {
		t.Errorf("pid 100: %+v", p)
	}
	if p := byPID[102]; p.Argv != nil || p.Comm != "kthreadd" {
		t.Errorf("kernel thread: %+v", p)
	}
	if p := byPID[103]; p.Comm != "a) b) (c" || p.PGID != 100 || p.Cwd != "" || p.Env != nil && len(p.Env) != 0 {
		t.Errorf("pid 103: %+v", p)
	}

	// Without Cwd and Env only stat and cmdline are read.
	ps, err = rayproc.Lister{Root: root}.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Cwd != "" || p.Env != nil {
			t.Errorf("read more than asked: %+v", p)
		}
	}
	if p, ok := (rayproc.Lister{Root: root}).Process(103); !ok || p.Argv[0] != "gcs_server" {
		t.Errorf("Process(103): %+v %v", p, ok)
	}
	for _, pid := range []int{101, 104, 999} {
		if p, ok := (rayproc.Lister{Root: root}).Process(pid); ok {
			t.Errorf("Process(%d): %+v", pid, p)
		}
	}

	idx := rayproc.NewIndex(ps)
	if m := idx.ForSession("session_a", []string{"/t/session_a"}); len(m) != 2 {
		t.Errorf("matched %v", m)
	}
}

func TestListerNoTable(t *testing.T) {
	ctx := context.Background()
	for name, root := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nope"),
		"empty":   t.TempDir(),
	} {
		if _, err := (rayproc.Lister{Root: root}).Processes(ctx); !errors.Is(err, rayproc.ErrNoProcessTable) {
			t.Errorf("%s /proc: %v", name, err)
		}
	}
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, nil, 0o644))
	if _, err := (rayproc.Lister{Root: file}).Processes(ctx); !errors.Is(err, rayproc.ErrNoProcessTable) {
		t.Errorf("a file as /proc: %v", err)
	}
}

func TestListerCancelled(t *testing.T) {
	root := t.TempDir()
	rayproctest.Write(t, root, rayproc.Process{PID: 1, Argv: []string{"init"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (rayproc.Lister{Root: root}).Processes(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestListerReal finds a child process in the real /proc, with its cwd and environment,
// and not the test process itself.
func TestListerReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		return // there is no /proc to read; the fake trees cover the logic
	}
	dir := t.TempDir()
	cmd := exec.Command("sleep", "30")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RAYPROC_TEST_MARK="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ps, err := rayproc.Lister{Cwd: true, Env: []string{"RAYPROC_TEST_MARK"}}.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range ps {
		if p.PID == os.Getpid() {
			t.Error("own process listed")
		}
		if p.PID == cmd.Process.Pid {
			found = true
			if len(p.Argv) != 2 || p.Argv[1] != "30" || p.Comm != "sleep" || p.Cwd != dir ||
				p.Env["RAYPROC_TEST_MARK"] != dir || p.PPID != os.Getpid() {
				t.Errorf("child: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("pid %d not found among %d processes", cmd.Process.Pid, len(ps))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
