package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/castray/castray/host/api/openapitest"
)

// wsEvent is one WebSocket message.
type wsEvent struct {
	Type string          `json:"type"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// dialWS connects to /ws and returns a channel of its events.
func (d *daemon) dialWS(header http.Header) (<-chan wsEvent, *websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(d.URL, "http") + "/ws"
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	d.observeHandshake(resp)
	if err != nil {
		return nil, nil, resp, err
	}
	d.t.Cleanup(func() { conn.Close() })
	// The server subscribes to the bus before it sends the snapshot: once
	// the snapshot is here, no later event can be missed. Returning before
	// it raced the caller's next request (CI once lost discovery_started).
	var first wsEvent
	if err := conn.ReadJSON(&first); err != nil {
		return nil, nil, resp, fmt.Errorf("reading the snapshot: %w", err)
	}
	if first.Type != "snapshot" {
		return nil, nil, resp, fmt.Errorf("first event is %q, want the snapshot", first.Type)
	}
	ch := make(chan wsEvent, 1024)
	ch <- first
	go func() {
		defer close(ch)
		for {
			var ev wsEvent
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			ch <- ev
		}
	}()
	return ch, conn, resp, nil
}

// observeHandshake checks a WebSocket handshake's answer against the
// document, as d.client does for every other request; the dialer reads a
// refused handshake's body itself, so it is read back from resp.
func (d *daemon) observeHandshake(resp *http.Response) {
	if resp == nil {
		return
	}
	req, _ := http.NewRequest(http.MethodGet, d.URL+"/ws", nil)
	var body []byte
	if openapitest.IsJSON(resp.Header.Get("Content-Type")) {
		body, _ = io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	d.api.Observe(req, resp.StatusCode, resp.Header, body)
}

// next waits for the next event of one of the given types.
func next(t *testing.T, ch <-chan wsEvent, timeout time.Duration, types ...string) wsEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("websocket closed while waiting for %v", types)
			}
			for _, typ := range types {
				if ev.Type == typ {
					return ev
				}
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", types, timeout)
		}
	}
}

func TestWebSocketSnapshotStatusAndNodeEvents(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: "events {\n  status_interval = 0.3\n}\n"})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := next(t, ch, 5*time.Second, "snapshot")
	if snap.TS.IsZero() || !bytes.Contains(snap.Data, []byte(`"node_1"`)) || !bytes.Contains(snap.Data, []byte(`"plugins"`)) {
		t.Fatalf("snapshot = %s", snap.Data)
	}
	status := next(t, ch, 5*time.Second, "status_update")
	if !bytes.Contains(status.Data, []byte(`"total_nodes":3`)) {
		t.Fatalf("status_update = %s", status.Data)
	}
	d.do("POST", "/api/nodes", map[string]any{"node_id": "ws_node"}, nil)
	if ev := next(t, ch, 5*time.Second, "node_added"); !bytes.Contains(ev.Data, []byte(`"ws_node"`)) {
		t.Fatalf("node_added = %s", ev.Data)
	}
	d.do("DELETE", "/api/nodes/ws_node", nil, nil)
	if ev := next(t, ch, 5*time.Second, "node_removed"); !bytes.Contains(ev.Data, []byte(`"ws_node"`)) {
		t.Fatalf("node_removed = %s", ev.Data)
	}
}

func TestBroadcastTransferThroughLocalBackend(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 5<<20+7)
	_, _ = rand.Read(payload)
	var up struct {
		File struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		} `json:"file"`
	}
	if code := d.do("PUT", "/api/files/payload.bin", payload, &up); code != 201 || up.File.Size != int64(len(payload)) {
		t.Fatalf("upload: %d %+v", code, up)
	}

	var started struct {
		Transfer struct {
			ID string `json:"id"`
		} `json:"transfer"`
	}
	if code := d.do("POST", "/api/transfers", map[string]any{"file_name": "payload.bin", "mode": "broadcast"}, &started); code != 202 {
		t.Fatalf("start transfer: %d", code)
	}
	ev := next(t, ch, 30*time.Second, "transfer_completed", "transfer_failed")
	if ev.Type != "transfer_completed" || !bytes.Contains(ev.Data, []byte(started.Transfer.ID)) {
		t.Fatalf("%s: %s", ev.Type, ev.Data)
	}
	var rec struct {
		Transfer struct {
			State string `json:"state"`
			File  struct {
				SHA256 string `json:"sha256"`
			} `json:"file"`
			Targets []struct {
				NodeID   string `json:"node_id"`
				State    string `json:"state"`
				Location string `json:"location"`
			} `json:"targets"`
		} `json:"transfer"`
	}
	d.do("GET", "/api/transfers/"+started.Transfer.ID, nil, &rec)
	if rec.Transfer.State != "completed" || len(rec.Transfer.Targets) != 3 || len(rec.Transfer.File.SHA256) != 64 {
		t.Fatalf("record = %+v", rec.Transfer)
	}
	for _, tg := range rec.Transfer.Targets {
		got, err := os.ReadFile(filepath.Join(d.DataDir, "inbox", tg.NodeID, "payload.bin"))
		if err != nil || !bytes.Equal(got, payload) || tg.State != "completed" {
			t.Fatalf("%s: state %s, err %v, equal %v", tg.NodeID, tg.State, err, bytes.Equal(got, payload))
		}
	}
}

func TestUnicastViaMultipartUploadAndBadRequests(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "note.txt")
	fw.Write([]byte("hello node 2"))
	mw.Close()
	req, _ := http.NewRequest("POST", d.URL+"/api/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := d.client.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("multipart upload: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	var started struct {
		Transfer struct{ ID string } `json:"transfer"`
	}
	if code := d.do("POST", "/api/transfers", map[string]any{"file_name": "note.txt", "mode": "unicast", "targets": []string{"node_2"}}, &started); code != 202 {
		t.Fatalf("unicast: %d", code)
	}
	eventually(t, 20*time.Second, "the unicast to complete", func() bool {
		var rec struct {
			Transfer struct{ State string } `json:"transfer"`
		}
		d.do("GET", "/api/transfers/"+started.Transfer.ID, nil, &rec)
		return rec.Transfer.State == "completed"
	})
	if got, _ := os.ReadFile(filepath.Join(d.DataDir, "inbox", "node_2", "note.txt")); string(got) != "hello node 2" {
		t.Fatalf("node_2 inbox holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(d.DataDir, "inbox", "node_1", "note.txt")); err == nil {
		t.Fatal("a unicast to node_2 reached node_1")
	}

	// Bad input: 4xx, a JSON message naming the problem, nothing changed.
	for _, tc := range []struct {
		method, path string
		body         any
		code         int
		want         string
	}{
		{"POST", "/api/transfers", map[string]any{"file_name": "note.txt", "mode": "unicast", "targets": []string{"nope"}}, 400, `target \"nope\"`},
		{"POST", "/api/transfers", map[string]any{"file_name": "missing.txt", "mode": "broadcast"}, 400, "no such uploaded file"},
		{"POST", "/api/transfers", map[string]any{"file_name": "../etc/passwd", "mode": "broadcast"}, 400, "path separator"},
		{"POST", "/api/transfers", map[string]any{"file_name": "note.txt", "mode": "anycast"}, 400, "anycast"},
		{"POST", "/api/transfers", map[string]any{"file_name": "note.txt", "mode": "unicast", "targets": []string{"node_1", "node_2"}}, 400, "exactly one"},
		{"POST", "/api/nodes", `{"node_id": "x", "colour": "red"}`, 400, "colour"},
		{"POST", "/api/nodes", `{"node_id": `, 400, "invalid JSON"},
		{"POST", "/api/nodes", map[string]any{"node_id": "../evil"}, 400, "evil"},
		{"POST", "/api/nodes", map[string]any{"node_id": "node_1"}, 409, "node_1"},
		{"POST", "/api/nodes", `{"node_id": "` + strings.Repeat("a", 5<<20) + `"}`, 413, "limit"},
		{"DELETE", "/api/nodes/ghost", nil, 404, "ghost"},
		{"PUT", "/api/files/.hidden", []byte("x"), 400, `starts with \".\"`},
		{"PUT", "/api/files/nl%0Aname", []byte("x"), 400, "control character"},
		{"PUT", "/api/files/%FF%FE", []byte("x"), 400, "UTF-8"},
		{"PUT", "/api/files/a%00b", []byte("x"), 400, "control character"},
		{"GET", "/api/transfers/tr-none", nil, 404, "tr-none"},
		{"POST", "/api/cluster/connect-external", map[string]any{"cluster_address": "127.0.0.1:1"}, 502, "127.0.0.1:1"},
		{"POST", "/api/cluster/connect-external", map[string]any{"cluster_address": "http://"}, 400, "cluster_address"},
		{"DELETE", "/api/cluster/disconnect-external?cluster_id=nope", nil, 404, "nope"},
		{"POST", "/api/cluster/discover-external", `{"timeout_ms": 999999}`, 400, "timeout_ms"},
		{"POST", "/api/cluster/discover-external", `{"plugins": "x"}`, 400, "invalid JSON"},
	} {
		var e struct {
			Success *bool  `json:"success"`
			Error   string `json:"error"`
		}
		code := d.do(tc.method, tc.path, tc.body, &e)
		raw, _ := json.Marshal(e)
		if code != tc.code || e.Success == nil || *e.Success || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%s %s: %d %s, want %d mentioning %q", tc.method, tc.path, code, raw, tc.code, tc.want)
		}
	}
	var nodes struct{ Count int }
	d.do("GET", "/api/nodes", nil, &nodes)
	if nodes.Count != 3 {
		t.Errorf("bad requests changed the node set: %d nodes", nodes.Count)
	}
}

