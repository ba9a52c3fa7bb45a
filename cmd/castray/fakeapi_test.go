package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fasthttp/websocket"
)

// fakeAPI is an in-process daemon speaking the API's shapes
// (host/api/openapi.yaml): canned documents for the read-only routes, and
// files and transfers that change as the CLI uses them. A transfer advances
// by half the file on every GET, so a follower sees it run and end.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	requests  []string          // "METHOD /path?query"
	bodies    map[string][]byte // last body per "METHOD /path"
	files     map[string][]byte
	transfers map[string]*fakeTransfer
	fail      map[string]string // node id -> error of its target
	nodes     []string          // active nodes a broadcast reaches
	events    []string          // sent on /ws, then a normal close
	token     string            // required when set
}

type fakeTransfer struct {
	id, mode, file string
	size           int64
	targets        []string
	polls          int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, bodies: map[string][]byte{}, files: map[string][]byte{}, transfers: map[string]*fakeTransfer{},
		fail: map[string]string{}, nodes: []string{"node_1", "node_2"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", f.route)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeAPI) body(key string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(f.bodies[key], &m); err != nil {
		f.t.Fatalf("body of %s: %v (%q)", key, err, f.bodies[key])
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch b := v.(type) {
	case string:
		io.WriteString(w, b)
	default:
		_ = json.NewEncoder(w).Encode(v)
	}
}

func apiErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"success": false, "error": msg})
}

func (f *fakeAPI) route(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.requests = append(f.requests, key+queryOf(r))
	f.bodies[key] = body
	f.mu.Unlock()
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		apiErr(w, 401, "missing API token: send Authorization: Bearer <token>")
		return
	}
	p := r.URL.Path
	switch {
	case key == "GET /api/plugins":
		writeJSON(w, 200, pluginsDoc)
	case key == "GET /api/status":
		writeJSON(w, 200, statusDoc)
	case key == "GET /api/nodes":
		writeJSON(w, 200, nodesDoc)
	case key == "GET /api/groups":
		writeJSON(w, 200, groupsDoc)
	case key == "POST /api/groups":
		writeJSON(w, 201, groupDoc)
	case key == "GET /api/distributions":
		writeJSON(w, 200, distributionsDoc)
	case key == "GET /api/clusters":
		writeJSON(w, 200, clustersDoc)
	case key == "DELETE /api/cluster/disconnect-external":
		writeJSON(w, 200, disconnectDoc)
	case key == "POST /api/cluster/discover-external":
		writeJSON(w, 200, discoverDoc)
	case key == "GET /api/files":
		f.listFiles(w)
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/api/files/"):
		f.putFile(w, r, strings.TrimPrefix(p, "/api/files/"), body)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/api/files/"):
		f.deleteFile(w, strings.TrimPrefix(p, "/api/files/"))
	case key == "POST /api/transfers":
		f.startTransfer(w, body)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/transfers/"):
		f.getTransfer(w, strings.TrimPrefix(p, "/api/transfers/"))
	case key == "GET /ws":
		f.ws(w, r)
	default:
		apiErr(w, 404, fmt.Sprintf("no route %s %s", r.Method, p))
	}
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

const fixedTime = "2026-01-02T03:04:05Z"

func fileInfo(name string, data []byte) map[string]any {
	sum := sha256.Sum256(data)
	return map[string]any{"name": name, "size": len(data), "sha256": hex.EncodeToString(sum[:]), "modified": fixedTime}
}

func (f *fakeAPI) listFiles(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.files))
	for n := range f.files {
		names = append(names, n)
	}
	sort.Strings(names)
	list := []any{}
	for _, n := range names {
		list = append(list, fileInfo(n, f.files[n]))
	}
	writeJSON(w, 200, map[string]any{"success": true, "files": list, "count": len(list)})
}

func (f *fakeAPI) putFile(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	if int64(len(body)) != r.ContentLength {
		apiErr(w, 400, fmt.Sprintf("upload incomplete: got %d of %d bytes", len(body), r.ContentLength))
		return
	}
	f.mu.Lock()
	f.files[name] = body
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"success": true, "file": fileInfo(name, body)})
}

