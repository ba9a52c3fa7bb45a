package ray

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
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

// parseStateList reads a State API listing's envelope
// ({"result", "msg", "data": {"result": {"total", "num_after_truncation",
// "num_filtered", "result": [rows], "partial_failure_warning",
// "warnings"}}}) in one pass with the rows: begin is called at the start of
// every row list (a later one replaces an earlier one, as in
// encoding/json), row once per row with s before it; row must consume the
// row and returns an error for a row it cannot take (then the listing
// fails, unless that row list is replaced).
func parseStateList(what string, body []byte, begin func(), row func(s *jscan) error) (StateListing, error) {
	type list struct {
		total, numAfterTruncation, numFiltered *int
		rows                                   bool // a row list (not null) was read
		n                                      int
		rowErr                                 error
		warning                                *string
		warnings                               []string
	}
	type data struct{ result *list }
	var (
		result *bool
		msg    string
		d      *data
		envErr error // a value of the wrong type: sticky, as in encoding/json
	)
	typeErr := func(err error) {
		if err != nil && envErr == nil {
			envErr = err
		}
	}
	readList := func(s *jscan, l *list) {
		s.object(func(key []byte) {
			switch {
			case keyIs(key, "total"):
				typeErr(s.readIntPtr(&l.total))
			case keyIs(key, "num_after_truncation"):
				typeErr(s.readIntPtr(&l.numAfterTruncation))
			case keyIs(key, "num_filtered"):
				typeErr(s.readIntPtr(&l.numFiltered))
			case keyIs(key, "result"):
				switch s.ws() {
				case 'n':
					s.lit("null")
					l.rows, l.n, l.rowErr = false, 0, nil
				case '[':
					l.rows, l.n, l.rowErr = true, 0, nil
					begin()
					s.array(func() {
						if err := row(s); err != nil && l.rowErr == nil {
							l.rowErr = err
						}
						l.n++
					})
				default:
					s.skip()
					typeErr(errType)
				}
			case keyIs(key, "partial_failure_warning"):
				typeErr(s.readStringPtr(&l.warning))
			case keyIs(key, "warnings"):
				switch s.ws() {
				case 'n':
					s.lit("null")
					l.warnings = nil
				case '[':
					l.warnings = l.warnings[:0]
					s.array(func() {
						if s.ws() == '"' {
							if w := s.stringValue(); w != "" {
								l.warnings = append(l.warnings, w)
							}
							return
						}
						s.skip()
					})
				default:
					s.skip()
					typeErr(errType)
				}
			default:
				s.skip()
			}
		})
	}
	s := &jscan{b: body}
	switch s.ws() {
	case '{':
		s.object(func(key []byte) {
			switch {
			case keyIs(key, "result"):
				typeErr(s.readBoolPtr(&result))
			case keyIs(key, "msg"):
				typeErr(s.readString(&msg))
			case keyIs(key, "data"):
				switch s.ws() {
				case 'n':
					s.lit("null")
					d = nil
				case '{':
					if d == nil {
						d = &data{}
					}
					s.object(func(key []byte) {
						if !keyIs(key, "result") {
							s.skip()
							return
						}
						switch s.ws() {
						case 'n':
							s.lit("null")
							d.result = nil
						case '{':
							if d.result == nil {
								d.result = &list{}
							}
							readList(s, d.result)
						default:
							s.skip()
							typeErr(errType)
						}
					})
				default:
					s.skip()
					typeErr(errType)
				}
			default:
				s.skip()
			}
		})
	case 'n':
		s.lit("null")
	default:
		s.skip()
		typeErr(errType)
	}
	s.end()
	if s.err != nil {
		return StateListing{}, fmt.Errorf("%s: %w", what, s.err)
	}
	if envErr != nil {
		return StateListing{}, fmt.Errorf("%s: %w", what, envErr)
	}
	switch {
	case result == nil:
		return StateListing{}, fmt.Errorf("%s: not a Ray dashboard answer (no result)", what)
	case !*result:
		return StateListing{}, &StatusError{Method: what, Code: 200, Message: msg}
	case d == nil:
		return StateListing{}, fmt.Errorf("%s: no data", what)
	}
	r := d.result
	if r == nil || !r.rows {
		return StateListing{}, fmt.Errorf("%s: no result list", what)
	}
	if r.rowErr != nil {
		return StateListing{}, r.rowErr
	}
	n := r.n
	l := StateListing{Returned: n, Total: n, NumAfterTruncation: n, NumFiltered: n}
	if t := r.total; t != nil && *t > l.Total {
		l.Total = *t
	}
	l.NumAfterTruncation = l.Total
	if v := r.numAfterTruncation; v != nil && *v >= 0 {
		l.NumAfterTruncation = *v
	}
	if v := r.numFiltered; v != nil && *v > n {
		l.NumFiltered = *v
	}
	var warns []string
	if r.warning != nil && *r.warning != "" {
		warns = append(warns, clip(*r.warning))
	}
	for _, w := range r.warnings {
		warns = append(warns, clip(w))
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
	return parseStateNodes(body)
}

// rowErr is the error of a row that is not an object.
var errRowNotObject = errors.New("row is not an object")

func parseStateNodes(body []byte) ([]Node, StateListing, error) {
	var nodes []Node
	l, err := parseStateList("api/v0/nodes", body, func() { nodes = make([]Node, 0, rowsGuess(body)) }, func(s *jscan) error {
		var (
			n            Node
			id, state    string
			ip, nodeName string
			stateMessage *string
		)
		err := readRow(s, "api/v0/nodes: node row", nodeFields, func(name string, typeErr func(error)) {
			switch name {
			case "node_id":
				typeErr(s.readString(&id))
			case "node_ip":
				typeErr(s.readString(&ip))
			case "is_head_node":
				typeErr(s.readBool(&n.IsHead))
			case "state":
				typeErr(s.readString(&state))
			case "state_message":
				typeErr(s.readStringPtr(&stateMessage))
			case "node_name":
				typeErr(s.readString(&nodeName))
			case "resources_total":
				n.ResourcesTotal = s.numberMapValue()
			case "labels":
				n.Labels = s.stringMapValue()
			case "start_time_ms":
				n.StartTimeMs = s.millisValue()
			case "end_time_ms":
				n.EndTimeMs = s.millisValue()
			default:
				s.skip()
			}
		})
		if err != nil || s.err != nil {
			return err
		}
		n.NodeID = cleanHexID(id)
		if n.NodeID == "" || !validState(state) {
			return fmt.Errorf("api/v0/nodes: node row without a node id or state (%q, %q)", clip(id), clip(state))
		}
		n.State = stateName(state)
		n.Address, n.NodeName = cleanIP(ip), clip(nodeName)
		if stateMessage != nil {
			n.StateReason = clip(*stateMessage)
		}
		nodes = append(nodes, n)
		return nil
	})
	if err != nil {
		return nil, l, err
	}
	return nodes, l, nil
}

// parseStateActors reads GET /api/v0/actors?detail=true. Rows: actor_id,
// class_name, state, job_id, name, node_id, pid, ray_namespace and, with
// detail, required_resources and address{ip_address, port, ...}.
func parseStateActors(body []byte) ([]Actor, StateListing, error) {
	var actors []Actor
	l, err := parseStateList("api/v0/actors", body, func() { actors = make([]Actor, 0, rowsGuess(body)) }, func(s *jscan) error {
		type address struct {
			ip   string
			port uint64
		}
		var (
			a                               Actor
			id, class, state, job, name, ns string
			nodeID                          *string
			pid                             uint64
			addr                            *address
		)
		err := readRow(s, "api/v0/actors: actor row", actorFields, func(key string, typeErr func(error)) {
			switch key {
			case "actor_id":
				typeErr(s.readString(&id))
			case "class_name":
				typeErr(s.readString(&class))
			case "state":
				typeErr(s.readString(&state))
			case "job_id":
				typeErr(s.readString(&job))
			case "name":
				typeErr(s.readString(&name))
			case "node_id":
				typeErr(s.readStringPtr(&nodeID))
			case "pid":
				pid = s.millisValue()
			case "ray_namespace":
				typeErr(s.readString(&ns))
			case "required_resources":
				a.RequiredResources = s.numberMapValue()
			case "address":
				switch s.ws() {
				case 'n':
					s.lit("null")
					addr = nil
				case '{':
					if addr == nil {
						addr = &address{}
					}
					s.object(func(key []byte) {
						switch {
						case keyIs(key, "ip_address"):
							typeErr(s.readString(&addr.ip))
						case keyIs(key, "port"):
							addr.port = s.millisValue()
						default:
							s.skip()
						}
					})
				default:
					s.skip()
					typeErr(errType)
				}
			default:
				s.skip()
			}
		})
		if err != nil || s.err != nil {
			return err
		}
		a.ActorID = cleanHexID(id)
		if a.ActorID == "" || !actorStates[state] {
			return fmt.Errorf("api/v0/actors: actor row without an actor id or state (%q, %q)", clip(id), clip(state))
		}
		a.State = stateName(state)
		a.ClassName, a.Name, a.Namespace, a.JobID = clip(class), clip(name), clip(ns), cleanHexID(job)
		if nodeID != nil {
			a.NodeID = cleanHexID(*nodeID)
		}
		if pid > 0 && pid <= math.MaxUint32 {
			a.PID = uint32(pid)
		}
		if addr != nil {
			if ip := cleanIP(addr.ip); ip != "" && addr.port > 0 && addr.port <= 65535 {
				a.Address = net.JoinHostPort(ip, strconv.FormatUint(addr.port, 10))
			}
		}
		actors = append(actors, a)
		return nil
	})
	if err != nil {
		return nil, l, err
	}
	return actors, l, nil
}

// readRow reads one row of a listing, an object, handing f the name of
// each key's field (one of fields, else "") and typeErr, which keeps the
// first value of the wrong type. what names the row in errors. A row that
// is not an object, or a value of the wrong type, is an error; a scan
// error is left in s.err.
func readRow(s *jscan, what string, fields []string, f func(name string, typeErr func(error))) error {
	if s.ws() != '{' {
		s.skip()
		return fmt.Errorf("%s: %w", what, errRowNotObject)
	}
	var rowErr error
	typeErr := func(err error) {
		if err != nil && rowErr == nil {
			rowErr = fmt.Errorf("%s: %w", what, err)
		}
	}
	s.object(func(key []byte) { f(field(key, fields), typeErr) })
	return rowErr
}

// The row fields read, for field().
var (
	nodeFields  = []string{"node_id", "node_ip", "is_head_node", "state", "state_message", "node_name", "resources_total", "labels", "start_time_ms", "end_time_ms"}
	actorFields = []string{"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace", "required_resources", "address"}
)

// rowsGuess sizes a listing's slice of rows from its body (a row is 400
// to 700 bytes), at most MaxStateLimit.
func rowsGuess(body []byte) int {
	return min(len(body)/400+1, MaxStateLimit)
}

// stateName returns the state as a shared constant string (the row's own
// copy is dropped).
func stateName(s string) string {
	switch s {
	case "ALIVE":
		return "ALIVE"
	case "DEAD":
		return "DEAD"
	}
	return s
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
	upper := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return ""
		}
	}
	if upper {
		return strings.ToLower(s)
	}
	return s
}

// cleanIP is the IP address s in its canonical form, "" when s is none.
func cleanIP(s string) string {
	// A plain IPv4 address that parses is already canonical (netip
	// accepts exactly four decimal fields without leading zeros): s itself,
	// without net.IP's allocations.
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return s
	}
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
