package fakeray

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	ctJSON = "application/json; charset=utf-8"
	ctText = "text/plain; charset=utf-8"
)

// openPaths answer without a token in token mode (http_auth_matrix.txt and
// ray-facts §3). /api/healthz and /-/healthz are open but 404 on 2.60.0.
func openPath(p string) bool {
	switch p {
	case "/", "/favicon.ico", "/api/authentication_mode", "/api/authenticate",
		"/api/healthz", "/api/gcs_healthz", "/api/local_raylet_healthz", "/-/healthz":
		return true
	}
	return strings.HasPrefix(p, "/static/")
}

// ServeHTTP counts, delays, fails, authenticates (before routing, as Ray
// does: an unknown path without a token is 401) and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reqMu.Lock()
	s.reqs[r.URL.Path]++
	s.reqMu.Unlock()

	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if st := int(s.fail.Load()); st != 0 {
		writeRaw(w, st, ctText, []byte(fmt.Sprintf("%d: %s", st, http.StatusText(st))))
		return
	}
	if tok := s.opts.Token; tok != "" && !openPath(r.URL.Path) {
		got, ok := requestToken(r)
		if !ok {
			writeRaw(w, http.StatusUnauthorized, ctText, []byte("Unauthorized: Missing authentication token"))
			return
		}
		if got != tok {
			writeRaw(w, http.StatusForbidden, ctText, []byte("Forbidden: Invalid authentication token"))
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeRaw(w, http.StatusMethodNotAllowed, ctText, []byte("405: Method Not Allowed"))
		return
	}

	switch r.URL.Path {
	case "/":
		writeRaw(w, 200, "text/html", []byte(indexHTML))
	case "/api/authentication_mode":
		mode := "disabled"
		if s.opts.Token != "" {
			mode = "token"
		}
		writeRaw(w, 200, ctJSON, []byte(`{"authentication_mode": "`+mode+`"}`))
	case "/api/gcs_healthz":
		writeRaw(w, 200, ctText, []byte("success"))
	case "/api/version":
		s.mu.RLock()
		b := []byte(`{"version": "4", "ray_version": `)
		b = appendPyStr(b, s.opts.RayVersion)
		b = append(b, `, "ray_commit": "`+DefaultRayCommit+`", "session_name": `...)
		b = appendPyStr(b, s.session)
		b = append(b, '}')
		s.mu.RUnlock()
		writeRaw(w, 200, ctJSON, b)
	case "/cluster_id":
		s.mu.RLock()
		b := []byte(`{"result": true, "msg": "Fetched cluster id", "data": {"clusterId": "` + s.clusterID + `"}}`)
		s.mu.RUnlock()
		writeRaw(w, 200, ctJSON, b)
	case "/api/v0/nodes":
		s.serveCached(w, r, s.listNodes)
	case "/api/v0/actors":
		s.serveCached(w, r, s.listActors)
	case "/nodes":
		s.serveCached(w, r, s.nodesView)
	default:
		writeRaw(w, http.StatusNotFound, ctText, []byte("404: Not Found"))
	}
}

// indexHTML is the captured dashboard index page (root.txt); the fake
// serves no static files behind it.
const indexHTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"/><link rel="shortcut icon" href="./favicon.ico"/><meta name="viewport" content="width=device-width,initial-scale=1"/><title>Ray Dashboard</title><script defer="defer" src="./static/js/main.84605326.js"></script><link href="./static/css/main.ec1426f1.css" rel="stylesheet"></head><body><noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>`

// requestToken finds the token the way Ray 2.60 accepts it: Authorization
// or X-Ray-Authorization "Bearer <t>", or the ray-authentication-token cookie.
func requestToken(r *http.Request) (string, bool) {
	for _, h := range []string{"Authorization", "X-Ray-Authorization"} {
		if v := r.Header.Get(h); v != "" {
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				return v, true // present but malformed: a wrong token
			}
			return strings.TrimSpace(t), true
		}
	}
	if c, err := r.Cookie("ray-authentication-token"); err == nil {
		return c.Value, true
	}
	return "", false
}