func (f *fakeAPI) deleteFile(w http.ResponseWriter, name string) {
	f.mu.Lock()
	_, ok := f.files[name]
	delete(f.files, name)
	f.mu.Unlock()
	if !ok {
		apiErr(w, 404, fmt.Sprintf("file %q not found", name))
		return
	}
	writeJSON(w, 200, map[string]any{"success": true, "message": "file " + name + " deleted"})
}

func (f *fakeAPI) startTransfer(w http.ResponseWriter, body []byte) {
	var req struct {
		FileName string          `json:"file_name"`
		Mode     string          `json:"mode"`
		Targets  []string        `json:"targets"`
		Group    string          `json:"group"`
		Selector json.RawMessage `json:"selector"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		apiErr(w, 400, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[req.FileName]
	if !ok {
		apiErr(w, 400, fmt.Sprintf("file_name %q: no such uploaded file", req.FileName))
		return
	}
	targets := req.Targets
	if len(targets) == 0 {
		targets = f.nodes
	}
	tr := &fakeTransfer{id: fmt.Sprintf("tr-20260102-030405-%016d", len(f.transfers)+1), mode: req.Mode, file: req.FileName, size: int64(len(data)), targets: targets}
	f.transfers[tr.id] = tr
	writeJSON(w, 202, map[string]any{"success": true, "transfer": f.record(tr)})
}

func (f *fakeAPI) getTransfer(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tr, ok := f.transfers[id]
	if !ok {
		apiErr(w, 404, fmt.Sprintf("transfer %q not found", id))
		return
	}
	tr.polls++
	writeJSON(w, 200, map[string]any{"success": true, "transfer": f.record(tr)})
}

// record is the transfer's record after tr.polls GETs.
func (f *fakeAPI) record(tr *fakeTransfer) map[string]any {
	var targets []any
	completed, failed := 0, 0
	for _, n := range tr.targets {
		done := min(tr.size, tr.size*int64(tr.polls)/2)
		t := map[string]any{"node_id": n, "backend": "local", "state": "running", "bytes_done": done}
		switch {
		case tr.polls == 0:
			t["state"] = "pending"
		case f.fail[n] != "" && tr.polls >= 2:
			t["state"], t["error"], t["bytes_done"] = "failed", f.fail[n], tr.size/2
			failed++
		case done == tr.size:
			t["state"], t["location"], t["finished_at"] = "completed", "/inbox/"+n+"/"+tr.file, fixedTime
			completed++
		}
		targets = append(targets, t)
	}
	state := "running"
	switch {
	case tr.polls == 0:
		state = "pending"
	case completed == len(targets):
		state = "completed"
	case completed+failed == len(targets) && completed > 0:
		state = "partial"
	case failed == len(targets):
		state = "failed"
	}
	sum := sha256.Sum256(f.files[tr.file])
	rec := map[string]any{"id": tr.id, "state": state, "mode": tr.mode, "backend": "local", "attempts": 1,
		"file":    map[string]any{"name": tr.file, "size": tr.size, "sha256": hex.EncodeToString(sum[:])},
		"targets": targets, "created_at": fixedTime}
	if state == "partial" {
		rec["error"] = fmt.Sprintf("%d of %d targets failed", failed, len(targets))
	}
	return rec
}

func (f *fakeAPI) ws(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for _, e := range f.events {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(e)); err != nil {
			return
		}
	}
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"))
	_, _, _ = conn.ReadMessage() // the client's close
}

// Canned documents, in the shapes of host/api/openapi.yaml.
const (
	pluginsDoc       = `{"success":true,"plugins":[{"name":"local","kind":"transfer","path":"/plugins/castray-transfer-local","sha256":"ab12","version":"0.1.0","api_version":1,"api_versions":[1],"state":"healthy","restarts":0,"pid":4242},{"name":"portscan","kind":"discovery","path":"/plugins/castray-discovery-portscan","sha256":"cd34","version":"0.1.0","api_version":1,"state":"failed","last_error":"exited","restarts":3}],"count":2}`
	statusDoc        = `{"total_nodes":2,"active_nodes":1,"node_statuses":[{"node_id":"node_1","is_running":true,"node_type":"local","kind":"local","state":"active","last_seen":"2026-01-02T03:04:05Z"},{"node_id":"node_2","is_running":false,"node_type":"local","kind":"local","state":"inactive","last_seen":"2026-01-02T03:04:05Z"}],"ray_cluster":{"connected":false,"cluster_resources":{},"available_resources":{},"nodes":0},"node_ports":{},"plugins":{"total":2,"healthy":1},"version":"0.1.0-dev","uptime_seconds":12.5}`
	nodesDoc         = `{"success":true,"nodes":[{"id":"node_1","kind":"local","state":"active","inbox_dir":"/inbox/node_1","source":"demo","created_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z"},{"id":"ray:c-0123456789ab:aa01","kind":"ray-node","name":"head","state":"active","address":"10.0.0.5","cluster_id":"c-0123456789ab","is_head":true,"resources":{"CPU":4,"GPU":1},"created_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z"}],"count":2}`
	groupsDoc        = `{"success":true,"groups":[{"name":"gpus","type":"selector","selector":{"kind":"ray-node","resources":{"GPU":1}},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"},{"name":"workers","type":"list","members":["node_1","node_2"],"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}],"count":2}`
	groupDoc         = `{"success":true,"message":"group workers created","group":{"name":"workers","type":"list","members":["node_1","node_2"],"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"},"resolved":{"group":"workers","type":"list","node_ids":["node_1","node_2"],"inactive":["node_2"]}}`
	distributionsDoc = `{"success":true,"distributions":[{"id":"dist-20260102-030405-0123456789ab","name":"weights","file_name":"model.bin","selector":{"kind":"local"},"state":"active","sha256":"ef56","satisfied":false,"counts":{"total":2,"pending":0,"delivering":1,"present":1,"failed":0},"nodes":[{"node_id":"node_1","status":"present","node_state":"active","transfer_id":"tr-1","sha256":"ef56","location":"/inbox/node_1/model.bin","attempts":1,"delivered_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"},{"node_id":"node_2","status":"delivering","node_state":"active","transfer_id":"tr-1","attempts":1,"updated_at":"2026-01-02T03:04:05Z"}],"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}],"count":1}`
	clustersDoc      = `{"success":true,"clusters":[{"id":"c-0123456789ab","address":"http://10.0.0.5:8265","via":"dashboard","state":"connected","ray_version":"2.60.0","nodes":2,"alive_nodes":2,"actors":1,"connected_at":"2026-01-02T03:04:05Z","last_sync":"2026-01-02T03:04:05Z","reconnects":0}],"count":1}`
	disconnectDoc    = `{"success":true,"message":"disconnected from c-0123456789ab","disconnected":[{"id":"c-0123456789ab","address":"http://10.0.0.5:8265","via":"dashboard","state":"disconnected","nodes":2,"alive_nodes":2,"actors":1,"connected_at":"2026-01-02T03:04:05Z","reconnects":0}]}`
	discoverDoc      = `{"success":true,"discovered_clusters":[{"id":"gcs-127.0.0.1-6379","source":"portscan","sources":["portscan"],"evidence":[{"source":"portscan","evidence":["GET /api/version -> 200"],"elapsed_ms":3,"status":"active"}],"gcs_address":"127.0.0.1:6379","dashboard_url":"http://127.0.0.1:8265","ray_version":"2.60.0","nodes":1,"resources":{"CPU":4},"status":"active","auth_required":false}],"connected_cluster":null,"external_nodes":{},"error":null,"discovery":{"id":"disc-030405-0a1b2c3d","started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:05Z","duration_ms":12,"clusters":[],"plugins":{"portscan":{"name":"portscan","duration_ms":11,"candidates":1,"probes":4}}},"connections":[]}`
)
