package sessions

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
)

// Process is one running process as the liveness check sees it.
type Process struct {
	PID  int
	Argv []string
}

// ProcessLister lists the running processes of the machine. The default reads /proc; tests
// inject a fake fed with command lines captured from a live Ray 2.60 head.
type ProcessLister interface {
	// Processes returns the live processes (zombies excluded). ErrNoProcessTable means the
	// platform has no process table the lister can read (not Linux, /proc not mounted).
	Processes(ctx context.Context) ([]Process, error)
}

// ErrNoProcessTable is returned by a ProcessLister that cannot see processes at all.
var ErrNoProcessTable = errors.New("no process table (/proc) to read")

// procFS lists processes from a Linux /proc.
type procFS struct{ root string }

// Processes implements ProcessLister.
func (p procFS) Processes(ctx context.Context) ([]Process, error) {
	ents, err := os.ReadDir(p.root)
	if err != nil {
		return nil, ErrNoProcessTable
	}
	self := os.Getpid()
	var out []Process
	sawAny := false
	for i, e := range ents {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		sawAny = true
		if pid == self {
			continue
		}
		dir := p.root + "/" + e.Name()
		if stat, err := readHeadFile(dir+"/stat", 4096); err == nil {
			// "pid (comm) S ...": comm may hold spaces and parentheses.
			if rp := bytes.LastIndexByte(stat, ')'); rp >= 0 && rp+2 < len(stat) && stat[rp+2] == 'Z' {
				continue
			}
		}
		cl, err := readHeadFile(dir+"/cmdline", 256<<10)
		if err != nil || len(cl) == 0 {
			continue // gone, a kernel thread, or not ours to read
		}
		var argv []string
		for _, a := range bytes.Split(bytes.TrimRight(cl, "\x00"), []byte{0}) {
			argv = append(argv, string(a))
		}
		out = append(out, Process{PID: pid, Argv: argv})
	}
	if !sawAny {
		return nil, ErrNoProcessTable
	}
	return out, nil
}

// Ray component roles, as reported in evidence.
const (
	roleGCS          = "gcs_server"
	roleRaylet       = "raylet"
	roleDashboard    = "dashboard"
	roleAgent        = "dashboard_agent"
	roleRuntimeEnv   = "runtime_env_agent"
	roleMonitor      = "monitor"
	roleLogMonitor   = "log_monitor"
	roleClientServer = "client_server"
)

// rayProc is a process recognised as a Ray component.
type rayProc struct {
	PID   int
	Role  string
	Flags map[string]string // "--key=value" flags, keys without dashes, '-' as '_'
	// SessionDirs are the session dirs named anywhere on the command line (prefixes of
	// paths up to their session_* element), cleaned.
	SessionDirs []string
}

// flag returns the first of the named flags that is set.
func (p rayProc) flag(names ...string) string {
	for _, n := range names {
		if v := p.Flags[n]; v != "" {
			return v
		}
	}
	return ""
}

// SessionName is the --session-name flag, if any.
func (p rayProc) SessionName() string { return p.flag("session_name") }

// GCSAddress is the GCS address the process names: --gcs-address (raylet, dashboard,
// monitors), --address (client server), or the GCS's own --node-ip-address and
// --gcs_server_port.
func (p rayProc) GCSAddress() string {
	if p.Role == roleGCS {
		h, port := p.flag("node_ip_address"), p.flag("gcs_server_port")
		if n, ok := parsePort(port); ok && validHost(h) {
			return joinHostPort(h, n)
		}
		return ""
	}
	a := p.flag("gcs_address")
	if a == "" && p.Role == roleClientServer {
		a = p.flag("address")
	}
	if h, n, ok := splitHostPort(a); ok {
		return joinHostPort(h, n)
	}
	return ""
}

