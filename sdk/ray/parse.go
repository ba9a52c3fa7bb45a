package ray

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

// The decoders below read the Ray dashboard's answers. Each takes the raw
// body and never panics (fuzz tests hold them to it); each was written
// against the answers of a live Ray 2.60.0 (testdata/live-2.60.0, e2e/raycluster/testdata,
// plugins/discovery/dashboard-scan/dashscan/testdata). They are the only
// copy in CastRay: the host's Dashboard client and the plugins use them.

// DecodeAuthMode decodes GET /api/authentication_mode:
// {"authentication_mode": "token"|"disabled"|"k8s"}.
func DecodeAuthMode(body []byte) (string, error) {
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

// VersionInfo is what GET /api/version says (not enveloped).
type VersionInfo struct {
	RayVersion string
	RayCommit  string
	// SessionName is "" when absent (Ray before 2.x) or not a session name.
	SessionName string
	// APIVersion is the dashboard API's own version ("version", "4" in
	// 2.60), "" when absent.
	APIVersion string
}

// DecodeVersion decodes GET /api/version: {"version": "4", "ray_version",
// "ray_commit", "session_name"}. A JSON answer without a plausible
// ray_version (another server's {"version": "1.2.3"}) is not a Ray
// dashboard. Only strings count; implausible optional fields are dropped,
// the rest kept.
func DecodeVersion(body []byte) (VersionInfo, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return VersionInfo{}, fmt.Errorf("version: %w", err)
	}
	var v VersionInfo
	for key, dst := range map[string]*string{
		"ray_version": &v.RayVersion, "ray_commit": &v.RayCommit,
		"session_name": &v.SessionName, "version": &v.APIVersion,
	} {
		if r, ok := raw[key]; ok {
			_ = json.Unmarshal(r, dst) // only strings count
		}
	}
	if v.RayVersion == "" {
		return VersionInfo{}, errors.New("version: no ray_version")
	}
	if !plausibleVersion(v.RayVersion) {
		return VersionInfo{}, fmt.Errorf("version: implausible ray_version %q", clip(v.RayVersion))
	}
	if !validSessionName(v.SessionName) {
		v.SessionName = ""
	}
	if len(v.RayCommit) > 64 {
		v.RayCommit = ""
	}
	if len(v.APIVersion) > 16 {
		v.APIVersion = ""
	}
	return v, nil
}

// plausibleVersion accepts "2.60.0", "3.0.0.dev0", "2.60.0rc1".
func plausibleVersion(s string) bool {
	if len(s) > 40 || s == "" || s[0] < '0' || s[0] > '9' || !strings.Contains(s, ".") {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '+') {
			return false
		}
	}
	return true
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

