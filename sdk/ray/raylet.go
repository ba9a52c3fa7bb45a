package ray

import "strings"

// RayletFacts are what a raylet's command line says about its cluster. The
// dashboard shows the command line (the agent's physical stats, in
// /nodes?view=summary and /nodes/{id}) a few seconds after the node
// starts; until then every field is empty. Each field is validated: a
// value that is not what the flag should hold is left empty.
type RayletFacts struct {
	GCSAddress  string // --gcs-address=ip:port
	ClusterID   string // --cluster-id=<56 hex digits>, lower case
	SessionName string // --session-name=session_<date>_<time>_<usec>_<pid>
	SessionDir  string // --session_dir=
	NodeIP      string // --node_ip_address=
	Head        bool   // --head
	// StaticResources are the resource names of --static_resource_list,
	// as Ray spells them (at most 1000).
	StaticResources []string
}

func (f RayletFacts) empty() bool {
	return f.GCSAddress == "" && f.ClusterID == "" && f.SessionName == "" && f.SessionDir == ""
}

// ParseRayletCmdline reads a raylet's own flags from its argv (args[0]
// must name the raylet binary, else nothing is read). Flags inside the
// nested worker and agent commands (--python_worker_command=...
// --gcs-address=...) are one argument each and are not looked into.
func ParseRayletCmdline(args []string) RayletFacts {
	var f RayletFacts
	if len(args) == 0 || !strings.Contains(args[0], "raylet") {
		return f
	}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "--gcs-address", "--gcs_address":
			if validHostPort(v) {
				f.GCSAddress = v
			}
		case "--cluster-id", "--cluster_id":
			if validClusterID(v) {
				f.ClusterID = strings.ToLower(v)
			}
		case "--session-name", "--session_name":
			if validSessionName(v) {
				f.SessionName = v
			}
		case "--session_dir", "--session-dir":
			f.SessionDir = cleanPath(v)
		case "--node_ip_address", "--node-ip-address":
			f.NodeIP = cleanIP(v)
		case "--head":
			f.Head = true
		case "--static_resource_list":
			parts := strings.Split(v, ",") // name,value,name,value,...
			for i := 0; i+1 < len(parts) && len(f.StaticResources) < 1000; i += 2 {
				if parts[i] != "" && len(parts[i]) <= 200 {
					f.StaticResources = append(f.StaticResources, parts[i])
				}
			}
		}
	}
	return f
}
