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
	lag       int               // polls a target stays running with all its bytes done
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
	case key == "POST /api/nodes":
		var req struct {
			NodeID string `json:"node_id"`
		}
		_ = json.Unmarshal(body, &req)
		writeJSON(w, 201, strings.ReplaceAll(createNodeDoc, "node_9", req.NodeID))
	case key == "GET /api/nodes/external":
		writeJSON(w, 200, externalNodesDoc)
	case key == "POST /api/nodes/select":
		writeJSON(w, 200, selectDoc)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/api/nodes/"):
		writeJSON(w, 200, strings.ReplaceAll(deleteNodeDoc, "node_9", strings.TrimPrefix(p, "/api/nodes/")))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/nodes/") && strings.HasSuffix(p, "/messages"):
		writeJSON(w, 200, messagesDoc)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/nodes/") && strings.HasSuffix(p, "/files"):
		writeJSON(w, 200, nodeFilesDoc)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/nodes/") && strings.Contains(p, "/files/"):
		f.getFile(w, p[strings.LastIndex(p, "/")+1:])
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/files/"):
		f.getFile(w, strings.TrimPrefix(p, "/api/files/"))
	case key == "POST /api/send" && strings.Contains(string(body), `"message_type":"file"`):
		f.fileMessage(w, body)
	case key == "POST /api/send":
		writeJSON(w, 200, castDoc)
	case key == "POST /api/file-transfers/manual":
		f.mu.Lock()
		f.transfers["tr-1"] = &fakeTransfer{id: "tr-1", mode: "unicast", file: "r.txt", size: 13, targets: []string{"node_2"}}
		f.files["r.txt"] = []byte("hello, nodes\n")
		f.mu.Unlock()
		writeJSON(w, 202, manualDoc)
	case key == "GET /api/file-transfers/status":
		writeJSON(w, 200, transferStatusDoc)
	case key == "GET /api/file-generator/presets":
		writeJSON(w, 200, presetsDoc)
	case key == "GET /api/file-generator/info":
		writeJSON(w, 200, genInfoDoc)
	case key == "POST /api/file-generator/create", key == "POST /api/file-generator/create-preset":
		writeJSON(w, 201, genCreateDoc)
	case key == "POST /api/file-generator/create-and-transfer":
		f.genSend(w)
	case key == "GET /api/file-generator/files":
		writeJSON(w, 200, genFilesDoc)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/api/file-generator/files/"):
		writeJSON(w, 200, genDeleteDoc)
	case key == "GET /api/cluster/external-info":
		writeJSON(w, 200, externalInfoDoc)
	case key == "GET /api/cluster/discovery":
		writeJSON(w, 200, discoverDoc)
	case key == "GET /api/config":
		writeJSON(w, 200, configDoc)
	case key == "GET /healthz":
		writeJSON(w, 200, healthDoc)
	case key == "POST /api/token/rotate":
		writeJSON(w, 200, tokenDoc)
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

