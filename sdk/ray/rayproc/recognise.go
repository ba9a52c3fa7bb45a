package rayproc

import (
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/castray/castray/sdk/ray"
)

// Role is the Ray component a process is.
type Role string

// The roles Recognise tells apart.
const (
	RoleGCS             Role = "gcs_server"
	RoleRaylet          Role = "raylet"
	RoleDashboard       Role = "dashboard"
	RoleDashboardModule Role = "dashboard_module" // the dashboard's module subprocesses
	RoleDashboardAgent  Role = "dashboard_agent"
	RoleRuntimeEnvAgent Role = "runtime_env_agent"
	RoleMonitor         Role = "monitor"
	RoleLogMonitor      Role = "log_monitor"
	RoleClientServer    Role = "client_server"
	RoleWorker          Role = "worker"
)

// RayProcess is a process recognised as a Ray component.
type RayProcess struct {
	Process
	Role Role
	// Titled is set for processes that renamed themselves with setproctitle (ray::IDLE,
	// ray::DashboardAgent, ray-dashboard-NodeHead-0 …): their command line carries no flags.
	Titled bool
	// Flags are the "--key=value" and bare "--key" (value "") arguments as ray.CmdlineFlags
	// reads them: keys without the dashes and with '-' as '_' (Ray spells them both ways);
	// the first of a key wins.
	Flags map[string]string
	// SessionDirs are the session dirs named anywhere on the command line (paths cut after
	// their session_* element, cleaned), in order, without duplicates.
	SessionDirs []string
}