// parseEnvelope reads the dashboard's {"result": bool, "msg", "data"}.
func parseEnvelope(what string, body []byte) (json.RawMessage, error) {
	var e struct {
		Result *bool           `json:"result"`
		Msg    string          `json:"msg"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if e.Result == nil {
		return nil, fmt.Errorf("%s: not a Ray dashboard answer (no result)", what)
	}
	if !*e.Result {
		return nil, &StatusError{Method: what, Code: 200, Message: e.Msg}
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return nil, fmt.Errorf("%s: no data", what)
	}
	return e.Data, nil
}

// DecodeClusterID decodes GET /cluster_id: data.clusterId (56 hex digits).
func DecodeClusterID(body []byte) (string, error) {
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

// StateListing is what a State API listing (data.result.{total,
// num_after_truncation, num_filtered, result, partial_failure_warning,
// warnings}) says about itself besides its rows.
type StateListing struct {
	// Returned is the number of rows in the answer.
	Returned int
	// Total is the number of entries the source had before the limit
	// (and, for the GCS side, before its own filters).
	Total int
	// NumAfterTruncation is how many rows the data source (the GCS)
	// returned, plus those it filtered out itself; less than Total when the
	// source capped its answer (RAY_MAX_LIMIT_FROM_DATA_SOURCE, 10000).
	NumAfterTruncation int
	// NumFiltered is how many rows passed every filter, before the
	// request's limit cut them to Returned.
	NumFiltered int
	// Warning joins partial_failure_warning and warnings (clipped), "" when
	// there are none.
	Warning string
}

// Truncated reports whether rows are missing, and how many rows there
// would be (a lower bound when the data source itself was capped). This is
// Ray 2.60's counting (state_aggregator.py; e2e/fakeray replays it).
func (l StateListing) Truncated() (bool, int) {
	want := max(l.NumFiltered, l.Returned)
	if l.NumAfterTruncation < l.Total && want < l.Total {
		return true, l.Total // the source capped its answer; at least this many
	}
	return want > l.Returned, want
}

// stateList is a listing with its rows still raw, for the per-row decoders.
type stateList struct {
	StateListing
	Rows []json.RawMessage
}

func parseStateList(what string, body []byte) (stateList, error) {
	// One pass over the envelope and the list (a listing of 10,000 nodes is
	// megabytes: decoding the envelope and then its data again cost a
	// third of a sync); the rows stay raw for the per-row decoders.
	var e struct {
		Result *bool  `json:"result"`
		Msg    string `json:"msg"`
		Data   *struct {
			Result *struct {
				Total              *int              `json:"total"`
				NumAfterTruncation *int              `json:"num_after_truncation"`
				NumFiltered        *int              `json:"num_filtered"`
				Result             []json.RawMessage `json:"result"`
				Warning            *string           `json:"partial_failure_warning"`
				Warnings           []json.RawMessage `json:"warnings"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return stateList{}, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case e.Result == nil:
		return stateList{}, fmt.Errorf("%s: not a Ray dashboard answer (no result)", what)
	case !*e.Result:
		return stateList{}, &StatusError{Method: what, Code: 200, Message: e.Msg}
	case e.Data == nil:
		return stateList{}, fmt.Errorf("%s: no data", what)
	}
	d := e.Data
	if d.Result == nil || d.Result.Result == nil {
		return stateList{}, fmt.Errorf("%s: no result list", what)
	}
	n := len(d.Result.Result)
	l := stateList{Rows: d.Result.Result, StateListing: StateListing{Returned: n, Total: n, NumAfterTruncation: n, NumFiltered: n}}
	if t := d.Result.Total; t != nil && *t > l.Total {
		l.Total = *t
	}
	l.NumAfterTruncation = l.Total
	if v := d.Result.NumAfterTruncation; v != nil && *v >= 0 {
		l.NumAfterTruncation = *v
	}
	if v := d.Result.NumFiltered; v != nil && *v > n {
		l.NumFiltered = *v
	}
	var warns []string
	if d.Result.Warning != nil && *d.Result.Warning != "" {
		warns = append(warns, clip(*d.Result.Warning))
	}
	for _, w := range d.Result.Warnings {
		var s string
		if json.Unmarshal(w, &s) == nil && s != "" {
			warns = append(warns, clip(s))
		}
	}
	l.Warning = strings.Join(warns, "; ")
	return l, nil
}

// DecodeStateNodes decodes GET /api/v0/nodes (the State API, detail=true
// or false). Rows: node_id, node_ip, is_head_node, state, state_message,
// node_name, resources_total, labels and, with detail, start_time_ms,
// end_time_ms (numbers here, unlike the summary). The State API has no
// available resources. A row without a hex node id or an ALIVE/DEAD state
// fails the whole answer; a "result": false answer is a *StatusError with
// Ray's msg. The listing says whether rows are missing (StateListing.Truncated).
func DecodeStateNodes(body []byte) ([]Node, StateListing, error) {
	nodes, l, err := parseStateNodes(body)
	return nodes, l.StateListing, err
}

