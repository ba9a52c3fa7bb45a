package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/api"
	"github.com/castray/castray/host/api/client"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
)

const token = "s3cret"

// realServer serves the real API (host/api) with a real store, registry,
// groups and upload store, and a token, on 127.0.0.1.
func realServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, nil)
	for _, id := range []string{"n1", "n2"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox"), registry.WithLabels(map[string]string{"site": "here"})); err != nil {
			t.Fatal(err)
		}
	}
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa", Resources: map[string]float64{"CPU": 4, "GPU": 1}, Available: map[string]float64{"CPU": 3, "GPU": 1}}})
	gs := groups.New(st, reg)
	if err := gs.Load(); err != nil {
		t.Fatal(err)
	}
	fs, err := files.Open(filepath.Join(dir, "uploads"), st, 1<<20, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Registry: reg, Groups: gs, Files: fs, Token: token, Log: hclog.NewNullLogger(),
		MaxFileSize: 8 << 20, BodyLimit: 1 << 12, IdleTimeout: 5 * time.Second, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(5 * time.Second)
		<-done
	})
	return ln.Addr().String()
}

// strict decodes a reply's Raw again, refusing fields the type lacks: the
// client's types cover everything the real server sends.
func strict(t *testing.T, what string, raw json.RawMessage, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: the client's type misses a field of %s: %v", what, raw, err)
	}
}