// Recognise tells whether p is a Ray component and which. The role comes from the
// executable (gcs_server, and whatever has "raylet" in its name, as Ray's own
// _is_raylet_process has it), from the Python script or module before the first flag
// (dashboard/dashboard.py, dashboard/agent.py, _private/log_monitor.py,
// autoscaler/_private/monitor.py, runtime_env/agent/main.py, _private/workers/*_worker.py,
// -m ray.util.client.server), or from a setproctitle'd name (ray::…, ray-dashboard-…).
func Recognise(p Process) (RayProcess, bool) {
	argv := p.Argv
	if len(argv) == 0 {
		return RayProcess{}, false
	}
	if role, ok := titledRole(argv[0]); ok {
		return RayProcess{Process: p, Role: role, Titled: true, Flags: map[string]string{}}, true
	}
	exe := strings.TrimSuffix(path.Base(strings.ReplaceAll(argv[0], `\`, "/")), ".exe")
	var role Role
	switch {
	case exe == "gcs_server":
		role = RoleGCS
	case strings.Contains(exe, "raylet"):
		role = RoleRaylet
	case strings.HasPrefix(exe, "python"):
		role = pythonRole(argv)
	}
	if role == "" {
		return RayProcess{}, false
	}
	rp := RayProcess{Process: p, Role: role, Flags: ray.CmdlineFlags(argv[1:])}
	seen := map[string]bool{}
	for _, a := range argv[1:] {
		for _, d := range SessionDirsIn(a) {
			if !seen[d] {
				seen[d] = true
				rp.SessionDirs = append(rp.SessionDirs, d)
			}
		}
	}
	return rp, true
}

// titledRole reads a setproctitle'd name: Ray's workers and agents call themselves
// "ray::<what>", the dashboard's module processes "ray-dashboard-<Module>-<n> (…)".
func titledRole(a0 string) (Role, bool) {
	switch name := strings.TrimSpace(a0); {
	case name == "ray::DashboardAgent":
		return RoleDashboardAgent, true
	case name == "ray::RuntimeEnvAgent":
		return RoleRuntimeEnvAgent, true
	case strings.HasPrefix(name, "ray::") && len(name) > len("ray::"):
		return RoleWorker, true // ray::IDLE, ray::<task>, ray::<Actor>.<method>
	case strings.HasPrefix(name, "ray-dashboard-") && len(name) > len("ray-dashboard-"):
		return RoleDashboardModule, true
	}
	return "", false
}

// pythonRole finds the Ray script or module among the interpreter's options, which come
// before the first "--flag".
func pythonRole(argv []string) Role {
	for i := 1; i < len(argv) && i < 6; i++ {
		a := strings.ReplaceAll(argv[i], `\`, "/")
		if strings.HasPrefix(a, "--") {
			return ""
		}
		switch {
		case a == "-m" && i+1 < len(argv) && argv[i+1] == "ray.util.client.server":
			return RoleClientServer
		case strings.HasSuffix(a, "/dashboard/dashboard.py"):
			return RoleDashboard
		case strings.HasSuffix(a, "/dashboard/agent.py"):
			return RoleDashboardAgent
		case strings.HasSuffix(a, "/_private/log_monitor.py"):
			return RoleLogMonitor
		case strings.HasSuffix(a, "/autoscaler/_private/monitor.py"):
			return RoleMonitor
		case strings.HasSuffix(a, "/runtime_env/agent/main.py"):
			return RoleRuntimeEnvAgent
		case strings.HasSuffix(a, "/_private/workers/default_worker.py"),
			strings.HasSuffix(a, "/_private/workers/setup_worker.py"):
			return RoleWorker
		}
	}
	return ""
}

// Flag returns the first of the named flags (normalised: no dashes, '_' for '-') that is
// set and not empty.
func (p RayProcess) Flag(names ...string) string {
	for _, n := range names {
		if v := p.Flags[n]; v != "" {
			return v
		}
	}
	return ""
}

// SessionName is --session-name (GCS, raylet, workers), if given.
func (p RayProcess) SessionName() string { return p.Flag("session_name") }

// SessionDir is --session-dir / --session_dir when it is an absolute path, cleaned.
func (p RayProcess) SessionDir() string { return absPath(p.Flag("session_dir")) }

// TempDir is --temp-dir / --temp_dir (raylet, dashboard, workers) when absolute, cleaned.
func (p RayProcess) TempDir() string { return absPath(p.Flag("temp_dir")) }

// NodeIP is --node-ip-address when it is a valid host.
func (p RayProcess) NodeIP() string {
	if h := p.Flag("node_ip_address"); validHost(h) {
		return h
	}
	return ""
}

// SessionNames lists the session names the process names: its --session-name, then the
// base names of its session dirs that differ from it.
func (p RayProcess) SessionNames() []string {
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

// GCSAddress is the GCS address ("host:port") the process names: --gcs-address (raylet,
// dashboard, agents, monitors, workers), --address (client server), or for the GCS itself
// its --node-ip-address and --gcs_server_port (none while that port is 0, i.e. picked by
// the GCS). "" when absent or not a valid host:port.
func (p RayProcess) GCSAddress() string {
	if p.Role == RoleGCS {
		if n, ok := ParsePort(p.Flag("gcs_server_port")); ok && p.NodeIP() != "" {
			return net.JoinHostPort(p.NodeIP(), strconv.Itoa(n))
		}
		return ""
	}
	a := p.Flag("gcs_address")
	if a == "" && p.Role == RoleClientServer {
		a = p.Flag("address")
	}
	return hostPort(a)
}

// ListenAddress is where the dashboard or the client server serves ("host:port" from
// --host and --port), and the GCS's own address for the GCS; "" otherwise.
func (p RayProcess) ListenAddress() string {
	switch p.Role {
	case RoleGCS:
		return p.GCSAddress()
	case RoleDashboard, RoleClientServer:
		if n, ok := ParsePort(p.Flag("port")); ok && validHost(p.Flag("host")) {
			return net.JoinHostPort(p.Flag("host"), strconv.Itoa(n))
		}
	}
	return ""
}

// Ports are the flags whose name ends in "port" and whose value is a port in 1..65535
// (gcs_server_port, node_manager_port, metrics_agent_port, port, …); 0 means "Ray picks"
// and is left out.
func (p RayProcess) Ports() map[string]int {
	out := map[string]int{}
	for k, v := range p.Flags {
		if strings.HasSuffix(k, "port") {
			if n, ok := ParsePort(v); ok {
				out[k] = n
			}
		}
	}
	return out
}

// SessionDirsIn finds absolute paths in s that contain a session_* element and returns each
// path cut after that element: "--log_dir=/tmp/x/session_2026…_5176/logs" gives
// "/tmp/x/session_2026…_5176". The separators Ray puts between paths inside one argument
// (spaces, '=', ',', quotes) end a path; session_latest is not a session dir.
func SessionDirsIn(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "/session_")
		if i < 0 {
			return out
		}
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

// ParsePort accepts a decimal port in 1..65535 (no sign, no spaces).
func ParsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// hostPort validates a bare "host:port" with the kit's address parser and returns it in
// canonical form, or "".
func hostPort(s string) string {
	if s == "" {
		return ""
	}
	a, err := ray.ParseAddress(s)
	if err != nil || a.Kind != ray.KindUnknown {
		return ""
	}
	return a.HostPort()
}

// validHost accepts what the kit's address parser accepts as a host.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	return hostPort(net.JoinHostPort(h, "1")) != ""
}

func absPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return ""
	}
	return path.Clean(p)
}
