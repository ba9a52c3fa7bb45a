package api

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
)

// groupServer serves the API with a registry of local nodes n1..n3 and an
// external cluster c1 (ray:c1:aa: 4 CPUs, 3 free, 1 GPU; ray:c1:bb: 8 CPUs,
// 1 free; ray:c1:cc: inactive), and a groups service, both on a real store.
type groupServer struct {
	srv *Server
	reg *registry.Registry
	dir string
}

func newGroupServer(t *testing.T) *groupServer {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, nil)
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox"), registry.WithLabels(map[string]string{"site": "here"})); err != nil {
			t.Fatal(err)
		}
	}
	reg.SyncCluster("c1", []registry.Node{
		{ID: "ray:c1:aa", Resources: map[string]float64{"CPU": 4, "GPU": 1}, Available: map[string]float64{"CPU": 3, "GPU": 1}},
		{ID: "ray:c1:bb", Resources: map[string]float64{"CPU": 8}, Available: map[string]float64{"CPU": 1}},
		{ID: "ray:c1:cc", State: registry.StateInactive, Resources: map[string]float64{"CPU": 64}, Available: map[string]float64{"CPU": 64}},
	})
	gs := groups.New(st, reg)
	if err := gs.Load(); err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Registry: reg, Groups: gs, Log: hclog.NewNullLogger(), BodyLimit: 1 << 12, Version: "test"})
	return &groupServer{srv: srv, reg: reg, dir: dir}
}

type reply struct {
	code int
	body map[string]any
	raw  string
}

func (g *groupServer) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return r
}

