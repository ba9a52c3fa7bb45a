package fakeray

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var (
	liveDir = filepath.Join("..", "raycluster", "testdata", "live-2.60.0")
	scanDir = filepath.Join("..", "..", "plugins", "discovery", "dashboard-scan", "dashscan", "testdata", "live-2.60.0")
)

// readCapture returns a capture's body; *.txt captures start with "HTTP <code>".
func readCapture(t *testing.T, path string) (int, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".txt") {
		return 200, b
	}
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	var code int
	if _, err := fmt.Sscanf(string(line), "HTTP %d", &code); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return code, bytes.TrimSuffix(rest, []byte("\n"))
}

type reply struct {
	status int
	ctype  string
	body   []byte
}

func get(t testing.TB, s *Server, path string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

// sameShape compares key sets and JSON kinds recursively. Objects whose keys
// are data (node ids, resource names, mount points) are listed in dataKeys
// by their key name and only checked for kind.
func sameShape(t *testing.T, path string, real, fake any, dataKeys map[string]bool) {
	t.Helper()
	if kind(real) != kind(fake) {
		t.Errorf("%s: real is %s, fake is %s", path, kind(real), kind(fake))
		return
	}
	switch r := real.(type) {
	case map[string]any:
		f := fake.(map[string]any)
		last := path[strings.LastIndex(path, ".")+1:]
		if dataKeys[last] {
			return
		}
		rk, fk := keys(r), keys(f)
		if !slices.Equal(rk, fk) {
			t.Errorf("%s: keys differ\nreal: %v\nfake: %v", path, rk, fk)
			return
		}
		for _, k := range rk {
			sameShape(t, path+"."+k, r[k], f[k], dataKeys)
		}
	case []any:
		f := fake.([]any)
		if len(r) > 0 && len(f) > 0 {
			sameShape(t, path+"[0]", r[0], f[0], dataKeys)
		}
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// asCapturedHead rewrites the fake's only node into the node captured in
// api_v0_nodes.txt (head B), so whole replies can be compared byte by byte.
func asCapturedHead(s *Server) {
	s.mutate(func() {
		n := s.nodes[0]
		delete(s.nodeByID, n.id)
		n.id = "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89"
		n.ip, n.name = "192.0.2.2", "192.0.2.2"
		n.res = []kv{{"node:__internal_head__", 1}, {"object_store_memory", 7298460057}, {"memory", 17029740135}, {"node:192.0.2.2", 1}, {"CPU", 2}}
		n.encode()
		s.nodeByID[n.id] = n
		s.clusterID = "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3"
	})
}

func TestBytesMatchCaptures(t *testing.T) {
	s := Start(t, Options{Nodes: 1, Token: "tok", SessionName: "session_2026-11-25_20-22-06_905902_14150"})
	asCapturedHead(s)
	auth := []string{"Authorization", "Bearer tok"}
	for _, c := range []struct{ path, capture string }{
		{"/api/v0/nodes?detail=false&limit=10000", "api_v0_nodes.txt"},
		{"/api/v0/nodes?detail=false&limit=100000", "api_v0_nodes_limit_too_high.txt"},
		{"/api/version", "api_ray_version.txt"},
		{"/cluster_id", "cluster_id.txt"},
		{"/api/gcs_healthz", "api_gcs_healthz.txt"},
		{"/", "root.txt"},
		{"/api/nonexistent", "not_found_with_token.txt"},
	} {
		code, want := readCapture(t, filepath.Join(scanDir, c.capture))
		got := get(t, s, c.path, auth...)
		if got.status != code || !bytes.Equal(got.body, want) {
			t.Errorf("%s: got %d\n%s\nwant %d (%s)\n%s", c.path, got.status, got.body, code, c.capture, want)
		}
	}
	for _, c := range []struct {
		capture string
		hdr     []string
	}{
		{"api_version_401_without_token.txt", nil},
		{"api_version_403_with_bad_token.txt", []string{"Authorization", "Bearer nope"}},
	} {
		code, want := readCapture(t, filepath.Join(liveDir, c.capture))
		got := get(t, s, "/api/version", c.hdr...)
		if got.status != code || !bytes.Equal(got.body, want) {
			t.Errorf("%s: got %d %q", c.capture, got.status, got.body)
		}
	}
	code, want := readCapture(t, filepath.Join(scanDir, "not_found_without_token.txt"))
	if got := get(t, s, "/api/nonexistent"); got.status != code || !bytes.Equal(got.body, want) {
		t.Errorf("unknown path without token: got %d %q, want %d (auth runs before routing)", got.status, got.body, code)
	}
	// The pretty-printed captures: equal as JSON.
	got := get(t, s, "/api/authentication_mode")
	_, am := readCapture(t, filepath.Join(liveDir, "api_authentication_mode.json"))
	if !jsonEqual(t, got.body, am) {
		t.Errorf("authentication_mode: %s", got.body)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestShapesMatchCaptures(t *testing.T) {
	s := Start(t, Options{Nodes: 3, Actors: 4})
	data := map[string]bool{"resources_total": true, "resourcesTotal": true, "nodeLogicalResources": true, "disk": true}

	_, real := readCapture(t, filepath.Join(liveDir, "api_v0_nodes_detail.json"))
	fake := get(t, s, "/api/v0/nodes?detail=true")
	sameShape(t, "nodes(detail)", decode(t, real), decode(t, fake.body), data)

	_, real = readCapture(t, filepath.Join(scanDir, "api_v0_nodes.txt"))
	fake = get(t, s, "/api/v0/nodes")
	sameShape(t, "nodes", decode(t, real), decode(t, fake.body), data)
	if fake.ctype != "application/json; charset=utf-8" {
		t.Errorf("content type %q", fake.ctype)
	}

	// The actor list has the nodes' envelope; its rows are NOT YET VERIFIED
	// against a capture, so only the envelope is compared.
	env := decode(t, get(t, s, "/api/v0/actors").body)
	realEnv := decode(t, real)
	for _, m := range []map[string]any{env, realEnv} {
		m["data"].(map[string]any)["result"].(map[string]any)["result"] = []any{}
	}
	sameShape(t, "actors envelope", realEnv, env, data)

	_, real = readCapture(t, filepath.Join(scanDir, "nodes_view_summary.txt"))
	fakeSum := decode(t, get(t, s, "/nodes?view=summary").body)
	realSum := decode(t, real)
	// The fake's physical stats are stand-ins: compare the head entry's
	// top-level keys, its raylet object and the envelope.
	realHead := realSum["data"].(map[string]any)["summary"].([]any)[0].(map[string]any)
	fakeHead := fakeSum["data"].(map[string]any)["summary"].([]any)[0].(map[string]any)
	if rk, fk := keys(realHead), keys(fakeHead); !slices.Equal(rk, fk) {
		t.Errorf("summary entry keys\nreal %v\nfake %v", rk, fk)
	}
	sameShape(t, "summary.raylet", realHead["raylet"], fakeHead["raylet"], data)
	sameShape(t, "summary.agent", realHead["agent"], fakeHead["agent"], data)
	if rk, fk := keys(realSum["data"].(map[string]any)), keys(fakeSum["data"].(map[string]any)); !slices.Equal(rk, fk) || realSum["msg"] != fakeSum["msg"] {
		t.Errorf("summary data keys %v vs %v, msg %v vs %v", rk, fk, realSum["msg"], fakeSum["msg"])
	}
	res := fakeHead["raylet"].(map[string]any)["resourcesTotal"].(map[string]any)
	for _, k := range []string{"node:InternalHead", "objectStoreMemory", "memory", "CPU"} {
		if _, ok := res[k]; !ok {
			t.Errorf("summary resourcesTotal lacks the camelCase key %q: %v", k, res)
		}
	}
	lr := fakeSum["data"].(map[string]any)["nodeLogicalResources"].(map[string]any)
	if got := lr[s.NodeIDs()[0]]; got != "0.0/8.0 CPU\n0B/15.86GiB memory\n0B/6.80GiB object_store_memory" {
		t.Errorf("nodeLogicalResources: %q", got)
	}
}

type listReply struct {
	Result bool   `json:"result"`
	Msg    string `json:"msg"`
	Data   struct {
		Result *struct {
			Total              int              `json:"total"`
			NumAfterTruncation int              `json:"num_after_truncation"`
			NumFiltered        int              `json:"num_filtered"`
			Result             []map[string]any `json:"result"`
		} `json:"result"`
	} `json:"data"`
}

func list(t testing.TB, s *Server, path string, q url.Values) (int, listReply) {
	t.Helper()
	r := get(t, s, path+"?"+q.Encode())
	var lr listReply
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, r.body)
	}
	return r.status, lr
}

func filters(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+2 < len(kv); i += 3 {
		q.Add("filter_keys", kv[i])
		q.Add("filter_predicates", kv[i+1])
		q.Add("filter_values", kv[i+2])
	}
	return q
}

func counts(t *testing.T, what string, lr listReply, total, nat, nf, rows int) {
	t.Helper()
	r := lr.Data.Result
	if r == nil {
		t.Fatalf("%s: no result: %+v", what, lr)
	}
	if r.Total != total || r.NumAfterTruncation != nat || r.NumFiltered != nf || len(r.Result) != rows {
		t.Errorf("%s: total/num_after_truncation/num_filtered/rows = %d/%d/%d/%d, want %d/%d/%d/%d",
			what, r.Total, r.NumAfterTruncation, r.NumFiltered, len(r.Result), total, nat, nf, rows)
	}
}

func TestFilters(t *testing.T) {
	s := Start(t, Options{Nodes: 10, Actors: 40, Seed: 7})
	ids := s.NodeIDs()
	s.KillNode(ids[3])

	_, lr := list(t, s, "/api/v0/nodes", filters("state", "=", "DEAD"))
	counts(t, "state=DEAD", lr, 1, 1, 1, 1)
	if lr.Data.Result.Result[0]["node_id"] != ids[3] {
		t.Errorf("state=DEAD gave %v", lr.Data.Result.Result[0]["node_id"])
	}
	_, lr = list(t, s, "/api/v0/nodes", filters("state", "=", "alive")) // upper-cased for the GCS
	counts(t, "state=alive", lr, 9, 9, 9, 9)
	_, lr = list(t, s, "/api/v0/nodes", filters("state", "!=", "DEAD")) // dashboard-side only
	counts(t, "state!=DEAD", lr, 10, 10, 9, 9)
	_, lr = list(t, s, "/api/v0/nodes", filters("node_id", "=", strings.ToUpper(ids[5])))
	counts(t, "node_id=", lr, 1, 1, 1, 1)
	_, lr = list(t, s, "/api/v0/nodes", filters("node_id", "!=", ids[5], "state", "=", "ALIVE"))
	counts(t, "node_id!= and state=", lr, 9, 9, 8, 8)
	_, lr = list(t, s, "/api/v0/nodes", filters("is_head_node", "=", "true"))
	counts(t, "is_head_node=true", lr, 10, 10, 1, 1)
	if lr.Data.Result.Result[0]["node_id"] != ids[0] {
		t.Error("the head is not the first node")
	}
	_, lr = list(t, s, "/api/v0/nodes", filters("node_name", "=", "10.0.0.3"))
	counts(t, "node_name=", lr, 1, 1, 1, 1)

	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{filters("state", "=", "GONE"), "Invalid node state for filtering: GONE"},
		{filters("resources_total", "=", "x"), "The given filter column resources_total is not supported."},
		{filters("node_ip", ">", "x"), "Unsupported filter predicate > is given."},
		{filters("is_head_node", "=", "yes"), "for a boolean type column"},
		{url.Values{"limit": {"abc"}}, "invalid literal for int() with base 10: 'abc'"},
		{url.Values{"detail": {"maybe"}}, "Failed to convert a value maybe"},
	} {
		st, lr := list(t, s, "/api/v0/nodes", c.q)
		if st != 400 || lr.Result || !strings.HasPrefix(lr.Msg, c.want) && !strings.Contains(lr.Msg, c.want) || lr.Data.Result != nil {
			t.Errorf("%v: %d %+v", c.q, st, lr)
		}
	}
	if r := get(t, s, "/api/v0/nodes?filter_keys=state&filter_predicates=%3D"); r.status != 500 {
		t.Errorf("filter_keys without filter_values: %d (Ray asserts: 500)", r.status)
	}

	// Actors: 40 over 10 nodes round robin, 4 on the dead node; every 10th named.
	_, lr = list(t, s, "/api/v0/actors", filters("state", "=", "DEAD"))
	counts(t, "actors state=DEAD", lr, 40, 40, 4, 4) // the GCS filtered 36: they count in num_after_truncation
	for _, a := range lr.Data.Result.Result {
		if a["node_id"] != ids[3] {
			t.Errorf("dead actor on %v", a["node_id"])
		}
	}
	_, lr = list(t, s, "/api/v0/actors", filters("state", "!=", "DEAD", "class_name", "=", "worker"))
	counts(t, "actors state!=DEAD class_name=worker", lr, 40, 40, 10, 10) // Workers are i%4==0: none on node 3
	_, lr = list(t, s, "/api/v0/actors", filters("name", "=", "actor-20"))
	counts(t, "actors name=", lr, 40, 40, 1, 1)
	_, lr = list(t, s, "/api/v0/actors", filters("node_id", "=", ids[1]))
	counts(t, "actors node_id=", lr, 40, 40, 4, 4)
	_, lr = list(t, s, "/api/v0/actors", filters("pid", "=", "10005"))
	counts(t, "actors pid=", lr, 40, 40, 1, 1)
	_, lr = list(t, s, "/api/v0/actors", filters("pid", "!=", "10005")) // int != str is always true in Python
	counts(t, "actors pid!=", lr, 40, 40, 40, 40)
	if st, lr := list(t, s, "/api/v0/actors", filters("state", "=", "SLEEPING")); st != 400 || lr.Msg != "Invalid actor state for filtering: SLEEPING" {
		t.Errorf("bad actor state: %d %q", st, lr.Msg)
	}
}

func TestLimitsAndTruncation(t *testing.T) {
	s := Start(t, Options{Nodes: 250, Actors: 300})
	_, lr := list(t, s, "/api/v0/nodes", nil)
	counts(t, "default limit", lr, 250, 250, 250, 100)
	var got []string
	for _, r := range lr.Data.Result.Result {
		got = append(got, r["node_id"].(string))
		if _, ok := r["start_time_ms"]; ok {
			t.Fatal("start_time_ms without detail")
		}
	}
	all := s.NodeIDs()
	sort.Strings(all)
	if !slices.Equal(got, all[:100]) {
		t.Error("rows are not the first 100 node ids in sorted order")
	}
	_, lr = list(t, s, "/api/v0/nodes", url.Values{"limit": {"0"}})
	counts(t, "limit=0", lr, 250, 250, 250, 0)
	_, lr = list(t, s, "/api/v0/nodes", url.Values{"limit": {"10000"}, "detail": {"true"}})
	counts(t, "limit=10000", lr, 250, 250, 250, 250)
	if _, ok := lr.Data.Result.Result[0]["start_time_ms"]; !ok {
		t.Error("no start_time_ms with detail=true")
	}
	if st, lr := list(t, s, "/api/v0/nodes", url.Values{"limit": {"10001"}}); st != 400 || !strings.Contains(lr.Msg, "Given limit 10001 exceeds the supported limit 10000") {
		t.Errorf("limit=10001: %d %q", st, lr.Msg)
	}
	_, lr = list(t, s, "/api/v0/actors", url.Values{"limit": {"50"}})
	counts(t, "actors limit=50", lr, 300, 300, 300, 50)

	// Beyond the GCS's 10000 rows.
	big := Start(t, Options{Nodes: 10_500, Actors: 12_000})
	_, lr = list(t, big, "/api/v0/nodes", url.Values{"limit": {"10000"}})
	counts(t, "10500 nodes", lr, 10_500, 10_000, 10_000, 10_000)
	_, lr = list(t, big, "/api/v0/actors", url.Values{"limit": {"7"}})
	counts(t, "12000 actors", lr, 12_000, 10_000, 10_000, 7)
	_, lr = list(t, big, "/api/v0/nodes", filters("is_head_node", "=", "false"))
	counts(t, "10500 nodes, dashboard-side filter", lr, 10_500, 10_000, 9_999, 100)
}

func TestAuthMatrix(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	s := Start(t, Options{Token: tok})
	ways := [][]string{
		nil,
		{"Authorization", "Bearer " + tok},
		{"Authorization", "Bearer wrong"},
		{"X-Ray-Authorization", "Bearer " + tok},
		{"Cookie", "ray-authentication-token=" + tok},
	}
	f, err := os.Open(filepath.Join(liveDir, "http_auth_matrix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	implemented := map[string]bool{"/": true, "/api/authentication_mode": true, "/api/gcs_healthz": true, "/api/healthz": true,
		"/-/healthz": true, "/api/version": true, "/nodes?view=summary": true, "/api/v0/nodes": true}
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || !strings.HasPrefix(fields[0], "dashboard/") {
			continue
		}
		path := strings.TrimPrefix(fields[0], "dashboard")
		if !implemented[path] {
			continue // cluster_status, jobs, serve: not faked
		}
		checked++
		for i, w := range ways {
			var want int
			fmt.Sscan(fields[1+i], &want)
			if got := get(t, s, path, w...); got.status != want {
				t.Errorf("%s with %v: %d, want %d", path, w, got.status, want)
			}
		}
	}
	if checked != len(implemented) {
		t.Errorf("checked %d matrix rows, want %d", checked, len(implemented))
	}
	if r := get(t, s, "/api/authentication_mode"); string(r.body) != `{"authentication_mode": "token"}` {
		t.Errorf("mode: %s", r.body)
	}

	open := Start(t, Options{})
	if r := get(t, open, "/api/v0/nodes"); r.status != 200 {
		t.Errorf("auth disabled: %d", r.status)
	}
	if r := get(t, open, "/api/version", "Authorization", "Bearer anything"); r.status != 200 {
		t.Errorf("auth disabled, some token: %d", r.status)
	}
	if r := get(t, open, "/api/authentication_mode"); string(r.body) != `{"authentication_mode": "disabled"}` {
		t.Errorf("mode: %s", r.body)
	}
}

func TestMutations(t *testing.T) {
	s := Start(t, Options{Nodes: 5, Actors: 10, Seed: 3})
	ids := s.NodeIDs()
	q := url.Values{"detail": {"true"}, "limit": {"10000"}}
	_, before := list(t, s, "/api/v0/nodes", q) // cached now

	s.KillNode(ids[2])
	_, lr := list(t, s, "/api/v0/nodes", url.Values{"detail": {"true"}, "filter_keys": {"node_id"}, "filter_predicates": {"="}, "filter_values": {ids[2]}})
	counts(t, "killed node", lr, 1, 1, 1, 1)
	row := lr.Data.Result.Result[0]
	if row["state"] != "DEAD" || row["state_message"] != deadNodeMessage || row["end_time_ms"].(float64) <= row["start_time_ms"].(float64) {
		t.Errorf("killed node row: %v", row)
	}
	_, lr = list(t, s, "/api/v0/actors", filters("node_id", "=", ids[2]))
	for _, a := range lr.Data.Result.Result {
		if a["state"] != "DEAD" {
			t.Errorf("actor on dead node: %v", a)
		}
	}
	_, after := list(t, s, "/api/v0/nodes", q)
	if after.Data.Result.Total != before.Data.Result.Total || jsonString(before) == jsonString(after) {
		t.Error("cached body not invalidated by KillNode")
	}

	added := s.AddNode()
	_, lr = list(t, s, "/api/v0/nodes", nil)
	counts(t, "after AddNode", lr, 6, 6, 6, 6)
	s.SetResources(added, map[string]float64{"CPU": 64, "GPU": 8, "memory": 1 << 40})
	_, lr = list(t, s, "/api/v0/nodes", filters("node_id", "=", added))
	if res := lr.Data.Result.Result[0]["resources_total"].(map[string]any); res["GPU"] != 8.0 || res["CPU"] != 64.0 || len(res) != 3 {
		t.Errorf("SetResources: %v", res)
	}
	if r := get(t, s, "/api/v0/nodes?filter_keys=node_id&filter_predicates=%3D&filter_values="+added); !bytes.Contains(r.body, []byte(`"resources_total": {"CPU": 64.0, "GPU": 8.0, "memory": 1099511627776.0}`)) {
		t.Errorf("resources not written as Python floats: %s", r.body)
	}

	s.RemoveNode(ids[4])
	_, lr = list(t, s, "/api/v0/nodes", nil)
	counts(t, "after RemoveNode", lr, 5, 5, 5, 5)
	for _, r := range lr.Data.Result.Result {
		if r["node_id"] == ids[4] {
			t.Error("removed node still listed")
		}
	}

	aid := s.AddActor(added, "Trainer", "trainer-0")
	_, lr = list(t, s, "/api/v0/actors", filters("name", "=", "trainer-0"))
	counts(t, "AddActor", lr, 11, 11, 1, 1)
	if a := lr.Data.Result.Result[0]; a["actor_id"] != aid || a["class_name"] != "Trainer" || a["state"] != "ALIVE" || a["node_id"] != added {
		t.Errorf("added actor: %v", a)
	}
	s.KillActor(aid)
	_, lr = list(t, s, "/api/v0/actors", url.Values{"detail": {"true"}, "filter_keys": {"actor_id"}, "filter_predicates": {"="}, "filter_values": {aid}})
	if a := lr.Data.Result.Result[0]; a["state"] != "DEAD" || a["death_cause"] == nil {
		t.Errorf("killed actor: %v", a)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestRestart(t *testing.T) {
	s := Start(t, Options{Nodes: 20, Actors: 30})
	oldIDs, oldCID := s.NodeIDs(), s.ClusterID()
	s.Restart("session_2026-11-26_08-00-00_000001_42")
	var v map[string]any
	json.Unmarshal(get(t, s, "/api/version").body, &v)
	if v["session_name"] != "session_2026-11-26_08-00-00_000001_42" {
		t.Errorf("session after Restart: %v", v)
	}
	newIDs := s.NodeIDs()
	if len(newIDs) != 20 {
		t.Fatalf("%d nodes after Restart", len(newIDs))
	}
	for _, id := range newIDs {
		if slices.Contains(oldIDs, id) {
			t.Errorf("node id %s survived Restart", id)
		}
	}
	if s.ClusterID() == oldCID || !bytes.Contains(get(t, s, "/cluster_id").body, []byte(s.ClusterID())) {
		t.Error("cluster id unchanged by Restart")
	}
	_, lr := list(t, s, "/api/v0/nodes", filters("is_head_node", "=", "true"))
	if lr.Data.Result.Result[0]["node_id"] != newIDs[0] {
		t.Error("no head after Restart")
	}
	_, lr = list(t, s, "/api/v0/actors", url.Values{"limit": {"1000"}})
	counts(t, "actors after Restart", lr, 30, 30, 30, 30)
	s.Restart("")
	if s.SessionName() == "session_2026-11-26_08-00-00_000001_42" || !strings.HasPrefix(s.SessionName(), "session_") {
		t.Errorf("generated session %q", s.SessionName())
	}
}

func TestDeterministicSeed(t *testing.T) {
	a := Start(t, Options{Nodes: 50, Seed: 9})
	b := Start(t, Options{Nodes: 50, Seed: 9})
	c := Start(t, Options{Nodes: 50, Seed: 10})
	if !slices.Equal(a.NodeIDs(), b.NodeIDs()) || slices.Equal(a.NodeIDs(), c.NodeIDs()) {
		t.Error("node ids are not a function of the seed")
	}
	for _, id := range a.NodeIDs() {
		if len(id) != 56 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("node id %q", id)
		}
	}
}

func TestFailDelayRequests(t *testing.T) {
	s := Start(t, Options{Nodes: 2, Token: "t"})
	s.Fail(503)
	for _, p := range []string{"/api/authentication_mode", "/api/v0/nodes", "/api/gcs_healthz"} {
		if r := get(t, s, p, "Authorization", "Bearer t"); r.status != 503 {
			t.Errorf("%s while failing: %d", p, r.status)
		}
	}
	s.Fail(0)
	if r := get(t, s, "/api/v0/nodes", "Authorization", "Bearer t"); r.status != 200 {
		t.Errorf("after Fail(0): %d", r.status)
	}
	s.Delay(80 * time.Millisecond)
	start := time.Now()
	get(t, s, "/api/gcs_healthz")
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("Delay not applied: %v", d)
	}
	s.Delay(0)
	want := map[string]int{"/api/authentication_mode": 1, "/api/v0/nodes": 2, "/api/gcs_healthz": 2}
	if got := s.Requests(); !mapsEqual(got, want) {
		t.Errorf("Requests() = %v, want %v", got, want)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPyJSON(t *testing.T) {
	// Expected values printed by CPython's json.dumps.
	if got := string(appendPyStr(nil, "\x7f\x01é😀<&>\"\\\n")); got != `"\u007f\u0001\u00e9\ud83d\ude00<&>\"\\\n"` {
		t.Errorf("string: %s", got)
	}
	var b []byte
	for i, f := range []float64{1e16, 1e-5, 1.5e-5, 123456789012345, 0.0001, 2.8000000000000003, 2, 17029740135} {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPyFloat(b, f)
	}
	if string(b) != "1e+16, 1e-05, 1.5e-05, 123456789012345.0, 0.0001, 2.8000000000000003, 2.0, 17029740135.0" {
		t.Errorf("floats: %s", b)
	}
	for in, want := range map[string]string{"object_store_memory": "objectStoreMemory", "node:__internal_head__": "node:InternalHead", "node:10.0.0.1": "node:10.0.0.1", "custom_gPU": "customGpu"} {
		if got := pyCamel(in); got != want {
			t.Errorf("pyCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScale builds the advertised cluster and checks a full listing is
// quick; the real numbers are in BenchmarkNodes10k (-race slows this a lot).
func TestScale(t *testing.T) {
	start := time.Now()
	s := Start(t, Options{Nodes: 10_000, Actors: 50_000})
	built := time.Since(start)
	start = time.Now()
	_, lr := list(t, s, "/api/v0/nodes", url.Values{"limit": {"10000"}, "detail": {"true"}})
	counts(t, "10k nodes", lr, 10_000, 10_000, 10_000, 10_000)
	_, la := list(t, s, "/api/v0/actors", url.Values{"limit": {"10000"}})
	counts(t, "50k actors", la, 50_000, 10_000, 10_000, 10_000)
	served := time.Since(start)
	t.Logf("10k nodes + 50k actors: built in %v, both lists served (and decoded by the test) in %v", built, served)
	if built > 10*time.Second || served > 10*time.Second {
		t.Errorf("too slow: %v / %v", built, served)
	}
}

func BenchmarkNodes10k(b *testing.B) {
	s := Start(b, Options{Nodes: 10_000, Actors: 50_000})
	id := s.NodeIDs()[1]
	fetch := func(b *testing.B) int {
		resp, err := http.Get(s.URL + "/api/v0/nodes?detail=true&limit=10000")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
		return int(n)
	}
	b.Run("encode+serve", func(b *testing.B) { // every request rebuilds the body
		for i := 0; b.Loop(); i++ {
			s.SetResources(id, map[string]float64{"CPU": float64(i % 64)})
			b.SetBytes(int64(fetch(b)))
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			b.SetBytes(int64(fetch(b)))
		}
	})
}

// KillNodes is one change of many nodes, the same as KillNode of each; New
// serves until Close, outside a test's cleanup.
func TestNewKillNodesClose(t *testing.T) {
	s := New(Options{Nodes: 10, Actors: 20, Seed: 9})
	ids := s.NodeIDs()
	s.KillNodes([]string{ids[2], ids[5], ids[5], "no-such-node"})
	_, lr := list(t, s, "/api/v0/nodes", filters("state", "=", "DEAD"))
	counts(t, "state=DEAD", lr, 2, 2, 2, 2)
	_, lr = list(t, s, "/api/v0/actors", filters("state", "=", "DEAD"))
	counts(t, "dead actors", lr, 20, 20, 4, 4) // actors i%10 in {2, 5}
	s.Close()
	if _, err := http.Get(s.URL + "/api/version"); err == nil {
		t.Fatal("the fake still answers after Close")
	}
}
