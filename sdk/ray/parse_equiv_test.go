package ray

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The one-pass listing reader (parse.go, parse_scan.go) must answer
// exactly as the encoding/json decoders it replaced (parse_ref_test.go):
// the same rows, the same listing counts, and an error for the same
// inputs. Checked here on the live captures, on listings shaped like
// Ray's at scale, on hand-made corner cases, and under fuzzing.

// equivCases are bodies that exercise encoding/json's rules.
var equivCases = []string{
	``, ` `, `null`, `[]`, `5`, `"x"`, `{}`, `{"result": true}`,
	`{"result": true, "data": null}`,
	`{"result": false, "msg": "boom", "data": {"result": null}}`,
	`{"result": true, "data": {"result": {"result": []}}}`,
	`{"result": true, "data": {"result": {"result": null}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 3}}}`,
	// Rows and envelope in every order, white space everywhere.
	" \t\r\n{ \"data\" : { \"result\" : { \"result\" : [ { \"state\" : \"ALIVE\" , \"node_id\" : \"AB\" } ] , \"total\" : 1 } } , \"result\" : true } \n",
	// Trailing garbage, bad literals, numbers.
	`{"result": true, "data": {"result": {"result": []}}} x`,
	`{"result": tru, "data": {"result": {"result": []}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 01}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": -}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 1.}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 1e}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 1.5}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 1e3}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": -0, "num_filtered": 99999999999999999999}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": "5"}}}`,
	`{"result": true, "data": {"result": {"result": [], "total": 5, "num_after_truncation": -3, "num_filtered": 9}}}`,
	// Wrong types, sticky even when overwritten later.
	`{"result": "true", "data": {"result": {"result": []}}}`,
	`{"result": true, "msg": 5, "data": {"result": {"result": []}}}`,
	`{"result": true, "data": 5}`,
	`{"result": true, "data": {"result": {"total": "x"}}, "data": null, "data": {"result": {"result": []}}}`,
	`{"result": true, "data": {"result": {"result": {}}}}`,
	`{"result": true, "data": {"result": {"result": [], "warnings": 5}}}`,
	`{"result": true, "data": {"result": {"result": [], "warnings": [1, null, "", "w1", {"a": 1}, "w2"], "partial_failure_warning": "pf"}}}`,
	`{"result": true, "data": {"result": {"result": [], "partial_failure_warning": 3}}}`,
	// Repeated keys: the last wins; objects merge; null resets.
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE"}]}}, "data": {"result": {"total": 7}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE"}]}}, "data": null, "data": {}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "zz", "state": "ALIVE"}], "result": [{"node_id": "bb", "state": "DEAD"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "bb", "state": "DEAD"}], "result": [{"node_id": "zz", "state": "ALIVE"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "bb", "state": "DEAD"}], "result": null}}}`,
	`{"result": false, "result": true, "data": {"result": {"result": []}}}`,
	`{"result": true, "result": null, "data": {"result": {"result": []}}}`,
	// Keys matched case-insensitively (and with Unicode folding), escaped.
	`{"RESULT": true, "Data": {"rEsUlT": {"Result": [{"NODE_ID": "aa", "State": "ALIVE", "node_id": "BB"}]}}}`,
	"{\"result\": true, \"data\": {\"result\": {\"result\": [{\"node_id\": \"aa\", \"\u017ftate\": \"ALIVE\"}]}}}",
	`{"result": true, "data": {"result": {"result": [{"node\u005fid": "aa", "state": "\u0041LIVE"}]}}}`,
	// Row fields.
	`{"result": true, "data": {"result": {"result": [5]}}}`,
	`{"result": true, "data": {"result": {"result": [null]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": 5, "state": "ALIVE"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "is_head_node": "yes"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "is_head_node": null, "node_name": null, "node_ip": "::1"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "DEAD", "state_message": null}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "DEAD", "state_message": 3}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "DEAD", "state_message": "gone \ud83d\ude00 \ud800 x \u00e9 \xff\xfe"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "resources_total": {"CPU": 1, "GPU": null, "x": "1", "y": 1e400, "z": -0, "w": 1.5e3, "CPU": 2, "q": 1, "q": true}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "resources_total": {"x": "1"}, "labels": {"a": 1}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "resources_total": {}, "labels": {}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "resources_total": [], "labels": null}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "labels": {"a": "b", "c": null, "d": 1, "a": "e", "\u00e9": "\u00e9"}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": "12", "end_time_ms": 1.5e3}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": 18446744073709551615, "end_time_ms": 18446744073709551616}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": -5, "end_time_ms": {"a": 1}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "ALIVE", "start_time_ms": " 12", "end_time_ms": "1e3"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "aa", "state": "alive"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "a", "state": "ALIVE"}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"node_id": "AG", "state": "ALIVE"}]}}}`,
	// Actors.
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "class_name": "W", "pid": "12", "node_id": null, "job_id": "01000000", "address": {"ip_address": "10.0.0.1", "port": 1234}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "address": {"ip_address": "10.0.0.1"}, "address": {"port": "99"}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "address": {"ip_address": "10.0.0.1", "port": 99}, "address": null}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "address": 5}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "address": {"ip_address": 5}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "pid": 4294967296, "node_id": "BBcc", "required_resources": {"CPU": 1.0}}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "PENDING_CREATION", "node_id": 3}]}}}`,
	`{"result": true, "data": {"result": {"result": [{"actor_id": "aa", "state": "ALIVE", "ray_namespace": "n", "name": "x\"y", "class_name": ["a"]}]}}}`,
	// Strings: control characters, escapes.
	"{\"result\": true, \"msg\": \"a\tb\", \"data\": {\"result\": {\"result\": []}}}",
	`{"result": true, "msg": "a\qb", "data": {"result": {"result": []}}}`,
	`{"result": true, "msg": "a\u12", "data": {"result": {"result": []}}}`,
	`{"result": true, "msg": "a\'b", "data": {"result": {"result": []}}}`,
	`{"result": true, "msg": "unterminated`,
	`{"result": true, "data": {"result": {"result": [}}}`,
	`{"result": true, "data": {"result": {"result": [1,]}}}`,
	`{"result": true, "data": {"result": {"result": [], }}}`,
	`{"result": true "data": 1}`,
	`{"result": true, "data": {"result": {"result": [], "x": [[[[{"a": [1, {"b": null}]}]]]]}}}`,
}