func parseStateNodes(body []byte) ([]Node, stateList, error) {
	l, err := parseStateList("api/v0/nodes", body)
	if err != nil {
		return nil, l, err
	}
	nodes := make([]Node, 0, len(l.Rows))
	for _, raw := range l.Rows {
		var r struct {
			NodeID       string          `json:"node_id"`
			NodeIP       string          `json:"node_ip"`
			IsHead       bool            `json:"is_head_node"`
			State        string          `json:"state"`
			StateMessage *string         `json:"state_message"`
			NodeName     string          `json:"node_name"`
			Resources    json.RawMessage `json:"resources_total"`
			Labels       json.RawMessage `json:"labels"`
			Start        json.RawMessage `json:"start_time_ms"`
			End          json.RawMessage `json:"end_time_ms"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, l, fmt.Errorf("api/v0/nodes: node row: %w", err)
		}
		id := cleanHexID(r.NodeID)
		if id == "" || !validState(r.State) {
			return nil, l, fmt.Errorf("api/v0/nodes: node row without a node id or state (%q, %q)", clip(r.NodeID), clip(r.State))
		}
		n := Node{
			NodeID: id, Address: cleanIP(r.NodeIP), IsHead: r.IsHead, State: r.State,
			NodeName: clip(r.NodeName), ResourcesTotal: numberMap(r.Resources), Labels: stringMap(r.Labels),
			StartTimeMs: millis(r.Start), EndTimeMs: millis(r.End),
		}
		if r.StateMessage != nil {
			n.StateReason = clip(*r.StateMessage)
		}
		nodes = append(nodes, n)
	}
	return nodes, l, nil
}

// parseStateActors reads GET /api/v0/actors?detail=true. Rows: actor_id,
// class_name, state, job_id, name, node_id, pid, ray_namespace and, with
// detail, required_resources and address{ip_address, port, ...}.
func parseStateActors(body []byte) ([]Actor, stateList, error) {
	l, err := parseStateList("api/v0/actors", body)
	if err != nil {
		return nil, l, err
	}
	actors := make([]Actor, 0, len(l.Rows))
	for _, raw := range l.Rows {
		var r struct {
			ActorID   string          `json:"actor_id"`
			ClassName string          `json:"class_name"`
			State     string          `json:"state"`
			JobID     string          `json:"job_id"`
			Name      string          `json:"name"`
			NodeID    *string         `json:"node_id"`
			PID       json.RawMessage `json:"pid"`
			Namespace string          `json:"ray_namespace"`
			Required  json.RawMessage `json:"required_resources"`
			Address   *struct {
				IP   string          `json:"ip_address"`
				Port json.RawMessage `json:"port"`
			} `json:"address"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, l, fmt.Errorf("api/v0/actors: actor row: %w", err)
		}
		id := cleanHexID(r.ActorID)
		if id == "" || !actorStates[r.State] {
			return nil, l, fmt.Errorf("api/v0/actors: actor row without an actor id or state (%q, %q)", clip(r.ActorID), clip(r.State))
		}
		a := Actor{
			ActorID: id, ClassName: clip(r.ClassName), Name: clip(r.Name), Namespace: clip(r.Namespace),
			State: r.State, JobID: cleanHexID(r.JobID), RequiredResources: numberMap(r.Required),
		}
		if r.NodeID != nil {
			a.NodeID = cleanHexID(*r.NodeID)
		}
		if p := millis(r.PID); p > 0 && p <= math.MaxUint32 {
			a.PID = uint32(p)
		}
		if r.Address != nil {
			if ip, port := cleanIP(r.Address.IP), millis(r.Address.Port); ip != "" && port > 0 && port <= 65535 {
				a.Address = net.JoinHostPort(ip, strconv.FormatUint(port, 10))
			}
		}
		actors = append(actors, a)
	}
	return actors, l, nil
}

var actorStates = map[string]bool{"DEPENDENCIES_UNREADY": true, "PENDING_CREATION": true, "ALIVE": true, "RESTARTING": true, "DEAD": true}

func validState(s string) bool { return s == "ALIVE" || s == "DEAD" }

// NodesSummary is what GET /nodes?view=summary says: every node the GCS
// lists (no limit), with available resources and the head raylet's
// command-line facts.
type NodesSummary struct {
	Nodes []Node
	// Head is what the first alive head node's raylet command line says
	// (GCS address, cluster id, session); empty until the agent's physical
	// stats arrive, a few seconds after the node (SessionDir may be known
	// earlier, from the GCS's node info).
	Head RayletFacts
}

// summaryNode is one data.summary[] entry, or the data.detail of GET
// /nodes/{id}: the agent's physical stats (cmdline of the raylet, hostname,
// ip) and, under raylet, the GcsNodeInfo in camelCase with start/end times
// as strings.
type summaryNode struct {
	IP       string          `json:"ip"`
	Hostname string          `json:"hostname"`
	Cmdline  json.RawMessage `json:"cmdline"`
	Raylet   *struct {
		NodeID             string          `json:"nodeId"`
		NodeManagerAddress string          `json:"nodeManagerAddress"`
		NodeManagerHost    string          `json:"nodeManagerHostname"`
		NodeManagerPort    json.RawMessage `json:"nodeManagerPort"`
		NodeName           string          `json:"nodeName"`
		State              string          `json:"state"`
		StateMessage       *string         `json:"stateMessage"`
		IsHeadNode         bool            `json:"isHeadNode"`
		ResourcesTotal     json.RawMessage `json:"resourcesTotal"`
		Labels             json.RawMessage `json:"labels"`
		StartTimeMs        json.RawMessage `json:"startTimeMs"`
		EndTimeMs          json.RawMessage `json:"endTimeMs"`
		SessionDir         string          `json:"sessionDir"`
		DeathInfo          *struct {
			ReasonMessage string `json:"reasonMessage"`
		} `json:"deathInfo"`
	} `json:"raylet"`
}