func TestAgainstTheRealServer(t *testing.T) {
	addr := realServer(t) // host:port, no scheme
	ctx := context.Background()
	c, err := client.New(addr, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}

	// Without the token: a typed 401.
	anon, _ := client.New(addr)
	_, err = anon.Nodes(ctx, client.NodeFilter{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.Contains(apiErr.Message, "token") {
		t.Fatalf("no token: %v", err)
	}

	nodes, err := c.Nodes(ctx, client.NodeFilter{Kind: "local"})
	if err != nil || nodes.Count != 2 || nodes.Nodes[0].ID != "n1" || nodes.Nodes[0].Labels["site"] != "here" {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	strict(t, "nodes", nodes.Raw, &client.NodeList{})
	if n, err := c.Node(ctx, "ray:c1:aa"); err != nil || n.Node.Resources["GPU"] != 1 || n.Node.ClusterID != "c1" {
		t.Fatalf("node: %+v %v", n, err)
	}
	if _, err := c.Node(ctx, "nope"); client.StatusCode(err) != 404 {
		t.Errorf("missing node: %v", err)
	}
	sel, err := c.SelectNodes(ctx, client.SelectRequest{Selector: client.Selector{Resources: map[string]float64{"GPU": 1}}, Pick: &client.Pick{Count: 1}})
	if err != nil || sel.Count != 1 || len(sel.Chosen) != 1 || sel.Chosen[0].NodeID != "ray:c1:aa" {
		t.Fatalf("select: %+v %v", sel, err)
	}
	strict(t, "select", sel.Raw, &client.SelectResponse{})

	g, err := c.CreateGroup(ctx, client.CreateGroupRequest{Name: "workers", Members: []string{"n1"}})
	if err != nil || g.Group.Type != "list" || len(g.Resolved.NodeIDs) != 1 || g.Status != http.StatusCreated {
		t.Fatalf("create group: %+v %v", g, err)
	}
	strict(t, "group", g.Raw, &client.GroupResponse{})
	if m, err := c.AddGroupMember(ctx, "workers", "n2"); err != nil || !m.Added {
		t.Fatalf("add member: %+v %v", m, err)
	}
	if _, err := c.CreateGroup(ctx, client.CreateGroupRequest{Name: "workers"}); client.StatusCode(err) != 409 {
		t.Errorf("duplicate group: %v", err)
	}
	sg, err := c.CreateGroup(ctx, client.CreateGroupRequest{Name: "gpus", Selector: &client.Selector{Resources: map[string]float64{"GPU": 1}}})
	if err != nil || sg.Group.Type != "selector" || len(sg.Resolved.NodeIDs) != 1 {
		t.Fatalf("selector group: %+v %v", sg, err)
	}
	gl, err := c.Groups(ctx)
	if err != nil || gl.Count != 2 {
		t.Fatalf("groups: %+v %v", gl, err)
	}
	strict(t, "groups", gl.Raw, &client.GroupList{})
	if m, err := c.RemoveGroupMember(ctx, "workers", "n1"); err != nil || len(m.Group.Members) != 1 {
		t.Fatalf("remove member: %+v %v", m, err)
	}
	if _, err := c.DeleteGroup(ctx, "workers"); err != nil {
		t.Fatal(err)
	}

	// Upload with progress, list, a digest mismatch, delete.
	data := bytes.Repeat([]byte("castray "), 40000)
	sum := sha256.Sum256(data)
	var mu sync.Mutex
	var seen []int64
	up, err := c.Upload(ctx, "a b.bin", bytes.NewReader(data), int64(len(data)), client.UploadOptions{
		SHA256: hex.EncodeToString(sum[:]),
		Progress: func(sent, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if total != int64(len(data)) || (len(seen) > 0 && sent <= seen[len(seen)-1]) {
				t.Errorf("progress %d of %d after %v", sent, total, seen)
			}
			seen = append(seen, sent)
		},
	})
	if err != nil || up.File.Name != "a b.bin" || up.File.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload: %+v %v", up, err)
	}
	strict(t, "upload", up.Raw, &client.FileUploadResponse{})
	if len(seen) == 0 || seen[len(seen)-1] != int64(len(data)) {
		t.Errorf("progress ended at %v", seen)
	}
	_, err = c.Upload(ctx, "bad.bin", strings.NewReader("abcd"), 4, client.UploadOptions{SHA256: strings.Repeat("0", 64)})
	if client.StatusCode(err) != 422 {
		t.Errorf("digest mismatch: %v", err)
	}
	fl, err := c.Files(ctx)
	if err != nil || fl.Count != 1 || fl.Files[0].Size != int64(len(data)) {
		t.Fatalf("files: %+v %v", fl, err)
	}
	strict(t, "files", fl.Raw, &client.FileList{})
	if _, err := c.DeleteFile(ctx, "a b.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteFile(ctx, "a b.bin"); client.StatusCode(err) != 404 {
		t.Errorf("second delete: %v", err)
	}

	// The event stream needs the token too, and starts with a snapshot.
	if _, err := anon.Events(ctx); client.StatusCode(err) != 401 {
		t.Errorf("events without token: %v", err)
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8000":         "http://127.0.0.1:8000",
		":8000":                  "http://127.0.0.1:8000",
		"http://h:1/":            "http://h:1",
		"https://h/castray/?x=1": "https://h/castray",
		" localhost:9 ":          "http://localhost:9",
	} {
		u, err := client.ParseAddr(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://h:1", "http://"} {
		if _, err := client.ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) accepted", bad)
		}
	}
}

// A path prefix in the address is kept; an error body that is not the API's
// shape still gives the status.
func TestPrefixAndPlainErrors(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path)
		if r.URL.Path == "/proxy/api/plugins" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"success":true,"plugins":[],"count":0}`)
			return
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL + "/proxy/")
	if p, err := c.Plugins(context.Background()); err != nil || string(p.Raw) != `{"success":true,"plugins":[],"count":0}` || p.Status != 200 {
		t.Fatalf("plugins: %+v %v", p, err)
	}
	_, err := c.Status(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Message != "Bad Gateway" || e.Path != "/proxy/api/status" {
		t.Fatalf("status: %#v", err)
	}
}

// WaitTransfer polls until the record ends; Events reads until a normal
// close, which is io.EOF.
func TestWaitTransferAndEvents(t *testing.T) {
	var polls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			if r.Header.Get("Authorization") != "Bearer tk" {
				http.Error(w, `{"success":false,"error":"invalid API token"}`, 401)
				return
			}
			conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"transfer_progress","ts":"2026-01-02T03:04:05Z","data":{"transfer_id":"t","node_id":"n1","bytes_done":5,"bytes_total":10}}`))
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			_, _, _ = conn.ReadMessage()
			return
		}
		mu.Lock()
		polls++
		state := "running"
		if polls >= 3 {
			state = "failed"
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true,"transfer":{"id":"t","state":"`+state+`","mode":"unicast","backend":"local","file":{"name":"f","size":10},"targets":[{"node_id":"n1","state":"`+state+`","bytes_done":5}],"created_at":"2026-01-02T03:04:05Z"}}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("tk"))
	var states []string
	r, err := c.WaitTransfer(context.Background(), "t", time.Millisecond, func(r *client.TransferResponse) { states = append(states, r.Transfer.State) })
	if err != nil || r.Transfer.State != "failed" || strings.Join(states, ",") != "running,running,failed" {
		t.Fatalf("wait: %v %v %v", r, err, states)
	}

	ev, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	e, err := ev.Next()
	var p client.TransferProgress
	if err != nil || e.Type != "transfer_progress" || json.Unmarshal(e.Data, &p) != nil || p.BytesDone != 5 {
		t.Fatalf("event: %+v %v", e, err)
	}
	if _, err := ev.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after a normal close: %v", err)
	}
	bad, _ := client.New(srv.URL)
	if _, err := bad.Events(context.Background()); client.StatusCode(err) != 401 {
		t.Errorf("refused upgrade: %v", err)
	}
}
