package sessions

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// rootSpec is one place to look, before it is read.
type rootSpec struct {
	Path     string // as configured or derived, absolute
	Origin   string // "dirs", "$RAY_TMPDIR/ray", "/tmp/ray", ...
	Explicit bool   // configured by the operator: a missing dir is worth a note
}

// rootScan is what one Ray temp dir holds.
type rootScan struct {
	Spec           rootSpec
	Real           string // the root with symlinks resolved
	Only           string // a session dir was configured: only this session of the root
	CurrentCluster string // parsed ray_current_cluster, "" if absent or invalid
	LatestReal     string // session_latest resolved, "" if absent or broken
	Sessions       []*sessionRef
	Total          int      // session dirs found, before max_sessions
	HasRaySubdir   bool     // <root>/ray is a directory: a Ray temp dir may sit one level down
	Problems       []string // things worth a note
}

// sessionRef is one session dir found in a root.
type sessionRef struct {
	Root    *rootScan
	Listed  string // <root as configured>/<name>
	Real    string // symlinks resolved
	Name    string
	Started time.Time // from the name; zero if the name does not parse
	ModTime time.Time
}

// scanRoot lists the Ray temp dir spec.Path. A session dir given as root is scanned as its
// parent restricted to that session. A root that does not exist returns an error wrapping
// fs.ErrNotExist.
func scanRoot(fsys fileSystem, spec rootSpec, maxSessions int) (*rootScan, error) {
	only := ""
	dir := spec.Path
	if base := filepath.Base(dir); strings.HasPrefix(base, "session_") && base != "session_latest" {
		if st, err := fsys.Stat(filepath.Join(dir, "logs")); err == nil && st.IsDir() {
			only, dir = base, filepath.Dir(dir)
		}
	}
	real, err := fsys.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	st, err := fsys.Stat(real)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	ents, err := fsys.ReadDir(real)
	if err != nil {
		return nil, err
	}
	rs := &rootScan{Spec: spec, Real: real, Only: only}
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == "ray_current_cluster":
			b, err := fsys.ReadHead(filepath.Join(real, name), maxSmallFile)
			if err != nil {
				rs.Problems = append(rs.Problems, fmt.Sprintf("ray_current_cluster: %v", err))
				continue
			}
			addr, err := parseRayCurrentCluster(b)
			if err != nil {
				rs.Problems = append(rs.Problems, fmt.Sprintf("ray_current_cluster: %v", err))
				continue
			}
			rs.CurrentCluster = addr
		case name == "ray" && only == "":
			if e.IsDir() {
				rs.HasRaySubdir = true
			}
		case name == "session_latest":
			p, err := fsys.EvalSymlinks(filepath.Join(real, name))
			if err != nil {
				rs.Problems = append(rs.Problems, fmt.Sprintf("session_latest: %v", err))
				continue
			}
			rs.LatestReal = p
		case strings.HasPrefix(name, "session_"):
			if only != "" && name != only {
				continue
			}
			ref, err := sessionEntry(fsys, real, name, e)
			if err != nil {
				rs.Problems = append(rs.Problems, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			if ref == nil || seen[ref.Real] {
				continue
			}
			seen[ref.Real] = true
			ref.Root = rs
			ref.Listed = filepath.Join(dir, name)
			rs.Sessions = append(rs.Sessions, ref)
		}
	}
	// Newest first: by the time in the name, else by modification time; names break ties.
	when := func(r *sessionRef) time.Time {
		if !r.Started.IsZero() {
			return r.Started
		}
		return r.ModTime
	}
	slices.SortStableFunc(rs.Sessions, func(a, b *sessionRef) int {
		if c := when(b).Compare(when(a)); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	rs.Total = len(rs.Sessions)
	if len(rs.Sessions) > maxSessions {
		rs.Sessions = rs.Sessions[:maxSessions]
	}
	return rs, nil
}

// sessionEntry resolves one session_* entry of a root; nil, nil for an entry that is not
// a session dir (a stray file).
func sessionEntry(fsys fileSystem, root, name string, e fs.DirEntry) (*sessionRef, error) {
	p := filepath.Join(root, name)
	real := p
	if e.Type()&fs.ModeSymlink != 0 {
		r, err := fsys.EvalSymlinks(p)
		if err != nil {
			return nil, err // a loop ("too many links") or a dangling link
		}
		real = r
	} else if !e.IsDir() {
		return nil, nil
	}
	st, err := fsys.Stat(real)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, nil
	}
	ref := &sessionRef{Real: real, Name: name, ModTime: st.ModTime()}
	if t, _, ok := parseSessionName(name); ok {
		ref.Started = t
	}
	return ref, nil
}

// sessionFiles is what the files of one session dir say.
type sessionFiles struct {
	ReadErr error // the session dir itself could not be listed

	PortFiles map[string]map[string]int // node id → port name → port (Ray 2.60 <name>_<node id> files)
	NodeIP    string                    // node_ip_address.json
	ByNode    []nodePorts               // ports_by_node.json

	GCS       gcsLog
	HasGCSLog bool
	Dashboard dashboardLog
	Client    clientServerLog
	ClientLog string // the log file Client came from
	Raylet    rayletLog

	Problems []string // corrupt or unreadable files, for notes
}

// readSession reads the small files and the log heads of one session dir.
func readSession(fsys fileSystem, dir string) sessionFiles {
	var sf sessionFiles
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		sf.ReadErr = err
		return sf
	}
	read := func(name string, max int64) ([]byte, bool) {
		b, err := fsys.ReadHead(filepath.Join(dir, name), max)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				sf.Problems = append(sf.Problems, fmt.Sprintf("%s: %v", filepath.ToSlash(name), err))
			}
			return nil, false
		}
		return b, true
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == "node_ip_address.json":
			if b, ok := read(name, maxSmallFile); ok {
				ip, err := parseNodeIPAddress(b)
				if err != nil {
					sf.Problems = append(sf.Problems, fmt.Sprintf("%s: %v", name, err))
				}
				sf.NodeIP = ip
			}
		case name == "ports_by_node.json":
			if b, ok := read(name, maxSmallFile); ok {
				nps, err := parsePortsByNode(b)
				if err != nil {
					sf.Problems = append(sf.Problems, fmt.Sprintf("%s: %v", name, err))
				}
				sf.ByNode = nps
			}
		default:
			port, node, ok := splitPortFileName(name)
			if !ok {
				continue
			}
			if b, ok := read(name, maxSmallFile); ok {
				n, err := parsePortFile(b)
				if err != nil {
					sf.Problems = append(sf.Problems, fmt.Sprintf("%s: %v", name, err))
					continue
				}
				if sf.PortFiles == nil {
					sf.PortFiles = map[string]map[string]int{}
				}
				if sf.PortFiles[node] == nil {
					sf.PortFiles[node] = map[string]int{}
				}
				sf.PortFiles[node][port] = n
			}
		}
	}
	if b, ok := read(filepath.Join("logs", "gcs_server.out"), maxGCSLog); ok {
		sf.GCS, sf.HasGCSLog = parseGCSLog(b), true
	}
	if b, ok := read(filepath.Join("logs", "dashboard.log"), maxDashLog); ok {
		sf.Dashboard = parseDashboardLog(b)
	}
	// Ray 2.60.0 logs the client server's start line to ray_client_server.err (seen live);
	// .out is read too in case another version differs.
	for _, name := range []string{"ray_client_server.err", "ray_client_server.out"} {
		if b, ok := read(filepath.Join("logs", name), maxClientLog); ok {
			if cl := parseClientServerLog(b); cl.Address != "" {
				sf.Client, sf.ClientLog = cl, "logs/"+name
				break
			}
		}
	}
	if b, ok := read(filepath.Join("logs", "raylet.out"), maxRayletLog); ok {
		sf.Raylet = parseRayletLog(b)
	}
	return sf
}
