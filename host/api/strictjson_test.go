package api

import (
	"encoding/json"
	"strings"
	"testing"
)

type strictInner struct {
	Kind string `json:"kind"`
}

type strictEmbedded struct {
	Note string `json:"note"`
}

type strictTarget struct {
	strictEmbedded
	NodeID   string                 `json:"node_id"`
	Inner    *strictInner           `json:"inner"`
	List     []strictInner          `json:"list"`
	Labels   map[string]string      `json:"labels"`
	ByName   map[string]strictInner `json:"by_name"`
	Raw      json.RawMessage        `json:"raw"`
	Anything any                    `json:"anything"`
	Untagged int
}

func TestStrictUnmarshal(t *testing.T) {
	for body, want := range map[string]string{
		`{"node_id":"n1","inner":{"kind":"a"},"list":[{"kind":"b"}],"labels":{"A":"1","a":"2"},` +
			`"by_name":{"x":{"kind":"c"}},"raw":{"k":1},"anything":{"K":1,"k":2},"note":"n","Untagged":3}`: "",
		`{"NODE_ID":"n1"}`:                       `unknown field "NODE_ID" (keys are case-sensitive: "node_id")`,
		`{"Note":"n"}`:                           `unknown field "Note" (keys are case-sensitive: "note")`,
		`{"inner":{"Kind":"a"}}`:                 `unknown field "inner.Kind" (keys are case-sensitive: "inner.kind")`,
		`{"list":[{"kind":"a"},{"KIND":"b"}]}`:   `unknown field "list[1].KIND"`,
		`{"by_name":{"x":{"Kind":"c"}}}`:         `unknown field "by_name.x.Kind"`,
		`{"node_id":"a","node_id":"b"}`:          `key "node_id" is given twice`,
		`{"labels":{"a":"1","a":"2"}}`:           `key "labels.a" is given twice`,
		`{"raw":{"k":1,"k":2}}`:                  `key "raw.k" is given twice`,
		`{"anything":[{"k":1,"k":2}]}`:           `key "anything[0].k" is given twice`,
		`{"colour":"red"}`:                       `unknown field "colour"`,
		`{"node_id":"n1"} {}`:                    `trailing data`,
		`{"node_id":"n1"`:                        `unexpected EOF`,
		`{"node_id":1}`:                          `cannot unmarshal number`,
		`{"untagged":3}`:                         `unknown field "untagged" (keys are case-sensitive: "Untagged")`,
		`{"node_id":"a","inner":null,"list":[]}`: "",
	} {
		var v strictTarget
		err := strictUnmarshal([]byte(body), &v)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", body, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one saying %q", body, err, want)
		}
	}
	var v strictTarget
	if err := strictUnmarshal([]byte(`{"node_id":"n1","labels":{"A":"1","a":"2"},"note":"n"}`), &v); err != nil ||
		v.NodeID != "n1" || v.Labels["A"] != "1" || v.Labels["a"] != "2" || v.Note != "n" {
		t.Errorf("decoded %+v, %v", v, err)
	}
}

// The API refuses a key in the wrong case or given twice with a 400 that
// names it, and does nothing.
func TestJSONKeysAreExactAndUnique(t *testing.T) {
	f := newSendFixture(t)
	for body, says := range map[string]string{
		`{"CAST_TYPE":"unicast","message_type":"text","content":"x","recipients":["n1"]}`:                     `"CAST_TYPE"`,
		`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["n1"],"recipients":["n2"]}`: `"recipients" is given twice`,
	} {
		r := f.post(t, "/api/send", body)
		if msg := r.errorMessage(t); r.code != 400 || !strings.Contains(msg, says) {
			t.Errorf("POST /api/send %s = %d %q, want 400 naming %s", body, r.code, msg, says)
		}
	}
	if got := f.messagesOf(t, "n1", ""); len(got) != 0 || len(f.evs.list()) != 0 {
		t.Errorf("refused sends recorded %d messages, %d events", len(got), len(f.evs.list()))
	}
}