// getFile answers a download of an uploaded file, with its SHA-256 as the
// ETag, as the daemon does.
func (f *fakeAPI) getFile(w http.ResponseWriter, name string) {
	f.mu.Lock()
	data, ok := f.files[name]
	f.mu.Unlock()
	if !ok {
		apiErr(w, 404, fmt.Sprintf("file %q not found", name))
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("Last-Modified", "Fri, 02 Jan 2026 03:04:05 GMT")
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

// genSend is create-and-transfer: a 10-byte file sent to node_1, as a
// transfer the follower sees run and end.
func (f *fakeAPI) genSend(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := "transfer_t.txt"
	f.files[name] = []byte("0123456789")
	tr := &fakeTransfer{id: "tr-20260102-030405-gen0000000000001", mode: "unicast", file: name, size: 10, targets: []string{"node_1"}}
	f.transfers[tr.id] = tr
	writeJSON(w, 202, genSendDoc)
}

// fileMessage is POST /api/send of a file: a transfer of the uploaded
// file to the recipients, answered 202 with its id.
func (f *fakeAPI) fileMessage(w http.ResponseWriter, body []byte) {
	var req struct {
		CastType   string   `json:"cast_type"`
		FilePath   string   `json:"file_path"`
		Recipients []string `json:"recipients"`
	}
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[req.FilePath]
	if !ok {
		apiErr(w, 404, fmt.Sprintf("file_path: file %q not found", req.FilePath))
		return
	}
	tr := &fakeTransfer{id: fmt.Sprintf("tr-20260102-030405-msg%013d", len(f.transfers)+1), mode: req.CastType, file: req.FilePath, size: int64(len(data)), targets: req.Recipients}
	f.transfers[tr.id] = tr
	writeJSON(w, 202, map[string]any{"success": true, "message": "file message started", "recipients_count": len(req.Recipients),
		"failed_recipients": []string{}, "delivery_time": 0.001, "message_id": "msg-02", "recipients": req.Recipients,
		"transfer_id": tr.id, "transfer": f.record(tr)})
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
		case done == tr.size && tr.polls >= 2+f.lag:
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

	createNodeDoc     = `{"success":true,"message":"node node_9 created","node":{"id":"node_9","kind":"local","state":"active","port":9009,"inbox_dir":"/inbox/node_9","source":"api","created_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z"}}`
	deleteNodeDoc     = `{"success":true,"message":"node node_9 removed (its inbox /inbox/node_9 is kept)","inbox_purged":false,"cancelled_transfers":[]}`
	nodeFilesDoc      = `{"success":true,"node_id":"node_1","files":[{"name":"r.txt","size":13,"modified":"2026-01-02T03:04:05Z","sha256":"ab12","transfer_id":"tr-1","received_at":"2026-01-02T03:04:05Z","location":"/inbox/node_1/r.txt"}],"count":1}`
	messagesDoc       = `[{"direction":"received","node_id":"node_1","from":"api","message":{"id":"msg-01","cast_type":"unicast","message_type":"json","content":{"k":[1,2]},"sender":"api","timestamp":1767323045},"timestamp":1767323045},{"direction":"received","node_id":"node_1","from":"node_2","message":{"id":"msg-00","cast_type":"multicast","message_type":"text","content":"hello","sender":"node_2","timestamp":1767323044},"timestamp":1767323044}]`
	externalNodesDoc  = `{"success":true,"external_nodes":[{"id":"ray:c-0123456789ab:aa01","address":"10.0.0.5","status":"active","type":"external","cluster_source":"http://10.0.0.5:8265","last_seen":"2026-01-02T03:04:05Z","kind":"ray-node","name":"head","cluster_id":"c-0123456789ab","is_head":true,"resources":{"CPU":4}}],"count":1}`
	externalInfoDoc   = `{"success":true,"is_connected":true,"connected_cluster":"http://10.0.0.5:8265","external_nodes":{"ray:c-0123456789ab:aa01":{"id":"ray:c-0123456789ab:aa01","address":"10.0.0.5","status":"active","type":"external","cluster_source":"http://10.0.0.5:8265","last_seen":"2026-01-02T03:04:05Z","kind":"ray-node","cluster_id":"c-0123456789ab"}},"clusters":[{"id":"c-0123456789ab","address":"http://10.0.0.5:8265","via":"dashboard","state":"connected","nodes":1,"alive_nodes":1,"actors":0,"connected_at":"2026-01-02T03:04:05Z","reconnects":0}]}`
	selectDoc         = `{"success":true,"selector":{"kind":"local"},"matches":[{"id":"node_1","kind":"local","state":"active","created_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z"}],"count":1,"active_transfers":{"node_1":0},"pick":{"count":1},"chosen":[{"node_id":"node_1","rank":1,"active_transfers":0,"available":0,"score_resources":["CPU"],"reason":"fewest active transfers (0)"}]}`
	castDoc           = `{"success":true,"message":"message msg-01 recorded on 1 node(s)","recipients_count":1,"failed_recipients":[],"delivery_time":0.001,"message_id":"msg-01","recipients":["node_1"]}`
	manualDoc         = `{"success":true,"message":"started 1/1 transfers of r.txt","results":[{"recipient":"node_2","success":true,"message":"transfer tr-1 started (local)"}],"transfer_id":"tr-1","transfer":{"id":"tr-1","state":"pending","mode":"unicast","backend":"local","file":{"name":"r.txt","size":13},"targets":[{"node_id":"node_2","state":"pending","bytes_done":0}],"created_at":"2026-01-02T03:04:05Z"}}`
	transferStatusDoc = `{"node_1":{"file_transfer_stats":{"total_transfers":2,"successful_transfers":1,"failed_transfers":1,"bytes_transferred":13},"active_transfers":0,"auto_transfer_enabled":false,"auto_transfer_queue":0},"node_2":{"file_transfer_stats":{"total_transfers":0,"successful_transfers":0,"failed_transfers":0,"bytes_transferred":0},"active_transfers":0,"auto_transfer_enabled":false,"auto_transfer_queue":0}}`
	presetsDoc        = `{"success":true,"presets":{"tiny":{"size_bytes":1024,"size_formatted":"1.00 KB","description":"preset tiny file (1.00 KB)","available":true},"massive":{"size_bytes":104857600,"size_formatted":"100.00 MB","description":"preset massive file (100.00 MB)","available":false}},"content_types":{"text":"readable lines","random":"random bytes","pattern":"a repeated pattern"}}`
	genInfoDoc        = `{"success":true,"max_file_size":67108864,"max_file_size_formatted":"64.00 MB","supported_units":["B","KB","MB","GB"],"content_types":{"text":"readable lines","random":"random bytes","pattern":"a repeated pattern"},"examples":["100B - 100 bytes"],"default_pattern":"0123456789ABCDEF","max_pattern_bytes":4096,"name_prefixes":["sample_","preset_","transfer_"]}`
	genFileInfo       = `{"file_path":"/up/sample_p.dat","file_name":"sample_p.dat","requested_size":1536,"actual_size":1536,"content_type":"pattern","sha256":"cd34","created":true,"includes_metadata":false,"download_url":"/api/files/sample_p.dat","size_formatted":"1.50 KB","created_time":"2026-01-02 03:04:05"}`
	genCreateDoc      = `{"success":true,"message":"created sample_p.dat (1.50 KB)","file_info":` + genFileInfo + `}`
	genSendDoc        = `{"success":true,"message":"created transfer_t.txt (10 B) and started transfer tr-20260102-030405-gen0000000000001 to 1 node(s)","file_info":` + genFileInfo + `,"transfer_summary":{"total_recipients":1,"started_transfers":1,"successful_transfers":0,"failed_transfers":0,"transfer_results":[{"recipient_id":"node_1","success":true,"state":"pending","result":"transfer started (local)"}]},"transfer_id":"tr-20260102-030405-gen0000000000001","transfer":{"id":"tr-20260102-030405-gen0000000000001","state":"pending","mode":"unicast","backend":"local","file":{"name":"transfer_t.txt","size":10},"targets":[{"node_id":"node_1","state":"pending","bytes_done":0}],"created_at":"2026-01-02T03:04:05Z"},"skipped":null}`
	genFilesDoc       = `{"success":true,"files":[{"file_name":"sample_p.dat","file_size":1536,"size_formatted":"1.50 KB","created_time":"2026-01-02 03:04:05","modified_time":"2026-01-02 03:04:05","download_url":"/api/files/sample_p.dat","is_generated":true,"sha256":"cd34"}],"total_count":1,"total_size":1536,"total_size_formatted":"1.50 KB"}`
	genDeleteDoc      = `{"success":true,"message":"file sample_p.dat deleted","deleted_size":1536,"deleted_size_formatted":"1.50 KB"}`
	healthDoc         = `{"status":"ok","version":"0.1.0-dev"}`
	tokenDoc          = `{"success":true,"token":"n3w-t0ken","message":"the old token no longer works; WebSocket clients already connected stay connected"}`
	configDoc         = `{"web_server":{"host":"127.0.0.1","port":8000},"api":{"token":"<redacted>"},"data_dir":"castray-data"}`
)
