package api

import (
	"strings"
	"testing"
)

// GET /api/nodes filters by kind, state and cluster; an unknown kind or
// state is a 400 naming the accepted values, an unknown cluster matches
// nothing.
func TestListNodesFilters(t *testing.T) {
	f := newSendFixture(t)
	count := func(query string) int {
		t.Helper()
		r := f.fs.do(t, "GET", "/api/nodes"+query, nil)
		if r.code != 200 {
			t.Fatalf("GET /api/nodes%s = %d %s", query, r.code, r.body)
		}
		return int(r.json(t)["count"].(float64))
	}
	for query, want := range map[string]int{"": 5, "?kind=local": 3, "?kind=ray-node&cluster=c1": 2,
		"?state=inactive": 1, "?cluster=nope": 0, "?kind=ray-actor": 0} {
		if got := count(query); got != want {
			t.Errorf("GET /api/nodes%s: %d nodes, want %d", query, got, want)
		}
	}
	for query, says := range map[string]string{
		"?kind=bogus":  `kind "bogus" is not a node kind (one of [local ray-node ray-actor])`,
		"?state=alive": `state "alive" is not a node state (one of [active inactive dead])`,
	} {
		r := f.fs.do(t, "GET", "/api/nodes"+query, nil)
		if msg := r.errorMessage(t); r.code != 400 || !strings.Contains(msg, says) {
			t.Errorf("GET /api/nodes%s = %d %q, want 400 %q", query, r.code, msg, says)
		}
	}
}
