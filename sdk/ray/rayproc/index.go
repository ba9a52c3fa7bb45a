package rayproc

import (
	"net"
	"slices"
	"sort"
	"strings"
)

// Index is a process table reduced to its Ray components, built once and then asked about
// sessions and GCS addresses.
type Index struct {
	Procs []RayProcess
	// gcsOwners maps a GCS port to the session names whose live processes use it.
	gcsOwners map[int]map[string]bool
}

// NewIndex recognises the Ray components among ps.
func NewIndex(ps []Process) *Index {
	idx := &Index{gcsOwners: map[int]map[string]bool{}}
	for _, p := range ps {
		if rp, ok := Recognise(p); ok {
			idx.Procs = append(idx.Procs, rp)
		}
	}
	for _, rp := range idx.Procs {
		port := gcsPort(rp.GCSAddress())
		if port == 0 {
			continue
		}
		for _, name := range rp.SessionNames() {
			if idx.gcsOwners[port] == nil {
				idx.gcsOwners[port] = map[string]bool{}
			}
			idx.gcsOwners[port][name] = true
		}
	}
	return idx
}

// ForSession returns the processes that name the session called name whose dir has any of
// the spellings dirs (as listed, resolved). A process that names session dirs matches only
// by dir, so a copy of a session elsewhere is not taken for the live one; a process naming
// only a session name (no dir) matches by name.
func (idx *Index) ForSession(name string, dirs []string) []RayProcess {
	var out []RayProcess
	for _, p := range idx.Procs {
		hit := false
		if len(p.SessionDirs) > 0 {
			for _, d := range p.SessionDirs {
				if slices.Contains(dirs, d) {
					hit = true
					break
				}
			}
		} else if name != "" && p.SessionName() == name {
			hit = true
		}
		if hit {
			out = append(out, p)
		}
	}
	return out
}

// ClientServerFor returns the live Ray Client server started for the GCS at gcsAddr.
func (idx *Index) ClientServerFor(gcsAddr string) (RayProcess, bool) {
	if gcsAddr == "" {
		return RayProcess{}, false
	}
	for _, p := range idx.Procs {
		if p.Role == RoleClientServer && p.GCSAddress() == gcsAddr {
			return p, true
		}
	}
	return RayProcess{}, false
}

// SessionsOnGCSPort lists, sorted, the session names of the live processes whose GCS
// address has this port.
func (idx *Index) SessionsOnGCSPort(port int) []string {
	var out []string
	for name := range idx.gcsOwners[port] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// RayletGCSAddresses is Ray's own way to find the local cluster
// (ray._private.services.find_gcs_addresses, 2.60): the values of every "--gcs-address="
// word on the command lines of processes whose executable name contains "raylet", the words
// being the arguments split on spaces (setproctitle may put a whole command line into one
// argument; the raylet's --python_worker_command holds the workers' flags). Values are
// taken as they are, except "" and "None". Sorted, without duplicates.
func RayletGCSAddresses(ps []Process) []string {
	const flag = "--gcs-address"
	seen := map[string]bool{}
	for _, p := range ps {
		if rp, ok := Recognise(p); !ok || rp.Role != RoleRaylet || rp.Titled {
			continue
		}
		for _, arg := range p.Argv {
			for _, word := range strings.Split(arg, " ") {
				if !strings.HasPrefix(word, flag) {
					continue
				}
				parts := strings.Split(word, "=")
				if len(parts) < 2 || parts[1] == "" || parts[1] == "None" {
					continue
				}
				seen[parts[1]] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func gcsPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := ParsePort(p)
	return n
}
