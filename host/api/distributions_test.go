package api

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/castray/castray/host/distribution"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
)

// countingTransfers is a transfer service that records the starts and
// leaves every target pending.
type countingTransfers struct {
	mu     sync.Mutex
	starts []transfer.Request
}

func (c *countingTransfers) Start(req transfer.Request) (transfer.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts = append(c.starts, req)
	rec := transfer.Record{ID: fmt.Sprintf("tr-%d", len(c.starts)), State: transfer.StatePending, Mode: req.Mode}
	for _, id := range req.Targets {
		rec.Targets = append(rec.Targets, transfer.TargetRecord{NodeID: id, State: transfer.StatePending})
	}
	return rec, nil
}

func (c *countingTransfers) Get(id string) (transfer.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	if _, err := fmt.Sscanf(id, "tr-%d", &n); err != nil || n < 1 || n > len(c.starts) {
		return transfer.Record{}, transfer.ErrNotFound
	}
	req := c.starts[n-1]
	rec := transfer.Record{ID: id, State: transfer.StateRunning}
	for _, t := range req.Targets {
		rec.Targets = append(rec.Targets, transfer.TargetRecord{NodeID: t, State: transfer.StateRunning})
	}
	return rec, nil
}

func (c *countingTransfers) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.starts)
}

type distServer struct {
	*fileServer
	svc *distribution.Service
	tr  *countingTransfers
	st  *store.Store
}