// node turns a summary entry into a Node and its raylet command-line
// facts; ok is false for stats of a node the GCS no longer lists.
func (s summaryNode) node(known []string) (Node, RayletFacts, bool) {
	r := s.Raylet
	if r == nil || !validState(r.State) || cleanHexID(r.NodeID) == "" {
		return Node{}, RayletFacts{}, false
	}
	facts := ParseRayletCmdline(stringList(s.Cmdline))
	if facts.SessionDir == "" {
		facts.SessionDir = cleanPath(r.SessionDir)
	}
	n := Node{
		NodeID: cleanHexID(r.NodeID), Address: cleanIP(r.NodeManagerAddress), Hostname: clip(r.NodeManagerHost),
		NodeName: clip(r.NodeName), IsHead: r.IsHeadNode || facts.Head, State: r.State, Labels: stringMap(r.Labels),
		StartTimeMs: millis(r.StartTimeMs), EndTimeMs: millis(r.EndTimeMs),
	}
	if n.Address == "" {
		n.Address = cleanIP(s.IP)
	}
	if p := millis(r.NodeManagerPort); p > 0 && p <= 65535 {
		n.NodeManagerPort = int(p)
	}
	if r.StateMessage != nil {
		n.StateReason = clip(*r.StateMessage)
	}
	if n.StateReason == "" && r.DeathInfo != nil {
		n.StateReason = clip(r.DeathInfo.ReasonMessage)
	}
	// resourcesTotal went through the dashboard's camelCase conversion
	// ("objectStoreMemory", "node:InternalHead"); map the names back.
	n.ResourcesTotal = DecamelResources(numberMap(r.ResourcesTotal), append(append([]string(nil), known...), facts.StaticResources...))
	return n, facts, true
}

// DecodeNodesSummary decodes GET /nodes?view=summary: data.summary[] and
// data.nodeLogicalResources{nodeIdHex: "used/total name" lines}. known are
// resource names as Ray spells them (e.g. from the State API; nil for
// none) to undo the dashboard's camelCase conversion, besides Ray's
// well-known names and each raylet's --static_resource_list. Entries
// without a raylet, a node id or an ALIVE/DEAD state (stats of a node the
// GCS no longer lists) are skipped.
func DecodeNodesSummary(body []byte, known []string) (NodesSummary, error) {
	data, err := parseEnvelope("nodes?view=summary", body)
	if err != nil {
		return NodesSummary{}, err
	}
	var d struct {
		Summary []json.RawMessage `json:"summary"`
		Logical map[string]string `json:"nodeLogicalResources"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return NodesSummary{}, fmt.Errorf("nodes?view=summary: %w", err)
	}
	if d.Summary == nil {
		return NodesSummary{}, errors.New("nodes?view=summary: no summary list")
	}
	var s NodesSummary
	for _, raw := range d.Summary {
		var e summaryNode
		if err := json.Unmarshal(raw, &e); err != nil {
			return NodesSummary{}, fmt.Errorf("nodes?view=summary: node: %w", err)
		}
		n, facts, ok := e.node(known)
		if !ok {
			continue
		}
		if text, ok := d.Logical[n.NodeID]; ok {
			n.ResourcesAvailable = availableFromUsage(text, n.ResourcesTotal)
		}
		s.Nodes = append(s.Nodes, n)
		if n.IsHead && n.State == "ALIVE" && s.Head.empty() {
			s.Head = facts
		}
	}
	return s, nil
}

// DecodeNodeDetail decodes GET /nodes/{node id}: data.detail, a summary
// entry (plus actors and workers, not read), and the raylet's command-line
// facts (empty until the agent's physical stats arrive).
func DecodeNodeDetail(body []byte) (Node, RayletFacts, error) {
	data, err := parseEnvelope("nodes/{id}", body)
	if err != nil {
		return Node{}, RayletFacts{}, err
	}
	var d struct {
		Detail *summaryNode `json:"detail"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return Node{}, RayletFacts{}, fmt.Errorf("nodes/{id}: %w", err)
	}
	if d.Detail == nil {
		return Node{}, RayletFacts{}, errors.New("nodes/{id}: no detail")
	}
	n, facts, ok := d.Detail.node(nil)
	if !ok {
		return Node{}, RayletFacts{}, errors.New("nodes/{id}: no raylet")
	}
	return n, facts, nil
}