func TestTokenRequiredWhenExposed(t *testing.T) {
	d := startDaemon(t, daemonOpts{host: "0.0.0.0"})
	m := regexp.MustCompile(`(?m)^([0-9a-f]{48})$`).FindStringSubmatch(d.Stdout.String())
	if m == nil {
		t.Fatalf("no generated token printed:\n%s", d.Stdout)
	}
	if strings.Contains(d.Stderr.String(), m[1]) {
		t.Fatal("the token appears in the log")
	}
	if code := d.do("GET", "/api/status", nil, nil); code != 401 {
		t.Fatalf("no token: %d, want 401", code)
	}
	d.Token = "wrong"
	if code := d.do("GET", "/api/status", nil, nil); code != 401 {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if _, _, resp, err := d.dialWS(nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("websocket without token: err %v resp %v", err, resp)
	}
	d.Token = m[1]
	if code := d.do("GET", "/api/status", nil, nil); code != 200 {
		t.Fatalf("good token: %d", code)
	}
	ch, _, _, err := d.dialWS(http.Header{"Authorization": {"Bearer " + m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 5*time.Second, "snapshot")
	// Health checks stay open for load balancers.
	resp, err := d.client.Get(d.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// The token is kept (mode 0600): a restart on the data dir keeps it and
	// prints nothing new.
	if fi, err := os.Stat(filepath.Join(d.DataDir, "api_token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept token file: %v %v", fi, err)
	}
	d.stop(syscall.SIGTERM)
	d = startDaemon(t, daemonOpts{host: "0.0.0.0", dataDir: d.DataDir})
	if strings.Contains(d.Stdout.String(), "Generated API token") {
		t.Fatalf("a restart generated a new token:\n%s", d.Stdout)
	}
	d.Token = m[1]
	if code := d.do("GET", "/api/status", nil, nil); code != 200 {
		t.Fatalf("the kept token after a restart: %d", code)
	}
	// Rotation: the new token works at once and after a restart, the old
	// one no longer.
	var rotated struct{ Token string }
	if code := d.do("POST", "/api/token/rotate", nil, &rotated); code != 200 || len(rotated.Token) != 48 || rotated.Token == m[1] {
		t.Fatalf("rotate: %d %q", code, rotated.Token)
	}
	if code := d.do("GET", "/api/status", nil, nil); code != 401 {
		t.Fatalf("the old token after rotation: %d, want 401", code)
	}
	if strings.Contains(d.Stderr.String(), rotated.Token) {
		t.Fatal("the rotated token appears in the log")
	}
	d.stop(syscall.SIGTERM)
	d = startDaemon(t, daemonOpts{host: "0.0.0.0", dataDir: d.DataDir})
	d.Token = rotated.Token
	if code := d.do("GET", "/api/status", nil, nil); code != 200 {
		t.Fatalf("the rotated token after a restart: %d", code)
	}
}

func TestConfiguredTokenAndLoopbackDefault(t *testing.T) {
	d := startDaemon(t, daemonOpts{env: []string{"CASTRAY_WEB_SERVER__API_TOKEN=s3cret-token"}})
	if code := d.do("GET", "/api/status", nil, nil); code != 401 {
		t.Fatalf("configured token not enforced: %d", code)
	}
	d.Token = "s3cret-token"
	var cfg struct {
		WebServer struct {
			APIToken string `json:"api_token"`
		} `json:"web_server"`
	}
	if code := d.do("GET", "/api/config", nil, &cfg); code != 200 || cfg.WebServer.APIToken == "s3cret-token" {
		t.Fatalf("/api/config leaks the token: %d %+v", code, cfg)
	}
	if strings.Contains(d.Stderr.String()+d.Stdout.String(), "s3cret-token") {
		t.Fatal("the token appears in the daemon's output")
	}
}

func TestLoopbackByDefault(t *testing.T) {
	port := freePort(t)
	d := startDaemon(t, daemonOpts{noPortFlag: true, portHint: port, config: fmt.Sprintf("web_server {\n  port = %d\n}\n", port)})
	var cfg struct {
		WebServer struct {
			Host string `json:"host"`
		} `json:"web_server"`
	}
	if code := d.do("GET", "/api/config", nil, &cfg); code != 200 || cfg.WebServer.Host != "127.0.0.1" {
		t.Fatalf("default host %q (status %d), want 127.0.0.1 with no token needed", cfg.WebServer.Host, code)
	}
	if strings.Contains(d.Stdout.String(), "Generated API token") {
		t.Fatal("a token was generated for a loopback listener")
	}
}

// Chunked bodies (no Content-Length) are bounded too, and still parsed.
func TestChunkedJSONBodies(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	post := func(body string) int {
		t.Helper()
		// io.MultiReader hides the length, so the client sends it chunked.
		req, _ := http.NewRequest("POST", d.URL+"/api/nodes", io.MultiReader(strings.NewReader(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.ContentLength > 0 {
			t.Fatal("request was not chunked")
		}
		return resp.StatusCode
	}
	if code := post(`{"node_id": "chunky", "port": 9200}`); code != 201 {
		t.Fatalf("small chunked body: %d", code)
	}
	if code := post(`{"node_id": "` + strings.Repeat("a", 5<<20) + `"}`); code != 413 {
		t.Fatalf("large chunked body: %d, want 413", code)
	}
	if code := d.do("POST", "/api/nodes", map[string]any{"node_id": "external"}, nil); code != 400 {
		t.Fatalf("reserved node id: %d", code)
	}
	var up struct {
		File struct{ Name string } `json:"file"`
	}
	if code := d.do("PUT", "/api/files/my%20file.txt", []byte("x"), &up); code != 201 || up.File.Name != "my file.txt" {
		t.Fatalf("escaped name: %d %q", code, up.File.Name)
	}
}

// The original's message and file-transfer API against the real daemon:
// a text message to two local nodes is listed on both and announced on
// /ws (message_received per node), and kept across a restart; a file
// message lands in a local node's inbox through the local backend; the
// original's file-transfer status counts it (and only it) as successful.
func TestOriginalSendMessagesAndFileTransferStatus(t *testing.T) {
	dataDir := t.TempDir()
	d := startDaemon(t, daemonOpts{dataDir: dataDir})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 5*time.Second, "snapshot")

	var sent struct {
		Success          bool     `json:"success"`
		Message          string   `json:"message"`
		RecipientsCount  int      `json:"recipients_count"`
		FailedRecipients []string `json:"failed_recipients"`
		DeliveryTime     *float64 `json:"delivery_time"`
		TransferID       string   `json:"transfer_id"`
		Error            string   `json:"error"`
	}
	// As the original's clients sent it, nulls included.
	code := d.do("POST", "/api/send", `{"id":"hello-1","cast_type":"multicast","message_type":"text","content":"hello nodes",
		"sender":"node_3","recipients":["node_1","node_2"],"group_id":null,"file_path":null,"file_size":null}`, &sent)
	if code != 200 || !sent.Success || sent.RecipientsCount != 2 || sent.FailedRecipients == nil || len(sent.FailedRecipients) != 0 || sent.DeliveryTime == nil {
		t.Fatalf("POST /api/send text = %d %+v", code, sent)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		ev := next(t, ch, 10*time.Second, "message_received")
		var data struct {
			MessageID string `json:"message_id"`
			CastType  string `json:"cast_type"`
			Sender    string `json:"sender"`
			NodeID    string `json:"node_id"`
			Content   string `json:"content"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.MessageID != "hello-1" || data.CastType != "multicast" || data.Sender != "node_3" || data.Content != "hello nodes" {
			t.Fatalf("message_received = %s", ev.Data)
		}
		got[data.NodeID] = true
	}
	if !got["node_1"] || !got["node_2"] {
		t.Fatalf("message_received for %v, want node_1 and node_2", got)
	}
	type entry struct {
		Direction string `json:"direction"`
		From      string `json:"from"`
		Message   struct {
			ID      string `json:"id"`
			Content string `json:"content"`
		} `json:"message"`
		Timestamp float64 `json:"timestamp"`
	}
	checkListed := func(d *daemon) {
		t.Helper()
		for _, node := range []string{"node_1", "node_2"} {
			var list []entry
			if code := d.do("GET", "/api/nodes/"+node+"/messages?count=50", nil, &list); code != 200 || len(list) != 1 ||
				list[0].Direction != "received" || list[0].From != "node_3" || list[0].Message.ID != "hello-1" ||
				list[0].Message.Content != "hello nodes" || list[0].Timestamp == 0 {
				t.Fatalf("messages of %s = %d %+v", node, code, list)
			}
		}
	}
	checkListed(d)

	// A file message, by the name of an upload, to one local node.
	payload := randomBytes(300<<10 + 3)
	d.upload("orig.bin", payload)
	sent.TransferID = ""
	if code := d.do("POST", "/api/send", map[string]any{"cast_type": "unicast", "message_type": "file", "content": "",
		"sender": "node_1", "recipients": []string{"node_2"}, "file_path": "orig.bin", "file_size": len(payload)}, &sent); code != 202 || sent.TransferID == "" {
		t.Fatalf("POST /api/send file = %d %+v", code, sent)
	}
	if rec := d.waitTransfer(sent.TransferID, "completed", "failed", "partial"); rec.State != "completed" {
		t.Fatalf("file message transfer ended %+v", rec)
	}
	onDisk, err := os.ReadFile(filepath.Join(dataDir, "inbox", "node_2", "orig.bin"))
	if err != nil || !bytes.Equal(onDisk, payload) {
		t.Fatalf("node_2's inbox: err %v, equal %v", err, bytes.Equal(onDisk, payload))
	}
	// A path outside the upload store is refused.
	var refused struct {
		Error string `json:"error"`
	}
	if code := d.do("POST", "/api/send", map[string]any{"cast_type": "unicast", "message_type": "file",
		"recipients": []string{"node_2"}, "file_path": "/etc/hostname"}, &refused); code != 400 || !strings.Contains(refused.Error, "file_path") {
		t.Fatalf("file_path outside the upload store = %d %+v", code, refused)
	}

	type stats struct {
		FileTransferStats struct {
			TotalTransfers      int   `json:"total_transfers"`
			SuccessfulTransfers int   `json:"successful_transfers"`
			FailedTransfers     int   `json:"failed_transfers"`
			BytesTransferred    int64 `json:"bytes_transferred"`
		} `json:"file_transfer_stats"`
		ActiveTransfers int `json:"active_transfers"`
	}
	var status map[string]stats
	if code := d.do("GET", "/api/file-transfers/status", nil, &status); code != 200 {
		t.Fatalf("GET /api/file-transfers/status = %d", code)
	}
	if s := status["node_2"].FileTransferStats; s.TotalTransfers != 1 || s.SuccessfulTransfers != 1 || s.FailedTransfers != 0 || s.BytesTransferred != int64(len(payload)) {
		t.Errorf("node_2 stats = %+v", s)
	}
	if s, ok := status["node_1"]; !ok || s.FileTransferStats.TotalTransfers != 0 {
		t.Errorf("node_1 stats = %+v (present %v), want zeros", s, ok)
	}

	// Messages are kept across a restart.
	d.stop(syscall.SIGTERM)
	checkListed(startDaemon(t, daemonOpts{dataDir: dataDir}))
}