// newDistServer serves the API with a real upload store, a registry with
// two Ray nodes and a local node, and a distribution service on a real
// store whose transfers are counted, never run.
func newDistServer(t *testing.T) *distServer {
	t.Helper()
	ds := &distServer{tr: &countingTransfers{}}
	reg := registry.New(nil, nil)
	if _, err := reg.AddLocal("n1", 0, filepath.Join(t.TempDir(), "inbox")); err != nil {
		t.Fatal(err)
	}
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa"}, {ID: "ray:c1:bb"}})
	st, err := store.Open(filepath.Join(t.TempDir(), "dist.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ds.st = st
	ds.fileServer = newFileServer(t, func(d *Deps) {
		d.Registry = reg
		ds.svc = distribution.New(distribution.Options{Store: st, Nodes: reg, Transfers: ds.tr, Files: d.Files, Log: d.Log})
		d.Distributions = ds.svc
	})
	return ds
}

func (ds *distServer) post(t *testing.T, body string) response {
	t.Helper()
	return ds.do(t, "POST", "/api/distributions", []byte(body), "Content-Type", "application/json")
}

func TestDistributionLifecycle(t *testing.T) {
	ds := newDistServer(t)
	ds.put(t, "model.bin", []byte("weights"))
	r := ds.post(t, `{"file_name":"model.bin","selector":{"kind":"ray-node"},"name":"weights"}`)
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	d := r.json(t)["distribution"].(map[string]any)
	id := d["id"].(string)
	nodes := d["nodes"].([]any)
	if len(nodes) != 2 || d["name"] != "weights" || d["sha256"] != sha([]byte("weights")) {
		t.Fatalf("created: %s", r.body)
	}
	for _, n := range nodes {
		if st := n.(map[string]any)["status"]; st != "delivering" {
			t.Fatalf("node status %v after create: %s", st, r.body)
		}
	}
	if ds.tr.count() != 1 {
		t.Fatalf("%d transfers started, want 1", ds.tr.count())
	}

	r = ds.do(t, "GET", "/api/distributions", nil)
	if r.code != 200 || r.json(t)["count"] != float64(1) {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	r = ds.do(t, "GET", "/api/distributions/"+id, nil)
	if got := r.json(t)["distribution"].(map[string]any); r.code != 200 || got["id"] != id || got["counts"].(map[string]any)["delivering"] != float64(2) {
		t.Fatalf("get: %d %s", r.code, r.body)
	}

	// The file cannot be deleted while the distribution names it.
	r = ds.do(t, "DELETE", "/api/files/model.bin", nil)
	if r.code != http.StatusConflict || !strings.Contains(r.errorMessage(t), id) || !strings.Contains(r.errorMessage(t), `"weights"`) {
		t.Fatalf("delete file: %d %s", r.code, r.body)
	}

	// remove_files=true is refused and changes nothing.
	r = ds.do(t, "DELETE", "/api/distributions/"+id+"?remove_files=true", nil)
	if r.code != 400 || !strings.Contains(r.errorMessage(t), "remove_files") {
		t.Fatalf("delete with remove_files: %d %s", r.code, r.body)
	}
	if _, err := ds.svc.Get(id); err != nil {
		t.Fatalf("refused delete removed it: %v", err)
	}

	r = ds.do(t, "DELETE", "/api/distributions/"+id+"?remove_files=false", nil)
	if r.code != 200 || r.json(t)["distribution"].(map[string]any)["state"] != "deleted" {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	for _, path := range []string{"/api/distributions/" + id, "/api/distributions/nope"} {
		if r = ds.do(t, "GET", path, nil); r.code != 404 || !strings.Contains(r.errorMessage(t), "not found") {
			t.Fatalf("GET %s: %d %s", path, r.code, r.body)
		}
	}
	if r = ds.do(t, "DELETE", "/api/distributions/"+id, nil); r.code != 404 {
		t.Fatalf("delete again: %d %s", r.code, r.body)
	}
	if r = ds.do(t, "DELETE", "/api/files/model.bin", nil); r.code != 200 {
		t.Fatalf("delete file after the distribution: %d %s", r.code, r.body)
	}
}

func TestCreateDistributionBadInputIs400(t *testing.T) {
	ds := newDistServer(t)
	ds.put(t, "model.bin", []byte("weights"))
	for _, tc := range []struct{ body, want string }{
		{``, "a JSON body is required"},
		{`{"selector":{}}`, "file_name is required"},
		{`{"file_name":"model.bin"}`, "selector is required"},
		{`{"file_name":"model.bin","selector":null}`, "selector is required"},
		{`{"file_name":"missing.bin","selector":{}}`, `file_name: "missing.bin": no such uploaded file`},
		{`{"file_name":".hidden","selector":{}}`, "file_name"},
		{`{"file_name":"model.bin","selector":{"kind":"toaster"}}`, "selector.kind"},
		{`{"file_name":"model.bin","selector":{"colour":"red"}}`, "colour"},
		{`{"file_name":"model.bin","selector":[]}`, "selector"},
		{`{"file_name":"model.bin","selector":{},"name":" x"}`, "name: leading or trailing space"},
		{`{"file_name":"model.bin","selector":{},"extra":1}`, `unknown field "extra"`},
	} {
		r := ds.post(t, tc.body)
		if r.code != 400 || !strings.Contains(r.errorMessage(t), tc.want) {
			t.Errorf("%s: %d %s, want 400 containing %q", tc.body, r.code, r.body, tc.want)
		}
	}
	r := ds.do(t, "POST", "/api/distributions", []byte(`{"file_name":"model.bin","selector":{}}`), "Content-Type", "text/plain")
	if r.code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d %s", r.code, r.body)
	}
	if len(ds.svc.List()) != 0 || ds.tr.count() != 0 {
		t.Fatalf("bad input changed something: %v, %d transfers", ds.svc.List(), ds.tr.count())
	}
	n := 0
	if err := ds.st.List(distribution.Bucket, func(string, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("store holds %d distributions (%v)", n, err)
	}
	if r := ds.do(t, "DELETE", "/api/files/model.bin", nil); r.code != 200 {
		t.Fatalf("the file is held by nothing, yet: %d %s", r.code, r.body)
	}
}

func TestDistributionsWithoutAService(t *testing.T) {
	fs := newFileServer(t, nil)
	for _, path := range []string{"/api/distributions", "/api/distributions/x"} {
		if r := fs.do(t, "GET", path, nil); r.code != http.StatusServiceUnavailable {
			t.Errorf("GET %s: %d %s", path, r.code, r.body)
		}
	}
}
