package dashscan

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"unicode"
)

// The parsers below read the Ray dashboard's JSON answers. Each takes the
// raw body and never panics (fuzz tests hold them to it); each was written
// against the answers of a live Ray 2.60.0 (testdata/).

// parseAuthMode reads GET /api/authentication_mode:
// {"authentication_mode": "token"|"disabled"|"k8s"}.
func parseAuthMode(body []byte) (string, error) {
	var v struct {
		Mode *string `json:"authentication_mode"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("authentication_mode: %w", err)
	}
	if v.Mode == nil || *v.Mode == "" || len(*v.Mode) > 64 {
		return "", errors.New("authentication_mode: no authentication_mode")
	}
	return *v.Mode, nil
}

// versionInfo is GET /api/version.
type versionInfo struct {
	RayVersion  string `json:"ray_version"`
	RayCommit   string `json:"ray_commit"`
	SessionName string `json:"session_name"` // absent before Ray 2.x
	Version     string `json:"version"`      // the dashboard API version, "4" in 2.60
}

// parseVersion reads GET /api/version. A JSON answer without ray_version is
// not a Ray dashboard.
func parseVersion(body []byte) (versionInfo, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return versionInfo{}, fmt.Errorf("version: %w", err)
	}
	var v versionInfo
	for key, dst := range map[string]*string{
		"ray_version": &v.RayVersion, "ray_commit": &v.RayCommit,
		"session_name": &v.SessionName, "version": &v.Version,
	} {
		if r, ok := raw[key]; ok {
			// Only strings count; a number or an object is ignored.
			_ = json.Unmarshal(r, dst)
		}
	}
	if v.RayVersion == "" {
		return versionInfo{}, errors.New("version: no ray_version")
	}
	if !plausibleVersion(v.RayVersion) {
		return versionInfo{}, fmt.Errorf("version: implausible ray_version %q", clip(v.RayVersion))
	}
	if !validSessionName(v.SessionName) {
		v.SessionName = ""
	}
	return v, nil
}

// plausibleVersion accepts "2.60.0", "2.9.3", "3.0.0.dev0", "2.60.0rc1".
func plausibleVersion(s string) bool {
	if len(s) > 40 || s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '+') {
			return false
		}
	}
	return strings.Contains(s, ".")
}

// validSessionName accepts Ray's session_<date>_<time>_<usec>_<pid>.
func validSessionName(s string) bool {
	if !strings.HasPrefix(s, "session_") || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// envelope is the dashboard's usual answer {"result": bool, "msg": str, "data": {...}}.
type envelope struct {
	Result *bool           `json:"result"`
	Msg    string          `json:"msg"`
	Data   json.RawMessage `json:"data"`
}

func parseEnvelope(what string, body []byte) (json.RawMessage, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if e.Result == nil {
		return nil, fmt.Errorf("%s: not a dashboard answer (no result)", what)
	}
	if !*e.Result {
		return nil, fmt.Errorf("%s: dashboard says: %s", what, clip(e.Msg))
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return nil, fmt.Errorf("%s: no data", what)
	}
	return e.Data, nil
}

// nodeRow is one node as the State API (snake_case) or the node summary
// (camelCase, normalised) reports it.
type nodeRow struct {
	NodeID    string
	NodeIP    string
	IsHead    bool
	Alive     bool
	Resources map[string]float64
}

// nodeList is what a node listing says.
type nodeList struct {
	Rows []nodeRow
	// Total is the number of nodes the source knew of; it exceeds
	// len(Rows) when the listing was truncated (State API limit).
	Total int
	// Warning is the State API's partial_failure_warning, if any.
	Warning string
	// Head is the head node's raylet command line facts, from the node
	// summary (empty for the State API).
	Head rayletFacts
}

// Alive counts the alive rows.
func (l nodeList) Alive() int {
	n := 0
	for _, r := range l.Rows {
		if r.Alive {
			n++
		}
	}
	return n
}

// ResourcesTotal sums resources_total over the alive rows.
func (l nodeList) ResourcesTotal() map[string]float64 {
	out := map[string]float64{}
	for _, r := range l.Rows {
		if !r.Alive {
			continue
		}
		for k, v := range r.Resources {
			out[k] += v
		}
	}
	return out
}

// HeadNode returns the alive head row, if any.
func (l nodeList) HeadNode() (nodeRow, bool) {
	for _, r := range l.Rows {
		if r.IsHead && r.Alive {
			return r, true
		}
	}
	return nodeRow{}, false
}

// parseNodesV0 reads GET /api/v0/nodes (the State API):
// data.result.{total, result: [{node_id, node_ip, is_head_node, state, resources_total}]}.
func parseNodesV0(body []byte) (nodeList, error) {
	data, err := parseEnvelope("api/v0/nodes", body)
	if err != nil {
		return nodeList{}, err
	}
	var d struct {
		Result *struct {
			Total   *int              `json:"total"`
			Result  []json.RawMessage `json:"result"`
			Warning *string           `json:"partial_failure_warning"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nodeList{}, fmt.Errorf("api/v0/nodes: %w", err)
	}
	if d.Result == nil || d.Result.Result == nil {
		return nodeList{}, errors.New("api/v0/nodes: no result list")
	}
	var l nodeList
	for _, raw := range d.Result.Result {
		var n struct {
			NodeID    string          `json:"node_id"`
			NodeIP    string          `json:"node_ip"`
			IsHead    bool            `json:"is_head_node"`
			State     string          `json:"state"`
			Resources json.RawMessage `json:"resources_total"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			return nodeList{}, fmt.Errorf("api/v0/nodes: node row: %w", err)
		}
		if n.State == "" {
			return nodeList{}, errors.New("api/v0/nodes: node row without state")
		}
		l.Rows = append(l.Rows, nodeRow{
			NodeID: cleanNodeID(n.NodeID), NodeIP: cleanIP(n.NodeIP), IsHead: n.IsHead,
			Alive: n.State == "ALIVE", Resources: numberMap(n.Resources),
		})
	}
	l.Total = len(l.Rows)
	if d.Result.Total != nil && *d.Result.Total > l.Total {
		l.Total = *d.Result.Total
	}
	if d.Result.Warning != nil {
		l.Warning = clip(*d.Result.Warning)
	}
	return l, nil
}

// summaryNode is one entry of GET /nodes?view=summary (data.summary[]) or
// the data.detail of GET /nodes/{id}: the agent's physical stats (cmdline
// of the raylet, hostname, ip, ...) and, under raylet, the GcsNodeInfo in
// camelCase. The physical stats arrive a few seconds after the node.
type summaryNode struct {
	IP      string          `json:"ip"`
	Cmdline json.RawMessage `json:"cmdline"`
	Raylet  *struct {
		NodeID             string          `json:"nodeId"`
		NodeManagerAddress string          `json:"nodeManagerAddress"`
		State              string          `json:"state"`
		IsHeadNode         bool            `json:"isHeadNode"`
		ResourcesTotal     json.RawMessage `json:"resourcesTotal"`
		SessionDir         string          `json:"sessionDir"`
	} `json:"raylet"`
}

// row turns a summary entry into a nodeRow and its raylet facts.
func (s summaryNode) row() (nodeRow, rayletFacts, bool) {
	if s.Raylet == nil || s.Raylet.State == "" {
		return nodeRow{}, rayletFacts{}, false
	}
	facts := parseRayletCmdline(stringList(s.Cmdline))
	res := numberMap(s.Raylet.ResourcesTotal)
	// resourcesTotal went through the dashboard's camelCase conversion
	// ("objectStoreMemory"); the raylet's command line has Ray's names.
	res = decamelResources(res, facts.StaticResources)
	ip := cleanIP(s.Raylet.NodeManagerAddress)
	if ip == "" {
		ip = cleanIP(s.IP)
	}
	if facts.SessionDir == "" {
		facts.SessionDir = cleanPath(s.Raylet.SessionDir)
	}
	return nodeRow{
		NodeID: cleanNodeID(s.Raylet.NodeID), NodeIP: ip, IsHead: s.Raylet.IsHeadNode || facts.Head,
		Alive: s.Raylet.State == "ALIVE", Resources: res,
	}, facts, true
}

// parseNodesSummary reads GET /nodes?view=summary.
func parseNodesSummary(body []byte) (nodeList, error) {
	data, err := parseEnvelope("nodes?view=summary", body)
	if err != nil {
		return nodeList{}, err
	}
	var d struct {
		Summary []json.RawMessage `json:"summary"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nodeList{}, fmt.Errorf("nodes?view=summary: %w", err)
	}
	if d.Summary == nil {
		return nodeList{}, errors.New("nodes?view=summary: no summary list")
	}
	var l nodeList
	for _, raw := range d.Summary {
		var s summaryNode
		if err := json.Unmarshal(raw, &s); err != nil {
			return nodeList{}, fmt.Errorf("nodes?view=summary: node: %w", err)
		}
		row, facts, ok := s.row()
		if !ok {
			continue // stats of a node the GCS no longer lists
		}
		l.Rows = append(l.Rows, row)
		if row.IsHead && row.Alive && l.Head.empty() {
			l.Head = facts
		}
	}
	l.Total = len(l.Rows)
	return l, nil
}

// parseNodeDetail reads GET /nodes/{node id}: data.detail, a summary entry
// plus actors and workers.
func parseNodeDetail(body []byte) (nodeRow, rayletFacts, error) {
	data, err := parseEnvelope("nodes/{id}", body)
	if err != nil {
		return nodeRow{}, rayletFacts{}, err
	}
	var d struct {
		Detail *summaryNode `json:"detail"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nodeRow{}, rayletFacts{}, fmt.Errorf("nodes/{id}: %w", err)
	}
	if d.Detail == nil {
		return nodeRow{}, rayletFacts{}, errors.New("nodes/{id}: no detail")
	}
	row, facts, ok := d.Detail.row()
	if !ok {
		return nodeRow{}, rayletFacts{}, errors.New("nodes/{id}: no raylet")
	}
	return row, facts, nil
}

// rayletFacts are what a raylet's command line says about its cluster.
type rayletFacts struct {
	GCSAddress      string // --gcs-address=ip:port
	ClusterID       string // --cluster-id=<hex>
	SessionName     string // --session-name=
	SessionDir      string // --session_dir=
	NodeIP          string // --node_ip_address=
	Head            bool   // --head
	StaticResources []string
}

func (f rayletFacts) empty() bool {
	return f.GCSAddress == "" && f.ClusterID == "" && f.SessionName == "" && f.SessionDir == ""
}

// parseRayletCmdline reads the raylet's own flags. Flags inside the nested
// worker commands (--python_worker_command=... --gcs-address=...) are one
// argument each and are not looked into.
func parseRayletCmdline(args []string) rayletFacts {
	var f rayletFacts
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
			// name,value,name,value,...
			parts := strings.Split(v, ",")
			for i := 0; i+1 < len(parts); i += 2 {
				if parts[i] != "" && len(parts[i]) <= 200 {
					f.StaticResources = append(f.StaticResources, parts[i])
				}
			}
		}
	}
	return f
}

// clusterStatus is what GET /api/cluster_status says.
type clusterStatus struct {
	// Usage maps the dashboard's (camelCased) resource names to
	// {used, total}.
	Usage map[string][2]float64
	// NodeTypeResources are the node types' resources with Ray's own
	// names (loadMetricsReport.nodeTypes is a list, which the dashboard's
	// camelCase conversion leaves alone).
	NodeTypeResources map[string]float64
	HasNodeTypes      bool
	ActiveNodes       int // sum of autoscalerReport.activeNodes
	IdleNodes         int
	PendingNodes      int
	FailedNodes       int
	PendingDemands    int // resource, placement group and request_resources demands
	AutoscalingError  string
}

// parseClusterStatus reads GET /api/cluster_status:
// data.{autoscalingStatus, autoscalingError, clusterStatus{loadMetricsReport, autoscalerReport}}.
// clusterStatus is null until the autoscaler publishes its first status.
func parseClusterStatus(body []byte) (clusterStatus, bool, error) {
	data, err := parseEnvelope("cluster_status", body)
	if err != nil {
		return clusterStatus{}, false, err
	}
	var d struct {
		Error         *string         `json:"autoscalingError"`
		ClusterStatus json.RawMessage `json:"clusterStatus"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return clusterStatus{}, false, fmt.Errorf("cluster_status: %w", err)
	}
	var cs clusterStatus
	if d.Error != nil {
		cs.AutoscalingError = clip(*d.Error)
	}
	if len(d.ClusterStatus) == 0 || string(d.ClusterStatus) == "null" {
		return cs, false, nil
	}
	var s struct {
		Load *struct {
			Usage         map[string]json.RawMessage `json:"usage"`
			NodeTypes     []json.RawMessage          `json:"nodeTypes"`
			ResourceDmd   []json.RawMessage          `json:"resourceDemand"`
			PGDemand      []json.RawMessage          `json:"pgDemand"`
			RequestDemand []json.RawMessage          `json:"requestDemand"`
		} `json:"loadMetricsReport"`
		Report *struct {
			ActiveNodes  json.RawMessage            `json:"activeNodes"`
			IdleNodes    json.RawMessage            `json:"idleNodes"`
			PendingNodes []json.RawMessage          `json:"pendingNodes"`
			FailedNodes  []json.RawMessage          `json:"failedNodes"`
			Launches     map[string]json.RawMessage `json:"pendingLaunches"`
		} `json:"autoscalerReport"`
	}
	if err := json.Unmarshal(d.ClusterStatus, &s); err != nil {
		// With ?format=1 clusterStatus is the `ray status` text.
		return clusterStatus{}, false, fmt.Errorf("cluster_status: clusterStatus: %w", err)
	}
	if s.Load == nil && s.Report == nil {
		return cs, false, nil
	}
	if s.Load != nil {
		cs.Usage = map[string][2]float64{}
		for k, raw := range s.Load.Usage {
			var pair []float64
			if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 || !finite(pair[0]) || !finite(pair[1]) {
				continue
			}
			cs.Usage[k] = [2]float64{pair[0], pair[1]}
		}
		// nodeTypes: [[{resource: amount}, count], ...]
		for _, raw := range s.Load.NodeTypes {
			var pair []json.RawMessage
			if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
				continue
			}
			res := numberMap(pair[0])
			var count float64
			if json.Unmarshal(pair[1], &count) != nil || !finite(count) || count < 0 {
				continue
			}
			if cs.NodeTypeResources == nil {
				cs.NodeTypeResources = map[string]float64{}
			}
			cs.HasNodeTypes = true
			for k, v := range res {
				cs.NodeTypeResources[k] += v * count
			}
		}
		cs.PendingDemands = demandCount(s.Load.ResourceDmd) + demandCount(s.Load.PGDemand) + demandCount(s.Load.RequestDemand)
	}
	if s.Report != nil {
		cs.ActiveNodes = countNodes(s.Report.ActiveNodes)
		cs.IdleNodes = countNodes(s.Report.IdleNodes)
		cs.PendingNodes = len(s.Report.PendingNodes)
		for _, raw := range s.Report.Launches {
			var n float64
			if json.Unmarshal(raw, &n) == nil && finite(n) && n > 0 && n < 1e9 {
				cs.PendingNodes += int(n)
			}
		}
		cs.FailedNodes = len(s.Report.FailedNodes)
	}
	return cs, true, nil
}

