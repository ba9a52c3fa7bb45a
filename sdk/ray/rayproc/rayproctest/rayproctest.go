// Package rayproctest builds fake /proc trees for tests of code that reads processes
// through rayproc.Lister (point Lister.Root at the tree). It writes only below the root it
// is given, and is meant for tests only.
package rayproctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// Write adds p to the fake /proc at root as the kernel would show it: <pid>/stat (state S
// unless p.State says otherwise, comm from p.Comm or else the executable's base name),
// <pid>/comm, <pid>/cmdline (NUL-terminated arguments; empty for a kernel thread),
// <pid>/environ from p.Env and, when p.Cwd is set, the <pid>/cwd symlink.
func Write(t testing.TB, root string, p rayproc.Process) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(p.PID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	comm := p.Comm
	if comm == "" && len(p.Argv) > 0 {
		comm = filepath.Base(p.Argv[0])
	}
	if len(comm) > 15 {
		comm = comm[:15] // the kernel's TASK_COMM_LEN
	}
	state := p.State
	if state == "" {
		state = "S"
	}
	write(t, filepath.Join(dir, "stat"), StatLine(p.PID, comm, state, p.PPID, p.PGID))
	write(t, filepath.Join(dir, "comm"), comm+"\n")
	cmdline := ""
	if len(p.Argv) > 0 {
		cmdline = strings.Join(p.Argv, "\x00") + "\x00"
	}
	write(t, filepath.Join(dir, "cmdline"), cmdline)
	var env strings.Builder
	for k, v := range p.Env {
		env.WriteString(k + "=" + v + "\x00")
	}
	write(t, filepath.Join(dir, "environ"), env.String())
	if p.Cwd != "" {
		if err := os.Symlink(p.Cwd, filepath.Join(dir, "cwd")); err != nil {
			t.Fatal(err)
		}
	}
}

// StatLine is a complete /proc/<pid>/stat line: "pid (comm) state ppid pgrp" and the 47
// numeric fields that follow in Linux 6.x, as zeros.
func StatLine(pid int, comm, state string, ppid, pgid int) string {
	return strconv.Itoa(pid) + " (" + comm + ") " + state + " " + strconv.Itoa(ppid) + " " +
		strconv.Itoa(pgid) + strings.Repeat(" 0", 47) + "\n"
}

func write(t testing.TB, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