func writeRaw(w http.ResponseWriter, status int, ctype string, body []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type built struct {
	status int
	ctype  string
	body   []byte
}

// serveCached answers from the body cache when nothing changed since the
// body was built for this exact path and query.
func (s *Server) serveCached(w http.ResponseWriter, r *http.Request, build func(url.Values) built) {
	key := r.URL.Path + "?" + r.URL.RawQuery
	s.mu.RLock()
	gen := s.gen
	s.cacheMu.Lock()
	c, ok := s.cache[key]
	s.cacheMu.Unlock()
	if !ok || c.gen != gen {
		b := build(r.URL.Query())
		c = cached{gen: gen, status: b.status, ctype: b.ctype, body: b.body}
		s.cacheMu.Lock()
		for k, old := range s.cache { // drop stale bodies
			if old.gen != gen {
				delete(s.cache, k)
			}
		}
		s.cache[key] = c
		s.cacheMu.Unlock()
	}
	s.mu.RUnlock()
	writeRaw(w, c.status, c.ctype, c.body)
}

// stateError is rest_response(success=False, ..., result=None) with
// convert_google_style=False, as captured in api_v0_nodes_limit_too_high.txt.
func stateError(status int, msg string) built {
	b := []byte(`{"result": false, "msg": `)
	b = appendPyStr(b, msg)
	b = append(b, `, "data": {"result": null}}`...)
	return built{status, ctJSON, b}
}

// internalError is aiohttp's answer to an unhandled exception (the
// AssertionError of mismatched filter_keys/filter_values).
func internalError() built {
	return built{500, ctText, []byte("500 Internal Server Error\n\nServer got itself in trouble")}
}

type filter struct{ key, pred, val string }

type listOpts struct {
	limit   int
	detail  bool
	filters []filter
}

// parseListOpts is options_from_req + _get_filters_from_req.
func parseListOpts(q url.Values) (listOpts, *built) {
	var o listOpts
	o.limit = defaultLimit
	if v, ok := q["limit"]; ok && len(v) > 0 {
		n, err := pyInt(v[0])
		if err != nil {
			b := stateError(400, err.Error())
			return o, &b
		}
		o.limit = n
	}
	if o.limit > maxFromAPIServer {
		b := stateError(400, fmt.Sprintf("Given limit %d exceeds the supported limit %d. Use a lower limit, or set the `RAY_MAX_LIMIT_FROM_API_SERVER` environment variable to a larger value.", o.limit, maxFromAPIServer))
		return o, &b
	}
	if v, ok := q["timeout"]; ok && len(v) > 0 {
		if _, err := pyInt(v[0]); err != nil {
			b := stateError(400, err.Error())
			return o, &b
		}
	}
	keys, preds, vals := q["filter_keys"], q["filter_predicates"], q["filter_values"]
	if len(keys) != len(vals) {
		b := internalError()
		return o, &b
	}
	for i := 0; i < len(keys) && i < len(preds); i++ { // zip()
		o.filters = append(o.filters, filter{keys[i], preds[i], vals[i]})
	}
	if v, ok := q["detail"]; ok && len(v) > 0 {
		d, err := pyBool(v[0])
		if err != nil {
			b := stateError(400, err.Error())
			return o, &b
		}
		o.detail = d
	}
	if o.limit < 0 { // islice(result, negative)
		b := stateError(400, "Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize.")
		return o, &b
	}
	return o, nil
}

// pyInt is Python's int(str): surrounding whitespace, sign and "_" between
// digits allowed.
func pyInt(s string) (int, error) {
	t := strings.TrimSpace(s)
	u := t
	if strings.HasPrefix(u, "+") || strings.HasPrefix(u, "-") {
		u = u[1:]
	}
	ok := u != "" && !strings.HasPrefix(u, "_") && !strings.HasSuffix(u, "_") && !strings.Contains(u, "__")
	if ok {
		for _, c := range u {
			if (c < '0' || c > '9') && c != '_' {
				ok = false
				break
			}
		}
	}
	if ok {
		if n, err := strconv.Atoi(strings.ReplaceAll(t, "_", "")); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("invalid literal for int() with base 10: %s", pyRepr(s))
}

// pyBool is convert_string_to_type(val, bool) (ray/util/state/util.py).
func pyBool(s string) (bool, error) {
	switch s {
	case "True", "true", "1":
		return true, nil
	case "False", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("Failed to convert a value %s of type <class 'str'> to <class 'bool'>", s)
}

// pyRepr approximates repr(str) for error messages.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// column values a filter can see: a string, a bool, an int, or None.
type colKind int

const (
	colStr colKind = iota
	colBool
	colInt
	colNone
)

type colVal struct {
	kind colKind
	s    string
	b    bool
	i    int
}

var nodeFilterable = []string{"node_id", "node_ip", "is_head_node", "state", "node_name"}

var actorFilterable = []string{"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace", "placement_group_id", "repr_name"}

func pySet(cols []string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("'" + c + "'")
	}
	sb.WriteByte('}')
	return sb.String()
}

// prepared is a filter list after convert_filters_type: bool columns have
// their value converted up front (that can fail even with no rows).
type prepared struct {
	filter
	col     string
	bval    bool
	isBoolV bool
}

func prepareFilters(fs []filter, boolCols map[string]bool) ([]prepared, *built) {
	out := make([]prepared, len(fs))
	for i, f := range fs {
		out[i] = prepared{filter: f, col: strings.ToLower(f.key)}
		if boolCols[f.key] { // convert_filters_type looks the raw key up in the schema
			v, err := pyBool(f.val)
			if err != nil {
				b := stateError(400, fmt.Sprintf("Invalid filter `--filter %s %s` for a boolean type column. Please provide `--filter %s [True|true|1]` for True or `--filter %s [False|false|0]` for False.", f.key, f.val, f.key, f.key))
				return nil, &b
			}
			out[i].bval, out[i].isBoolV = v, true
		}
	}
	return out, nil
}

// match is do_filter's inner loop for one row; the error is the ValueError
// do_filter raises (only when there is a row to look at).
func match(fs []prepared, filterable []string, get func(col string) (colVal, bool)) (bool, *built) {
	for _, f := range fs {
		known := false
		for _, c := range filterable {
			if c == f.col {
				known = true
				break
			}
		}
		if !known {
			b := stateError(400, fmt.Sprintf("The given filter column %s is not supported. Enter filters with \u2013-filter key=value or \u2013-filter key!=value Supported filter columns: %s", f.col, pySet(filterable)))
			return false, &b
		}
		v, present := get(f.col)
		if !present {
			return false, nil
		}
		var ok bool
		switch f.pred {
		case "=":
			switch {
			case f.isBoolV:
				ok = v.kind == colBool && v.b == f.bval
			case v.kind == colStr:
				ok = strings.EqualFold(v.s, f.val) // .lower() == .lower() (ASCII ids and names)
			case v.kind == colBool:
				bv, err := pyBool(f.val)
				if err != nil {
					b := stateError(400, err.Error())
					return false, &b
				}
				ok = v.b == bv
			case v.kind == colInt:
				n, err := pyInt(f.val)
				if err != nil {
					b := stateError(400, fmt.Sprintf("Failed to convert a value %s of type <class 'str'> to <class 'int'>", f.val))
					return false, &b
				}
				ok = v.i == n
			default: // None == "x"
				ok = false
			}
		case "!=":
			switch {
			case f.isBoolV:
				ok = !(v.kind == colBool && v.b == f.bval)
			case v.kind == colStr:
				ok = !strings.EqualFold(v.s, f.val)
			default: // int/bool/None != str: always true in Python
				ok = true
			}
		default:
			b := stateError(400, fmt.Sprintf("Unsupported filter predicate %s is given. Available predicates: =, !=.", f.pred))
			return false, &b
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func strCol(s string) (colVal, bool) { return colVal{kind: colStr, s: s}, true }

func (n *node) col(c string) (colVal, bool) {
	switch c {
	case "node_id":
		return strCol(n.id)
	case "node_ip":
		return strCol(n.ip)
	case "is_head_node":
		return colVal{kind: colBool, b: n.head}, true
	case "state":
		return strCol(n.stateStr())
	case "node_name":
		return strCol(n.name)
	}
	return colVal{}, false
}

func (a *actor) col(c string) (colVal, bool) {
	switch c {
	case "actor_id":
		return strCol(a.id)
	case "class_name":
		return strCol(a.class)
	case "state":
		return strCol(a.state)
	case "job_id":
		return strCol(a.jobID)
	case "name":
		return strCol(a.name)
	case "node_id":
		return strCol(a.nodeID)
	case "pid":
		return colVal{kind: colInt, i: a.pid}, true
	case "ray_namespace":
		return strCol(a.ns)
	case "placement_group_id":
		return colVal{kind: colNone}, true
	case "repr_name":
		return strCol("")
	}
	return colVal{}, false
}

var nodeStates = map[string]bool{"ALIVE": true, "DEAD": true}

var actorStates = map[string]bool{"DEPENDENCIES_UNREADY": true, "PENDING_CREATION": true, "ALIVE": true, "RESTARTING": true, "DEAD": true}

// listNodes is StateAPIManager.list_nodes over the fake GCS.
func (s *Server) listNodes(q url.Values) built {
	o, bad := parseListOpts(q)
	if bad != nil {
		return *bad
	}
	// GCS side (StateDataSourceClient.get_all_node_info): "=" on node_id and
	// node_name become node selectors (any may match), "=" on state the
	// state filter; at most maxFromDataSource rows come back.
	var ids, names []string
	stateFilter := ""
	for _, f := range o.filters {
		if f.pred != "=" {
			continue
		}
		switch f.key {
		case "node_id":
			ids = append(ids, strings.ToLower(f.val))
		case "node_name":
			names = append(names, f.val)
		case "state":
			v := strings.ToUpper(f.val)
			if !nodeStates[v] {
				return stateError(400, "Invalid node state for filtering: "+v)
			}
			stateFilter = v
		}
	}
	pf, bad := prepareFilters(o.filters, map[string]bool{"is_head_node": true})
	if bad != nil {
		return *bad
	}
	var fromGCS []*node
	matched := 0
	for _, n := range s.nodes {
		if stateFilter != "" && n.stateStr() != stateFilter {
			continue
		}
		if len(ids)+len(names) > 0 {
			hit := false
			for _, id := range ids {
				hit = hit || n.id == id
			}
			for _, nm := range names {
				hit = hit || n.name == nm
			}
			if !hit {
				continue
			}
		}
		matched++
		if len(fromGCS) < maxFromDataSource {
			fromGCS = append(fromGCS, n)
		}
	}
	numAfterTruncation := len(fromGCS)
	total := numAfterTruncation + (matched - len(fromGCS))
	kept := fromGCS[:0:0]
	for _, n := range fromGCS {
		ok, bad := match(pf, nodeFilterable, n.col)
		if bad != nil {
			return *bad
		}
		if ok {
			kept = append(kept, n)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].id < kept[j].id })
	numFiltered := len(kept)
	if len(kept) > o.limit {
		kept = kept[:o.limit]
	}
	rows := make([][]byte, len(kept))
	for i, n := range kept {
		rows[i] = n.row
		if o.detail {
			rows[i] = n.rowDetail
		}
	}
	return built{200, ctJSON, envelope(total, numAfterTruncation, numFiltered, rows)}
}

// listActors is StateAPIManager.list_actors over the fake GCS.
func (s *Server) listActors(q url.Values) built {
	o, bad := parseListOpts(q)
	if bad != nil {
		return *bad
	}
	// GCS side (get_all_actor_info): "=" on actor_id, state and job_id.
	var srcID, srcState, srcJob string
	for _, f := range o.filters {
		if f.pred != "=" {
			continue
		}
		switch f.key {
		case "actor_id":
			srcID = strings.ToLower(f.val)
		case "state":
			v := strings.ToUpper(f.val)
			if !actorStates[v] {
				return stateError(400, "Invalid actor state for filtering: "+v)
			}
			srcState = v
		case "job_id":
			srcJob = strings.ToLower(f.val)
		}
	}
	pf, bad := prepareFilters(o.filters, nil)
	if bad != nil {
		return *bad
	}
	var fromGCS []*actor
	gcsFiltered := 0
	for _, a := range s.actors {
		if (srcID != "" && a.id != srcID) || (srcState != "" && a.state != srcState) || (srcJob != "" && a.jobID != srcJob) {
			gcsFiltered++
			continue
		}
		if len(fromGCS) < maxFromDataSource {
			fromGCS = append(fromGCS, a)
		}
	}
	total := len(s.actors)
	numAfterTruncation := len(fromGCS) + gcsFiltered
	kept := fromGCS[:0:0]
	for _, a := range fromGCS {
		ok, bad := match(pf, actorFilterable, a.col)
		if bad != nil {
			return *bad
		}
		if ok {
			kept = append(kept, a)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].id < kept[j].id })
	numFiltered := len(kept)
	if len(kept) > o.limit {
		kept = kept[:o.limit]
	}
	rows := make([][]byte, len(kept))
	for i, a := range kept {
		rows[i] = a.row
		if o.detail {
			rows[i] = a.rowDetail
		}
	}
	return built{200, ctJSON, envelope(total, numAfterTruncation, numFiltered, rows)}
}

// envelope is rest_response(convert_google_style=False, result=asdict(ListApiResponse)).
func envelope(total, numAfterTruncation, numFiltered int, rows [][]byte) []byte {
	n := 256
	for _, r := range rows {
		n += len(r) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, `{"result": true, "msg": "", "data": {"result": {"total": `...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `, "num_after_truncation": `...)
	b = strconv.AppendInt(b, int64(numAfterTruncation), 10)
	b = append(b, `, "num_filtered": `...)
	b = strconv.AppendInt(b, int64(numFiltered), 10)
	b = append(b, `, "result": [`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, r...)
	}
	b = append(b, `], "partial_failure_warning": "", "warnings": null}}}`...)
	return b
}