// recognise returns the Ray component a command line belongs to, or false. The roles are
// read from the executable (gcs_server, raylet) or the Python script / module (dashboard.py,
// agent.py, monitor.py, log_monitor.py, runtime_env/agent/main.py, -m
// ray.util.client.server), as Ray 2.60.0 starts them (seen live). Setproctitle'd processes
// (ray::IDLE, ray::DashboardAgent) no longer carry a command line to read and are not
// recognised; they do not name the session anyway.
func recognise(pr Process) (rayProc, bool) {
	argv := pr.Argv
	if len(argv) == 0 {
		return rayProc{}, false
	}
	exe := strings.TrimSuffix(path.Base(strings.ReplaceAll(argv[0], `\`, "/")), ".exe")
	role := ""
	switch exe {
	case "gcs_server":
		role = roleGCS
	case "raylet":
		role = roleRaylet
	default:
		if !strings.HasPrefix(exe, "python") {
			return rayProc{}, false
		}
		// The script or module comes before the first "--flag".
		for i := 1; i < len(argv) && i < 6; i++ {
			a := strings.ReplaceAll(argv[i], `\`, "/")
			if strings.HasPrefix(a, "--") {
				break
			}
			switch {
			case a == "-m" && i+1 < len(argv) && argv[i+1] == "ray.util.client.server":
				role = roleClientServer
			case strings.HasSuffix(a, "/dashboard/dashboard.py"):
				role = roleDashboard
			case strings.HasSuffix(a, "/dashboard/agent.py"):
				role = roleAgent
			case strings.HasSuffix(a, "/_private/log_monitor.py"):
				role = roleLogMonitor
			case strings.HasSuffix(a, "/autoscaler/_private/monitor.py"):
				role = roleMonitor
			case strings.HasSuffix(a, "/runtime_env/agent/main.py"):
				role = roleRuntimeEnv
			}
			if role != "" {
				break
			}
		}
		if role == "" {
			return rayProc{}, false
		}
	}
	rp := rayProc{PID: pr.PID, Role: role, Flags: map[string]string{}}
	seen := map[string]bool{}
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") {
			if k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); ok && k != "" {
				k = strings.ReplaceAll(k, "-", "_")
				if _, dup := rp.Flags[k]; !dup {
					rp.Flags[k] = v
				}
			}
		}
		for _, d := range sessionDirsIn(a) {
			if !seen[d] {
				seen[d] = true
				rp.SessionDirs = append(rp.SessionDirs, d)
			}
		}
	}
	return rp, true
}

// sessionDirsIn finds absolute paths in s that contain a session_* element and returns
// each path cut after that element: "--log_dir=/tmp/x/session_2026…_5176/logs" gives
// "/tmp/x/session_2026…_5176". The separators Ray puts between paths inside one argument
// (spaces, '=', ',', quotes) end a path.
func sessionDirsIn(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "/session_")
		if i < 0 {
			return out
		}
		// Walk back to the start of the path.
		start := i
		for start > 0 && !isPathStop(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) && s[end] != '/' && !isPathStop(s[end]) {
			end++
		}
		p := s[start:end]
		if strings.HasPrefix(p, "/") && path.Base(p) != "session_latest" && len(path.Base(p)) > len("session_") {
			out = append(out, path.Clean(p))
		}
		s = s[i+len("/session_"):]
	}
}

func isPathStop(c byte) bool {
	switch c {
	case ' ', '=', ',', '"', '\'', ';', ':', '\t', '\n':
		return true
	}
	return false
}

// procIndex is the process table reduced to Ray components, built once per Discover.
type procIndex struct {
	procs []rayProc
	// gcsOwners maps a GCS port to the session names whose live processes use it.
	gcsOwners map[int]map[string]bool
}

func buildIndex(ps []Process) *procIndex {
	idx := &procIndex{gcsOwners: map[int]map[string]bool{}}
	for _, p := range ps {
		rp, ok := recognise(p)
		if !ok {
			continue
		}
		idx.procs = append(idx.procs, rp)
	}
	for _, rp := range idx.procs {
		_, port, ok := splitHostPort(rp.GCSAddress())
		if !ok {
			continue
		}
		for _, name := range rp.sessionNames() {
			if idx.gcsOwners[port] == nil {
				idx.gcsOwners[port] = map[string]bool{}
			}
			idx.gcsOwners[port][name] = true
		}
	}
	return idx
}

// sessionNames lists the session names a process names (flag or dir base names).
func (p rayProc) sessionNames() []string {
	var out []string
	if n := p.SessionName(); n != "" {
		out = append(out, n)
	}
	for _, d := range p.SessionDirs {
		if b := path.Base(d); b != p.SessionName() {
			out = append(out, b)
		}
	}
	return out
}

// match returns the processes that name the session at dir (any of its spellings: as
// listed under its root, and resolved). A process that names session dirs matches only by
// dir, so a copy of a session elsewhere is not taken for the live one; a process naming
// only a session name (no dir) matches by name.
func (idx *procIndex) match(name string, dirs []string) []rayProc {
	var out []rayProc
	for _, p := range idx.procs {
		hit := false
		if len(p.SessionDirs) > 0 {
			for _, d := range p.SessionDirs {
				for _, want := range dirs {
					if d == want {
						hit = true
					}
				}
			}
		} else if p.SessionName() == name {
			hit = true
		}
		if hit {
			out = append(out, p)
		}
	}
	return out
}

// clientServerFor returns the live Ray Client server started for the GCS at gcsAddr.
func (idx *procIndex) clientServerFor(gcsAddr string) (rayProc, bool) {
	if gcsAddr == "" {
		return rayProc{}, false
	}
	for _, p := range idx.procs {
		if p.Role == roleClientServer && p.GCSAddress() == gcsAddr {
			return p, true
		}
	}
	return rayProc{}, false
}

func joinHostPort(h string, p int) string { return net.JoinHostPort(h, strconv.Itoa(p)) }