func deepNesting(n int) string {
	return `{"result": true, "data": {"result": {"result": [], "x": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}}`
}

// scaleListing is a listing shaped like Ray 2.60's (and e2e/fakeray's) at
// scale: n node rows with detail.
func scaleListing(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"result": true, "msg": "", "data": {"result": {"total": %d, "num_after_truncation": %d, "num_filtered": %d, "result": [`, n, n, n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		id := fmt.Sprintf("%056x", i*7919+1)
		ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		state, msg := "ALIVE", "null"
		if i%97 == 3 {
			state, msg = "DEAD", `"Unexpected termination: health check failed"`
		}
		fmt.Fprintf(&b, `{"node_id": "%s", "node_ip": "%s", "is_head_node": %t, "state": "%s", "state_message": %s, "node_name": "%s", "resources_total": {"object_store_memory": 7298460057.0, "memory": 17029740135.0, "node:%s": 1.0, "CPU": 8.0}, "labels": {"ray.io/node-id": "%s"}, "start_time_ms": %d, "end_time_ms": 0}`,
			id, ip, i == 0, state, msg, ip, ip, id, 1795638205990+i)
	}
	b.WriteString(`], "partial_failure_warning": "", "warnings": null}}}`)
	return []byte(b.String())
}

func scaleActorListing(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"result": true, "msg": "", "data": {"result": {"total": %d, "num_after_truncation": %d, "num_filtered": %d, "result": [`, n*5, n*5, n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		name := ""
		if i%10 == 0 {
			name = fmt.Sprintf("actor-%d", i)
		}
		fmt.Fprintf(&b, `{"actor_id": "%024x01000000", "class_name": "Worker", "state": "ALIVE", "job_id": "01000000", "name": "%s", "node_id": "%056x", "pid": %d, "ray_namespace": "fake-namespace", "serialized_runtime_env": "{}", "required_resources": {"CPU": 1.0}, "death_cause": null, "is_detached": false, "placement_group_id": null, "repr_name": "", "num_restarts": "0", "num_restarts_due_to_lineage_reconstruction": 0}`,
			i*31+5, name, i%100, 10000+i)
	}
	b.WriteString(`], "partial_failure_warning": "", "warnings": null}}}`)
	return []byte(b.String())
}

// checkEquiv compares the two decoders on one body.
func checkEquiv(t *testing.T, body []byte) {
	t.Helper()
	nodes, l, err := parseStateNodes(body)
	rnodes, rl, rerr := refParseStateNodes(body)
	if (err != nil) != (rerr != nil) {
		t.Fatalf("nodes of %q: error %v, encoding/json's %v", clip(string(body)), err, rerr)
	}
	if err == nil && (!reflect.DeepEqual(nodes, rnodes) || l != rl.StateListing) {
		t.Fatalf("nodes of %q:\n got %#v %+v\nwant %#v %+v", clip(string(body)), nodes, l, rnodes, rl.StateListing)
	}
	actors, al, aerr := parseStateActors(body)
	ractors, ral, raerr := refParseStateActors(body)
	if (aerr != nil) != (raerr != nil) {
		t.Fatalf("actors of %q: error %v, encoding/json's %v", clip(string(body)), aerr, raerr)
	}
	if aerr == nil && (!reflect.DeepEqual(actors, ractors) || al != ral.StateListing) {
		t.Fatalf("actors of %q:\n got %#v %+v\nwant %#v %+v", clip(string(body)), actors, al, ractors, ral.StateListing)
	}
}

func TestStateListingsAsEncodingJSON(t *testing.T) {
	for _, c := range equivCases {
		checkEquiv(t, []byte(c))
	}
	for _, n := range []int{9999, 10000, 10001} {
		checkEquiv(t, []byte(deepNesting(n)))
	}
	// Every live capture, the listings and the other answers.
	names, err := filepath.Glob(filepath.Join("testdata", "live-2.60.0", "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, n := range names {
		checkEquiv(t, capture(t, filepath.Base(n)))
	}
	checkEquiv(t, scaleListing(2000))
	checkEquiv(t, scaleActorListing(2000))
	// Every prefix of a small listing: truncated input anywhere.
	small := scaleListing(3)
	for i := range small {
		checkEquiv(t, small[:i])
	}
}

func FuzzStateListingsAsEncodingJSON(f *testing.F) {
	seedAll(f)
	for _, c := range equivCases {
		f.Add([]byte(c))
	}
	f.Add(scaleListing(3))
	f.Add(scaleActorListing(3))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEquiv(t, b)
	})
}