// expect checks the status and, for errors, the JSON error shape and that
// its message contains msg.
func (r reply) expect(t *testing.T, what string, code int, msg string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: %d %s, want %d", what, r.code, r.raw, code)
		return
	}
	if code >= 400 {
		if r.body["success"] != false || !strings.Contains(r.body["error"].(string), msg) {
			t.Errorf("%s: error %s, want one containing %q", what, r.raw, msg)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGroupsListGroupLifecycle(t *testing.T) {
	g := newGroupServer(t)
	r := g.do(t, "POST", "/api/groups", `{"name":"team","members":["n1","ray:c1:aa"]}`)
	r.expect(t, "create", 201, "")
	if got := jsonOf(r.body["group"].(map[string]any)["members"]); got != `["n1","ray:c1:aa"]` {
		t.Errorf("created members %s", got)
	}
	if got := jsonOf(r.body["resolved"]); got != `{"group":"team","node_ids":["n1","ray:c1:aa"],"type":"list"}` {
		t.Errorf("created resolved %s", got)
	}

	r = g.do(t, "PUT", "/api/groups/team/members/n2", "")
	r.expect(t, "add n2", 200, "")
	if r.body["added"] != true || jsonOf(r.body["group"].(map[string]any)["members"]) != `["n1","ray:c1:aa","n2"]` {
		t.Errorf("add n2: %s", r.raw)
	}
	r = g.do(t, "PUT", "/api/groups/team/members/n2", "")
	if r.code != 200 || r.body["added"] != false || !strings.Contains(r.body["message"].(string), "already") {
		t.Errorf("add n2 again: %d %s", r.code, r.raw)
	}
	g.do(t, "DELETE", "/api/groups/team/members/ray:c1:aa", "").expect(t, "remove ray:c1:aa", 200, "")
	g.do(t, "PUT", "/api/groups/team/members/ray%3Ac1%3Abb", "").expect(t, "add percent-encoded ray:c1:bb", 200, "")

	// A deleted node is reported missing, not dropped.
	if _, err := g.reg.Remove("n1"); err != nil {
		t.Fatal(err)
	}
	r = g.do(t, "GET", "/api/groups/team", "")
	r.expect(t, "get", 200, "")
	if got := jsonOf(r.body["resolved"]); got != `{"group":"team","missing":["n1"],"node_ids":["n2","ray:c1:bb"],"type":"list"}` {
		t.Errorf("resolved after deleting n1: %s", got)
	}

	r = g.do(t, "GET", "/api/groups", "")
	if r.code != 200 || r.body["count"] != 1.0 {
		t.Errorf("list: %d %s", r.code, r.raw)
	}
	g.do(t, "DELETE", "/api/groups/team", "").expect(t, "delete", 200, "")
	g.do(t, "GET", "/api/groups/team", "").expect(t, "get deleted", 404, `group "team"`)
	g.do(t, "DELETE", "/api/groups/team", "").expect(t, "delete again", 404, "group not found")
}

func TestGroupsSelectorGroup(t *testing.T) {
	g := newGroupServer(t)
	r := g.do(t, "POST", "/api/groups", `{"name":"cpus","selector":{"kind":"ray-node","available":{"CPU":1}}}`)
	r.expect(t, "create", 201, "")
	if got := jsonOf(r.body["group"].(map[string]any)["selector"]); got != `{"available":{"CPU":1},"kind":"ray-node"}` {
		t.Errorf("selector %s", got)
	}
	// Online nodes only: ray:c1:cc matches but is inactive.
	r = g.do(t, "GET", "/api/groups/cpus", "")
	if got := jsonOf(r.body["resolved"]); got != `{"group":"cpus","node_ids":["ray:c1:aa","ray:c1:bb"],"type":"selector"}` {
		t.Errorf("resolved %s", got)
	}
	g.do(t, "PUT", "/api/groups/cpus/members/n1", "").expect(t, "add to a selector group", 409, "selector group")
	g.do(t, "DELETE", "/api/groups/cpus/members/n1", "").expect(t, "remove from a selector group", 409, "selector group")
	// An empty list group is a list group.
	r = g.do(t, "POST", "/api/groups", `{"name":"empty","members":[]}`)
	r.expect(t, "create empty", 201, "")
	if got := jsonOf(r.body["group"].(map[string]any)["members"]); got != `[]` {
		t.Errorf("empty group members %s", got)
	}
}

func TestGroupsBadInputChangesNothing(t *testing.T) {
	g := newGroupServer(t)
	g.do(t, "POST", "/api/groups", `{"name":"team","members":["n1"]}`).expect(t, "create", 201, "")
	before := g.do(t, "GET", "/api/groups", "").raw

	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/api/groups", ``, 400, "a JSON body is required"},
		{"POST", "/api/groups", `{"members":[]}`, 400, "name is required"},
		{"POST", "/api/groups", `{"name":"g"}`, 400, "members or selector is required"},
		{"POST", "/api/groups", `{"name":"g","members":[],"selector":{}}`, 400, "not both"},
		{"POST", "/api/groups", `{"name":"a b","members":[]}`, 400, `name: invalid group name "a b"`},
		{"POST", "/api/groups", `{"name":"g","members":["n1","nope"]}`, 400, `members[1]: node "nope" not found`},
		{"POST", "/api/groups", `{"name":"g","members":["n1","n1"]}`, 400, `members[1]: node "n1" is listed twice`},
		{"POST", "/api/groups", `{"name":"g","members":"n1"}`, 400, "invalid JSON body"},
		{"POST", "/api/groups", `{"name":"g","members":[],"owner":"x"}`, 400, `unknown field "owner"`},
		{"POST", "/api/groups", `{"name":"g","selector":{"zone":"a","gpu":1}}`, 400, `selector: unknown keys "gpu", "zone"`},
		{"POST", "/api/groups", `{"name":"g","selector":{"kind":"gpu"}}`, 400, `selector.kind: "gpu" is not a node kind`},
		{"POST", "/api/groups", `{"name":"g","selector":{"resources":{"GPU":-1}}}`, 400, "selector.resources.GPU: must be at least 0"},
		{"POST", "/api/groups", `{"name":"g","selector":[]}`, 400, "selector: must be a JSON object"},
		{"POST", "/api/groups", `{"name":"team","members":[]}`, 409, "group already exists"},
		{"PUT", "/api/groups/nope/members/n1", ``, 404, `group "nope"`},
		{"PUT", "/api/groups/team/members/ghost", ``, 404, `node "ghost"`},
		{"DELETE", "/api/groups/team/members/n2", ``, 404, "not a member"},
		{"DELETE", "/api/groups/nope", ``, 404, "group not found"},
	} {
		g.do(t, tc.method, tc.path, tc.body).expect(t, tc.method+" "+tc.path+" "+tc.body, tc.code, tc.msg)
	}
	if after := g.do(t, "GET", "/api/groups", "").raw; after != before {
		t.Errorf("bad requests changed the groups:\n%s\nwas\n%s", after, before)
	}
}

func TestGroupsWithoutAService(t *testing.T) {
	s := New(Deps{Registry: registry.New(nil, nil), Log: hclog.NewNullLogger(), BodyLimit: 1 << 10})
	g := &groupServer{srv: s}
	g.do(t, "GET", "/api/groups", "").expect(t, "list", 503, "groups are not configured")
}

func TestSelectNodes(t *testing.T) {
	g := newGroupServer(t)
	r := g.do(t, "POST", "/api/nodes/select", `{"selector":{"kind":"ray-node"}}`)
	r.expect(t, "select", 200, "")
	var ids []string
	for _, m := range r.body["matches"].([]any) {
		ids = append(ids, m.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "ray:c1:aa,ray:c1:bb,ray:c1:cc" || r.body["count"] != 3.0 || r.body["chosen"] != nil {
		t.Errorf("select: %s", r.raw)
	}
	if got := jsonOf(r.body["active_transfers"]); got != `{"ray:c1:aa":0,"ray:c1:bb":0,"ray:c1:cc":0}` {
		t.Errorf("active_transfers %s", got)
	}

	// With a pick: the inactive ray:c1:cc (64 CPUs free) is never chosen.
	r = g.do(t, "POST", "/api/nodes/select", `{"selector":{"kind":"ray-node"},"pick":{"count":1,"rule":"most-available"}}`)
	r.expect(t, "select and pick", 200, "")
	chosen := r.body["chosen"].([]any)
	c := chosen[0].(map[string]any)
	if len(chosen) != 1 || c["node_id"] != "ray:c1:aa" || c["rank"] != 1.0 ||
		c["reason"] != "CPU available 3 of 4, more than the 1 available on ray:c1:bb (not chosen); 0 active transfers" {
		t.Errorf("chosen %s", jsonOf(chosen))
	}
	// A selector naming GPU ranks by GPU.
	r = g.do(t, "POST", "/api/nodes/select", `{"selector":{"resources":{"GPU":1}},"pick":{"count":1}}`)
	c = r.body["chosen"].([]any)[0].(map[string]any)
	if c["node_id"] != "ray:c1:aa" || jsonOf(c["score_resources"]) != `["GPU"]` ||
		!strings.Contains(c["reason"].(string), "GPU available 1 of 1; every one of the 1 matching active nodes was needed") {
		t.Errorf("GPU pick %s", jsonOf(c))
	}

	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{}`, 400, "selector is required"},
		{`{"selector":{"labels":{"site":1}}}`, 400, "selector.labels: must be an object of strings"},
		{`{"selector":{"state":"up"}}`, 400, `selector.state: "up" is not a node state`},
		{`{"selector":{},"pick":{"count":0}}`, 400, "pick.count: must be at least 1"},
		{`{"selector":{},"pick":{"rule":"random","count":1}}`, 400, `pick.rule: "random" is not a rule`},
		{`{"selector":{},"pick":{"n":1}}`, 400, `pick: unknown key "n"`},
		{`{"selector":{},"limit":1}`, 400, `unknown field "limit"`},
		{`{"selector":{"labels":{"site":"here"}},"pick":{"count":4}}`, 409, "count 4, but only 3 of the 3 nodes matching labels.site=here are active"},
	} {
		g.do(t, "POST", "/api/nodes/select", tc.body).expect(t, tc.body, tc.code, tc.msg)
	}
}
