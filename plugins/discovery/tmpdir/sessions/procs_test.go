package sessions

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// TestProcFSFake reads a /proc-shaped tree: zombies, kernel threads (empty cmdline) and
// non-pid entries are skipped.
func TestProcFSFake(t *testing.T) {
	root := t.TempDir()
	write := func(pid, stat, cmdline string) {
		dir := filepath.Join(root, pid)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644))
	}
	write("100", "100 (python3) S 1 100 100", "python3\x00/v/ray/dashboard/dashboard.py\x00--session-dir=/t/session_a\x00")
	write("101", "101 (raylet) Z 1 101 101", "")
	write("102", "102 (kthreadd) S 0 0 0", "")
	write("103", "103 (a) b) (c) S 1 1 1", "gcs_server\x00--log_dir=/t/session_a/logs")
	must(t, os.MkdirAll(filepath.Join(root, "self"), 0o755))
	ps, err := procFS{root: root}.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range ps {
		pids = append(pids, p.PID)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{100, 103}) {
		t.Fatalf("pids %v, want [100 103]", pids)
	}
	idx := buildIndex(ps)
	if m := idx.match("session_a", []string{"/t/session_a"}); len(m) != 2 {
		t.Errorf("matched %v", m)
	}
	if _, err := (procFS{root: filepath.Join(root, "nope")}).Processes(context.Background()); err != ErrNoProcessTable {
		t.Errorf("missing /proc: %v", err)
	}
	if _, err := (procFS{root: t.TempDir()}).Processes(context.Background()); err != ErrNoProcessTable {
		t.Errorf("empty /proc: %v", err)
	}
}

// TestProcFSReal finds a child process in the real /proc.
func TestProcFSReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		return // there is no /proc to read; the fake process tables cover the logic
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ps, err := procFS{root: "/proc"}.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.PID == os.Getpid() {
			t.Error("own process listed")
		}
		if p.PID == cmd.Process.Pid {
			if len(p.Argv) != 2 || p.Argv[1] != "30" {
				t.Errorf("argv %q", p.Argv)
			}
			return
		}
	}
	t.Errorf("pid %d not found among %d processes", cmd.Process.Pid, len(ps))
}
