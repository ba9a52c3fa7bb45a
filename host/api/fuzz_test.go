package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/distribution"
	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
)

// jsonRoutes are the routes that read a JSON body.
var jsonRoutes = []struct{ method, path, seed string }{
	{"POST", "/api/nodes", `{"node_id": "n9", "port": 9000}`},
	{"POST", "/api/nodes/select", `{"selector": {"kind": "ray-node", "resources": {"CPU": 1}}, "pick": {"count": 1}}`},
	{"POST", "/api/groups", `{"name": "g", "members": ["n1"]}`},
	{"POST", "/api/transfers", `{"file_name": "f.txt", "mode": "multicast", "targets": ["n1", "n2"]}`},
	{"POST", "/api/distributions", `{"file_name": "f.txt", "selector": {"kind": "local"}}`},
	{"POST", "/api/send", `{"cast_type": "unicast", "message_type": "text", "content": "x", "recipients": ["n1"]}`},
	{"POST", "/api/file-transfers/manual", `{"sender_id": "n1", "file_name": "f.txt", "recipients": ["n2"]}`},
	{"POST", "/api/file-generator/create", `{"size": "1KB", "content_type": "pattern"}`},
	{"POST", "/api/file-generator/create-preset", `{"preset": "small", "content_type": "text"}`},
	{"POST", "/api/file-generator/create-and-transfer", `{"size": "100B", "recipients": ["n1"]}`},
	{"POST", "/api/cluster/discover-external", `{"hosts": ["127.0.0.1"], "ports": [8265], "connect": false}`},
	{"POST", "/api/cluster/connect-external", `{"cluster_address": "http://127.0.0.1:8265"}`},
	{"DELETE", "/api/cluster/disconnect-external", `{"cluster_id": "c-1"}`},
}

// FuzzJSONEndpoints sends arbitrary bodies to every JSON route of a daemon
// with local nodes, Ray nodes, a group and an upload: no body may make it
// answer 500 or fail, and every refusal is the JSON error naming the
// problem (a 500 is a bug; 502/503 say an upstream, a fake here, failed).
func FuzzJSONEndpoints(f *testing.F) {
	for i, r := range jsonRoutes {
		f.Add(uint8(i), []byte(r.seed))
		f.Add(uint8(i), []byte(`{"`+"\u00e9"+`": 1, "a": {"a": [1, {"b": null}]}}`))
		f.Add(uint8(i), []byte(`[]`))
	}
	app := fuzzServer(f).App()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := jsonRoutes[int(route)%len(jsonRoutes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatalf("%s %s %q: %v", r.method, r.path, body, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 {
			var e struct {
				Success *bool  `json:"success"`
				Error   string `json:"error"`
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Success == nil || *e.Success || e.Error == "" {
				t.Fatalf("%s %s %q: %d with %s, not the JSON error", r.method, r.path, body, resp.StatusCode, raw)
			}
		}
	})
}

// fuzzServer is a daemon API with every service the JSON routes need: the
// transfer service's only backend fails every Ray target, discovery and
// connections are fixed fakes, uploads are small (8 MiB).
func fuzzServer(tb testing.TB) *Server {
	dir := tb.TempDir()
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg := registry.New(st, func(string, any) {})
	for _, id := range []string{"n1", "n2"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox")); err != nil {
			tb.Fatal(err)
		}
	}
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa", Kind: registry.KindRayNode}})
	gs := groups.New(st, reg)
	if _, err := gs.Create("mixed", []string{"n1", "ray:c1:aa"}, nil); err != nil {
		tb.Fatal(err)
	}
	res := &discovery.Result{ID: "r1", Clusters: []discovery.Cluster{{ID: "a", DashboardURL: "http://10.0.0.1:8265", Status: "active"}}}
	fs := newFileServer(tb, func(d *Deps) {
		svc := transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: rayFails{}, Sources: d.Files, Emit: func(string, any) {}, Log: d.Log})
		d.Registry, d.Transfers, d.Groups = reg, svc, gs
		d.Messages = messages.New(messages.Options{Store: st, Emit: func(string, any) {}})
		d.Distributions = distribution.New(distribution.Options{Store: st, Nodes: reg, Transfers: svc, Files: d.Files})
		d.InboxRoot = filepath.Join(dir, "inbox")
		d.Discovery, d.Connections = fixedDiscovery{res}, connections{ok: map[string]bool{"http://127.0.0.1:8265": true}}
		d.BodyLimit = 64 << 10
	})
	fs.put(tb, "f.txt", []byte("hello"))
	return fs.srv
}