// availableFromUsage turns the dashboard's per-node usage text
// ("0.0/1.0 CPU\n0B/16.10GiB memory\n0B/6.90GiB object_store_memory",
// Ray's resource names, not camelCased) into available = total - used.
// The total comes from resourcesTotal when known (exact); byte amounts in
// the text are rounded by Ray to two decimals of their unit, so available
// memory and object store memory are approximate (to ~0.5% of the unit).
func availableFromUsage(text string, totals map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		amounts, name, ok := strings.Cut(line, " ")
		if !ok || name == "" || len(name) > 200 {
			continue
		}
		usedS, totalS, ok := strings.Cut(amounts, "/")
		if !ok {
			continue
		}
		used, ok1 := parseAmount(usedS)
		total, ok2 := parseAmount(totalS)
		if !ok1 || !ok2 {
			continue
		}
		if t, ok := totals[name]; ok {
			total = t
		}
		avail := total - used
		if avail < 0 {
			avail = 0
		}
		out[name] = avail
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var byteUnits = []struct {
	suffix string
	mult   float64
}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseAmount reads "1.0", "0B", "16.10GiB".
func parseAmount(s string) (float64, bool) {
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	if s == "" || len(s) > 40 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(f) || f < 0 {
		return 0, false
	}
	return f * mult, true
}

// wellKnownResources are Ray's own resource names whose camelCase form the
// dashboard uses.
var wellKnownResources = []string{"CPU", "GPU", "TPU", "memory", "object_store_memory", "node:__internal_head__"}

// camelIndex maps the dashboard's camelCase form of each name (and of
// Ray's well-known names) back to the name.
func camelIndex(known []string) map[string]string {
	idx := map[string]string{}
	for _, names := range [][]string{wellKnownResources, known} {
		for _, k := range names {
			idx[toCamelCase(k)] = k
		}
	}
	return idx
}

// DecamelResources maps the resource names of a dashboard answer that went
// through the dashboard's camelCase conversion ("objectStoreMemory",
// "node:InternalHead", "acceleratorType:A100") back to Ray's: every name in
// known (and Ray's well-known ones) whose camelCase form is a key. Other
// keys are kept as they are; a key that is already a Ray name wins over
// one renamed to it.
func DecamelResources(res map[string]float64, known []string) map[string]float64 {
	if len(res) == 0 {
		return res
	}
	idx := camelIndex(known)
	out := make(map[string]float64, len(res))
	for k, v := range res {
		if orig, ok := idx[k]; ok && orig != k {
			if _, literal := res[orig]; literal {
				continue
			}
			k = orig
		}
		out[k] = v
	}
	return out
}

// toCamelCase is the dashboard's key conversion
// (ray.dashboard.utils.to_camel_case): split on "_", keep the first part,
// str.title() the others.
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
// character is title-cased, every other cased letter lower-cased.
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
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
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

// stringMap decodes {name: string}, dropping non-strings.
func stringMap(raw json.RawMessage) map[string]string {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, r := range m {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out[k] = s
		}
	}
	return out
}

// millis reads a non-negative integer given as a number (State API) or a
// string (the summary's camelCased int64s).
func millis(raw json.RawMessage) uint64 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		raw = []byte(s)
	}
	if v, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
		return v
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil && finite(f) && f >= 0 && f < 1<<63 {
		return uint64(f)
	}
	return 0
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

// cleanHexID lower-cases a hex id; "" when it is not hex or too long.
func cleanHexID(s string) string {
	if len(s) == 0 || len(s) > 128 || len(s)%2 != 0 {
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

// cleanPath keeps a path from a remote answer only if it is plausible.
func cleanPath(s string) string {
	if s == "" || len(s) > 4096 || strings.ContainsAny(s, "\x00\n") {
		return ""
	}
	return s
}

// validClusterID accepts Ray's cluster id: 28 bytes as hex (56 digits).
func validClusterID(s string) bool {
	return len(s) == 56 && cleanHexID(s) != ""
}
