package localray

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one process as read from /proc.
type proc struct {
	pid, pgid int
	comm      string // /proc/<pid>/comm; setproctitle may change it
	cwd       string
	cmdline   []string
	marker    string // value of EnvMarker in its environment, if readable
}

func (p proc) String() string {
	cmd := strings.TrimSpace(strings.Join(p.cmdline, " "))
	if len(cmd) > 160 {
		cmd = cmd[:160] + "…"
	}
	return fmt.Sprintf("pid=%d pgid=%d comm=%s cmd=%s", p.pid, p.pgid, p.comm, cmd)
}

// readProc reads one live process; ok is false when it is gone, unreadable or a zombie.
func readProc(pid int) (proc, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
	s := string(stat)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return proc{}, false
	}
	rest := strings.Fields(s[rp+1:])
	if len(rest) < 3 || rest[0] == "Z" || rest[0] == "X" {
		return proc{}, false
	}
	p := proc{pid: pid, comm: s[lp+1 : rp]}
	p.pgid, _ = strconv.Atoi(rest[2])
	if cl, err := os.ReadFile(dir + "/cmdline"); err == nil {
		for _, a := range bytes.Split(bytes.TrimRight(cl, "\x00"), []byte{0}) {
			p.cmdline = append(p.cmdline, string(a))
		}
	}
	p.cwd, _ = os.Readlink(dir + "/cwd")
	p.cwd = strings.TrimSuffix(p.cwd, " (deleted)")
	if env, err := os.ReadFile(dir + "/environ"); err == nil {
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte(EnvMarker+"=")); ok {
				p.marker = string(v)
			}
		}
	}
	return p, true
}

// owner says which processes belong to one head.
type owner struct {
	tempDir string // absolute, cleaned
	pgid    int    // process group of `ray start`; 0 before it ran
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
func (o owner) marked(p proc) bool {
	if p.cwd == o.tempDir || strings.HasPrefix(p.cwd, o.tempDir+"/") || p.marker == o.tempDir {
		return true
	}
	for _, a := range p.cmdline {
		if mentions(a, o.tempDir) {
			return true
		}
	}
	return false
}

// procs lists the head's live processes. Members of the `ray start` process group count only
// while the group still holds a marked process: a pid is not reused while its process group
// exists, so then the group is certainly still ours.
func (o owner) procs() []proc {
	if o.tempDir == "" {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out, group []proc
	groupOurs := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p, ok := readProc(pid)
		if !ok {
			continue
		}
		m := o.marked(p)
		inGroup := o.pgid > 0 && p.pgid == o.pgid
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

func signalAll(ps []proc, sig syscall.Signal) {
	for _, p := range ps {
		_ = syscall.Kill(p.pid, sig)
	}
}

func byComm(ps []proc, keep func(comm string) bool) []proc {
	var out []proc
	for _, p := range ps {
		if keep(p.comm) {
			out = append(out, p)
		}
	}
	return out
}

// waitGone polls until no process of the head passing keep remains, or until deadline; it
// returns what is left.
func (o owner) waitGone(keep func(comm string) bool, deadline time.Time) []proc {
	for {
		left := byComm(o.procs(), keep)
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
func (o owner) terminate(killAt time.Time) (found, killed int, left []proc) {
	isRaylet := func(c string) bool { return c == "raylet" }
	notGCS := func(c string) bool { return c != "gcs_server" }
	all := func(string) bool { return true }
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
	signalAll(byComm(ps, isRaylet), syscall.SIGTERM)
	o.waitGone(isRaylet, before(4*time.Second))
	signalAll(byComm(o.procs(), notGCS), syscall.SIGTERM)
	o.waitGone(notGCS, before(3*time.Second))
	signalAll(o.procs(), syscall.SIGTERM)
	left = o.waitGone(all, killAt)
	seen := map[int]bool{}
	for i := 0; i < 5 && len(left) > 0; i++ { // rescan: something may still have been forking
		for _, p := range left {
			seen[p.pid] = true
		}
		signalAll(left, syscall.SIGKILL)
		left = o.waitGone(all, time.Now().Add(2*time.Second))
	}
	return found, len(seen), left
}
