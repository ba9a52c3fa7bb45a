package rayproc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// DefaultRoot is where Linux mounts the process table.
const DefaultRoot = procfs.DefaultMountPoint

// ErrNoProcessTable is returned when there is no process table to read at all: the root is
// missing or unreadable, or holds no process directory (not Linux, /proc not mounted).
var ErrNoProcessTable = errors.New("no process table (/proc) to read")

// Process is one live process as /proc shows it.
type Process struct {
	PID, PPID, PGID int
	State           string   // one letter: R, S, D, T, …
	Comm            string   // the kernel's short name (stat); setproctitle may change it
	Argv            []string // /proc/<pid>/cmdline; empty for kernel threads
	Cwd             string   // with Lister.Cwd; "" when unreadable
	// Env holds the variables named by Lister.Env that the process has; nil when its
	// environment is unreadable (another user's process, unless the caller is root).
	Env map[string]string
}

// String is a one-line description for logs and errors.
func (p Process) String() string {
	cmd := strings.TrimSpace(strings.Join(p.Argv, " "))
	if len(cmd) > 160 {
		cmd = cmd[:160] + "…"
	}
	return fmt.Sprintf("pid=%d pgid=%d comm=%s cmd=%s", p.PID, p.PGID, p.Comm, cmd)
}

// Lister lists the processes under a /proc root. The zero value reads the real /proc and
// only stat and cmdline.
type Lister struct {
	Root string   // "" means DefaultRoot
	Cwd  bool     // also read each process's working directory
	Env  []string // environment variables to read from /proc/<pid>/environ
}

// Processes lists the live processes (see the package doc for which are left out). A
// process that exits while it is being read is skipped, not an error.
func (l Lister) Processes(ctx context.Context) ([]Process, error) {
	root := l.root()
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProcessTable, err)
	}
	all, err := pfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProcessTable, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no process under %s", ErrNoProcessTable, root)
	}
	self := selfPID(root)
	out := make([]Process, 0, len(all))
	for i, pp := range all {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pp.PID <= 0 || pp.PID == self {
			continue
		}
		if p, ok := l.read(pp); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Process reads one process; ok is false when it is gone, unreadable or a zombie.
func (l Lister) Process(pid int) (Process, bool) {
	pfs, err := procfs.NewFS(l.root())
	if err != nil {
		return Process{}, false
	}
	pp, err := pfs.Proc(pid)
	if err != nil {
		return Process{}, false
	}
	return l.read(pp)
}

func (l Lister) root() string {
	if l.Root == "" {
		return DefaultRoot
	}
	return l.Root
}

// read reads one process. Its stat must be readable: a process that is gone, or a stat
// the kernel would never write, leaves it out.
func (l Lister) read(pp procfs.Proc) (Process, bool) {
	st, err := pp.Stat()
	if err != nil || st.State == "Z" || st.State == "X" {
		return Process{}, false
	}
	p := Process{PID: pp.PID, PPID: st.PPID, PGID: st.PGRP, State: st.State, Comm: st.Comm}
	if argv, err := pp.CmdLine(); err == nil && len(argv) > 0 && (len(argv) > 1 || argv[0] != "") {
		p.Argv = argv
	}
	if l.Cwd {
		if wd, err := pp.Cwd(); err == nil {
			p.Cwd = strings.TrimSuffix(wd, " (deleted)")
		}
	}
	if len(l.Env) > 0 {
		if env, err := pp.Environ(); err == nil {
			p.Env = map[string]string{}
			for _, kv := range env {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					continue
				}
				for _, want := range l.Env {
					if k == want {
						p.Env[k] = v // the last one wins, as for getenv
					}
				}
			}
		}
	}
	return p, true
}

// selfPID is the pid that <root>/self names, or 0: in the real /proc the caller itself,
// in a fake tree whatever the test made it.
func selfPID(root string) int {
	s, err := os.Readlink(filepath.Join(root, "self"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && root == DefaultRoot {
			return os.Getpid()
		}
		return 0
	}
	pid, err := strconv.Atoi(filepath.Base(s))
	if err != nil {
		return 0
	}
	return pid
}
