package localray

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// owner says which processes belong to one head.
type owner struct {
	tempDir  string // absolute, cleaned
	pgid     int    // process group of `ray start`; 0 before it ran
	procRoot string // the /proc to read; "" is the real one (tests use a fake tree)
}

// mentions reports whether s names dir or a path inside it.
func mentions(s, dir string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], dir)
		if j < 0 {
			return false
		}
		end := i + j + len(dir)
		if end == len(s) || strings.IndexByte("/ '\",=:", s[end]) >= 0 {
			return true
		}
		i += j + 1
	}
}

// marked reports whether p is tied to the head by its cwd, command line or environment.
func (o owner) marked(p rayproc.Process) bool {
	if p.Cwd == o.tempDir || strings.HasPrefix(p.Cwd, o.tempDir+"/") || p.Env[EnvMarker] == o.tempDir {
		return true
	}
	for _, a := range p.Argv {
		if mentions(a, o.tempDir) {
			return true
		}
	}
	return false
}

// procs lists the head's live processes, read by rayproc with their cwd and EnvMarker.
// Members of the `ray start` process group count only while the group still holds a marked
// process: a pid is not reused while its process group exists, so then the group is
// certainly still ours.
func (o owner) procs() []rayproc.Process {
	if o.tempDir == "" {
		return nil
	}
	all, err := rayproc.Lister{Root: o.procRoot, Cwd: true, Env: []string{EnvMarker}}.Processes(context.Background())
	if err != nil {
		return nil
	}
	var out, group []rayproc.Process
	groupOurs := false
	for _, p := range all {
		m := o.marked(p)
		inGroup := o.pgid > 0 && p.PGID == o.pgid
		switch {
		case m:
			out = append(out, p)
			groupOurs = groupOurs || inGroup
		case inGroup:
			group = append(group, p)
		}
	}
	if groupOurs {
		out = append(out, group...)
	}
	return out
}

func signalAll(ps []rayproc.Process, sig syscall.Signal) {
	for _, p := range ps {
		_ = syscall.Kill(p.PID, sig)
	}
}

// roleOf is the Ray component p is (rayproc.Recognise), "" for anything else.
func roleOf(p rayproc.Process) rayproc.Role {
	rp, _ := rayproc.Recognise(p)
	return rp.Role
}

func byRole(ps []rayproc.Process, keep func(rayproc.Role) bool) []rayproc.Process {
	var out []rayproc.Process
	for _, p := range ps {
		if keep(roleOf(p)) {
			out = append(out, p)
		}
	}
	return out
}

// waitGone polls until no process of the head passing keep remains, or until deadline; it
// returns what is left.
func (o owner) waitGone(keep func(rayproc.Role) bool, deadline time.Time) []rayproc.Process {
	for {
		left := byRole(o.procs(), keep)
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// terminate stops the head's processes in `ray stop`'s order: the raylet first (its agents and
// workers share its fate), then everything but the GCS, then the GCS last (the monitor and
// the dashboard talk to it while they exit; SIGTERMing all at once leaves the GCS and the
// monitor hanging, see docs/ray-behaviour.md). Whatever is alive at killAt gets SIGKILL.
// It returns the number of processes found, how many needed SIGKILL, and the survivors.
func (o owner) terminate(killAt time.Time) (found, killed int, left []rayproc.Process) {
	isRaylet := func(r rayproc.Role) bool { return r == rayproc.RoleRaylet }
	notGCS := func(r rayproc.Role) bool { return r != rayproc.RoleGCS }
	all := func(rayproc.Role) bool { return true }
	before := func(d time.Duration) time.Time {
		if t := time.Now().Add(d); t.Before(killAt) {
			return t
		}
		return killAt
	}

	ps := o.procs()
	found = len(ps)
	if found == 0 {
		return 0, 0, nil
	}
	signalAll(byRole(ps, isRaylet), syscall.SIGTERM)
	o.waitGone(isRaylet, before(4*time.Second))
	signalAll(byRole(o.procs(), notGCS), syscall.SIGTERM)
	o.waitGone(notGCS, before(3*time.Second))
	signalAll(o.procs(), syscall.SIGTERM)
	left = o.waitGone(all, killAt)
	seen := map[int]bool{}
	for i := 0; i < 5 && len(left) > 0; i++ { // rescan: something may still have been forking
		for _, p := range left {
			seen[p.PID] = true
		}
		signalAll(left, syscall.SIGKILL)
		left = o.waitGone(all, time.Now().Add(2*time.Second))
	}
	return found, len(seen), left
}
