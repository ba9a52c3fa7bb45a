package ray

import "strings"

// CmdlineFlags reads the flags among a Ray process's arguments (its argv
// after the program name), as Ray spells them: "--key=value" and bare
// "--key" (value ""), with one dash or two. Keys lose their leading dashes
// and have '-' as '_' (Ray writes --gcs-address and --session_dir alike);
// the first of a key wins. Arguments that are not flags, and flags inside
// one argument (the raylet's --python_worker_command="... --gcs-address=...")
// are not looked into. It is the kit's one parser of Ray command lines: the
// raylet's as the dashboard reports it (ParseRayletCmdline) and those of
// local processes (rayproc.Recognise).
func CmdlineFlags(args []string) map[string]string {
	flags := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k == "" {
			continue
		}
		k = strings.ReplaceAll(k, "-", "_")
		if _, dup := flags[k]; !dup {
			flags[k] = v
		}
	}
	return flags
}

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
// must name the raylet binary, else nothing is read) with CmdlineFlags.
// Flags inside the nested worker and agent commands
// (--python_worker_command=... --gcs-address=...) are one argument each
// and are not looked into.
func ParseRayletCmdline(args []string) RayletFacts {
	var f RayletFacts
	if len(args) == 0 || !strings.Contains(args[0], "raylet") {
		return f
	}
	flags := CmdlineFlags(args[1:])
	if v := flags["gcs_address"]; validHostPort(v) {
		f.GCSAddress = v
	}
	if v := flags["cluster_id"]; validClusterID(v) {
		f.ClusterID = strings.ToLower(v)
	}
	if v := flags["session_name"]; validSessionName(v) {
		f.SessionName = v
	}
	f.SessionDir = cleanPath(flags["session_dir"])
	f.NodeIP = cleanIP(flags["node_ip_address"])
	_, f.Head = flags["head"]
	if v, ok := flags["static_resource_list"]; ok {
		parts := strings.Split(v, ",") // name,value,name,value,...
		for i := 0; i+1 < len(parts) && len(f.StaticResources) < 1000; i += 2 {
			if parts[i] != "" && len(parts[i]) <= 200 {
				f.StaticResources = append(f.StaticResources, parts[i])
			}
		}
	}
	return f
}
