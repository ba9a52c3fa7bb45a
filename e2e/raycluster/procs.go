package raycluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// Environment markers given to every Ray process of a cluster.
const (
	envClusterMarker = "CASTRAY_RAY_CLUSTER" // = the cluster's temp dir
	envOwnerMarker   = "CASTRAY_RAY_OWNER"   // = pid of the test process that started it
)

// Proc is one process as read from /proc (by rayproc.Lister).
type Proc struct {
	PID, PPID, PGID int
	Comm            string // the kernel's short name (15 bytes at most; setproctitle changes it)
	State           string // R, S, D, T, … (zombies are not listed)
	Cmdline         []string
	Cwd             string
	env             map[string]string // only the CASTRAY_RAY_* markers
}

func (p Proc) String() string {
	cmd := strings.Join(p.Cmdline, " ")
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	return fmt.Sprintf("pid=%d pgid=%d comm=%s cwd=%s cmd=%s", p.PID, p.PGID, p.Comm, p.Cwd, strings.TrimSpace(cmd))
}

// allProcs lists the live (non-zombie) processes of the machine, this process excluded, as
// rayproc reads them (with their cwd and the CASTRAY_RAY_* markers).
func allProcs() []Proc {
	ps, err := rayproc.Lister{Cwd: true, Env: []string{envClusterMarker, envOwnerMarker}}.Processes(context.Background())
	if err != nil {
		return nil
	}
	out := make([]Proc, 0, len(ps))
	for _, p := range ps {
		out = append(out, Proc{PID: p.PID, PPID: p.PPID, PGID: p.PGID, Comm: p.Comm, State: p.State,
			Cmdline: p.Argv, Cwd: p.Cwd, env: p.Env})
	}
	return out
}

// owner says which processes belong to one cluster.
type owner struct {
	tempDir string // absolute, cleaned
	pgid    int    // process group of `ray start`; 0 if unknown
}

// mentions reports whether s names dir or a path inside it.
func mentions(s, dir string) bool {
	if dir == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], dir)
		if j < 0 {
			return false
		}
		end := i + j + len(dir)
		if end == len(s) || s[end] == '/' || s[end] == ' ' || s[end] == '\'' || s[end] == '"' || s[end] == ',' {
			return true
		}
		i = i + j + 1
	}
}

// why returns the marker that ties p to the cluster, or "" if none does.
func (o owner) why(p Proc) string {
	if o.pgid > 0 && p.PGID == o.pgid {
		return "pgid"
	}
	if p.Cwd == o.tempDir || strings.HasPrefix(p.Cwd, o.tempDir+"/") {
		return "cwd"
	}
	for _, a := range p.Cmdline {
		if mentions(a, o.tempDir) {
			return "cmdline"
		}
	}
	if p.env[envClusterMarker] == o.tempDir {
		return "environ"
	}
	return ""
}

func (o owner) procs() []Proc {
	var out []Proc
	for _, p := range allProcs() {
		if o.why(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

func signalAll(ps []Proc, sig syscall.Signal) {
	for _, p := range ps {
		_ = syscall.Kill(p.PID, sig)
	}
}

// waitGone polls until no process selected by sel remains or the deadline passes; it returns
// what is left.
func (o owner) waitGone(sel func(Proc) bool, deadline time.Time) []Proc {
	for {
		var left []Proc
		for _, p := range o.procs() {
			if sel(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isComm(names ...string) func(Proc) bool {
	return func(p Proc) bool {
		for _, n := range names {
			if p.Comm == n {
				return true
			}
		}
		return false
	}
}

func not(f func(Proc) bool) func(Proc) bool { return func(p Proc) bool { return !f(p) } }

func anyProc(Proc) bool { return true }

// stopReport tells how a stop went.
type stopReport struct {
	Found    int           // processes found at the start
	Killed   []Proc        // processes that needed SIGKILL
	Left     []Proc        // processes still alive at the end (an error)
	Duration time.Duration // whole stop
}

// terminate stops the cluster's processes in the order `ray stop` uses (raylet first, so that
// its fate-sharing agents and workers go with it; GCS last, so that the monitor and the
// dashboard can still reach it while exiting), SIGTERM first, SIGKILL for whatever is left
// after grace.
func (o owner) terminate(grace time.Duration) stopReport {
	start := time.Now()
	deadline := start.Add(grace)
	rep := stopReport{Found: len(o.procs())}
	minTime := func(a, b time.Time) time.Time {
		if a.Before(b) {
			return a
		}
		return b
	}
	raylet := isComm("raylet")
	gcs := isComm("gcs_server")

	var ps []Proc
	for _, p := range o.procs() {
		if raylet(p) {
			ps = append(ps, p)
		}
	}
	signalAll(ps, syscall.SIGTERM)
	o.waitGone(raylet, minTime(deadline, time.Now().Add(4*time.Second)))

	ps = ps[:0]
	for _, p := range o.procs() {
		if !gcs(p) {
			ps = append(ps, p)
		}
	}
	signalAll(ps, syscall.SIGTERM)
	o.waitGone(not(gcs), minTime(deadline, time.Now().Add(3*time.Second)))

	signalAll(o.procs(), syscall.SIGTERM)
	left := o.waitGone(anyProc, deadline)

	// SIGKILL the rest; rescan a few times in case something was still forking.
	for i := 0; i < 5 && len(left) > 0; i++ {
		rep.Killed = append(rep.Killed, left...)
		signalAll(left, syscall.SIGKILL)
		left = o.waitGone(anyProc, time.Now().Add(2*time.Second))
	}
	rep.Left = left
	rep.Duration = time.Since(start)
	return rep
}

// reapOrphans kills the clusters of test processes that died without stopping them (a test
// binary killed by `go test -timeout` runs no cleanups). Only processes carrying the owner
// marker of a dead pid qualify, plus whatever else is tied to the same temp dirs. It runs with
// LockPath held, so no other live test process can own a cluster at that moment.
func reapOrphans(logf func(string, ...any)) {
	dirs := map[string]bool{}
	for _, p := range allProcs() {
		ownerPID, err := strconv.Atoi(p.env[envOwnerMarker])
		dir := p.env[envClusterMarker]
		if err != nil || dir == "" || ownerPID == os.Getpid() {
			continue
		}
		if _, ok := (rayproc.Lister{}).Process(ownerPID); ok {
			continue // owner alive
		}
		dirs[dir] = true
	}
	keys := make([]string, 0, len(dirs))
	for d := range dirs {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	for _, d := range keys {
		o := owner{tempDir: d}
		ps := o.procs()
		logf("raycluster: killing %d orphaned Ray processes of a dead test process (temp dir %s)", len(ps), d)
		signalAll(ps, syscall.SIGKILL)
		if left := o.waitGone(anyProc, time.Now().Add(5*time.Second)); len(left) > 0 {
			logf("raycluster: %d orphaned processes survived SIGKILL: %v", len(left), left)
		}
		if strings.HasPrefix(filepath.Base(d), "crt-") && filepath.Dir(d) == "/tmp" {
			_ = os.RemoveAll(d)
		}
	}
}