// demandCount sums the counts of [[{bundle}, count], ...] demands; an entry
// without a count counts once.
func demandCount(list []json.RawMessage) int {
	n := 0
	for _, raw := range list {
		var pair []json.RawMessage
		if json.Unmarshal(raw, &pair) == nil && len(pair) == 2 {
			var c float64
			if json.Unmarshal(pair[1], &c) == nil && finite(c) && c > 0 && c < 1e9 {
				n += int(c)
				continue
			}
		}
		n++
	}
	return n
}

// countNodes reads activeNodes/idleNodes: a map node type → count (v1), or
// a list of nodes (v2).
func countNodes(raw json.RawMessage) int {
	var m map[string]float64
	if json.Unmarshal(raw, &m) == nil {
		n := 0
		for _, c := range m {
			if finite(c) && c > 0 && c < 1e9 {
				n += int(c)
			}
		}
		return n
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil {
		return len(l)
	}
	return 0
}

// parseClusterID reads GET /cluster_id: data.clusterId (hex).
func parseClusterID(body []byte) (string, error) {
	data, err := parseEnvelope("cluster_id", body)
	if err != nil {
		return "", err
	}
	var d struct {
		ID string `json:"clusterId"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return "", fmt.Errorf("cluster_id: %w", err)
	}
	if !validClusterID(d.ID) {
		return "", fmt.Errorf("cluster_id: not a cluster id: %q", clip(d.ID))
	}
	return strings.ToLower(d.ID), nil
}

// resourcesUsed maps the cluster status usage onto Ray's resource names:
// known holds Ray's names (from the State API, the node types or the
// raylet's command line) so that "objectStoreMemory" becomes
// "object_store_memory".
func (cs clusterStatus) resources(known map[string]float64) (used, total map[string]float64) {
	if len(cs.Usage) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(known)+len(cs.NodeTypeResources))
	for k := range known {
		names = append(names, k)
	}
	for k := range cs.NodeTypeResources {
		names = append(names, k)
	}
	used, total = map[string]float64{}, map[string]float64{}
	byCamel := camelIndex(names)
	for k, pair := range cs.Usage {
		name := k
		if real, ok := byCamel[k]; ok {
			name = real
		}
		used[name] = pair[0]
		total[name] = pair[1]
	}
	return used, total
}

// wellKnownResources are Ray's built-in resource names, whose camelCase
// forms the dashboard reports.
var wellKnownResources = []string{"CPU", "GPU", "TPU", "memory", "object_store_memory", "node:__internal_head__"}

// camelIndex maps the dashboard's camelCase form of each name (and of
// Ray's built-in names) back to the name.
func camelIndex(names []string) map[string]string {
	idx := map[string]string{}
	for _, n := range wellKnownResources {
		idx[toCamelCase(n)] = n
	}
	for _, n := range names {
		idx[toCamelCase(n)] = n
	}
	return idx
}

// decamelResources renames the camelCase keys of res back to Ray's names,
// using the built-in names and known.
func decamelResources(res map[string]float64, known []string) map[string]float64 {
	if len(res) == 0 {
		return res
	}
	idx := camelIndex(known)
	out := make(map[string]float64, len(res))
	for k, v := range res {
		if real, ok := idx[k]; ok {
			k = real
		}
		out[k] += v
	}
	return out
}

// toCamelCase is the dashboard's key conversion
// (ray.dashboard.utils.to_camel_case): split on "_", keep the first part,
// str.title() the rest.
func toCamelCase(s string) string {
	parts := strings.Split(s, "_")
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		b.WriteString(pyTitle(p))
	}
	return b.String()
}

// pyTitle is Python's str.title(): a cased letter after an uncased
// character is upper-cased, every other cased letter lower-cased.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		cased := unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
		switch {
		case cased && !prevCased:
			b.WriteRune(unicode.ToTitle(r))
		case cased:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prevCased = cased
	}
	return b.String()
}

// --- small validators ---

// numberMap decodes {name: number}, dropping what is not a finite number.
func numberMap(raw json.RawMessage) map[string]float64 {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, r := range m {
		var f float64
		if json.Unmarshal(r, &f) == nil && finite(f) {
			out[k] = f
		}
	}
	return out
}

// stringList decodes a JSON list of strings, dropping empty ones (the
// agent's setproctitle'd command lines are padded with "").
func stringList(raw json.RawMessage) []string {
	var l []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &l) != nil {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, r := range l {
		var s string
		if json.Unmarshal(r, &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || len(s) > 300 {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 1 && p <= 65535
}

// validClusterID accepts Ray's cluster id: 28 bytes as hex (56 digits).
func validClusterID(s string) bool {
	if len(s) != 56 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func cleanNodeID(s string) string {
	if len(s) == 0 || len(s) > 128 {
		return ""
	}
	if _, err := hex.DecodeString(s); err != nil {
		return ""
	}
	return strings.ToLower(s)
}

func cleanIP(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	return ""
}

func cleanPath(s string) string {
	if s == "" || len(s) > 4096 || strings.ContainsAny(s, "\x00\n") {
		return ""
	}
	return s
}

// clip shortens a string from a remote answer for evidence and notes.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		cut := 120
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// isHealthzSuccess is GET /api/gcs_healthz's healthy answer.
func isHealthzSuccess(status int, body []byte) bool {
	return status == 200 && string(bytes.TrimSpace(body)) == "success"
}
