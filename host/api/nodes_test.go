package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/registry"
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

// GET /api/nodes is encoded node by node as it is written; its body is
// byte for byte what encoding the whole listing at once gives, maps, HTML
// escaping and key order included, filtered or not.
func TestListNodesStreamsTheWholeListing(t *testing.T) {
	g := newGroupServer(t)
	g.reg.SyncCluster("c2", []registry.Node{{ID: "ray:c2:<&>", Name: "a <b> & c", Labels: map[string]string{"x": "ö"}}})
	for query, f := range map[string]registry.Filter{"": {}, "?kind=ray-node": {Kind: registry.KindRayNode}, "?cluster=nope": {ClusterID: "nope"}} {
		nodes := g.reg.List(f)
		want, err := json.Marshal(fiber.Map{"success": true, "nodes": nodes, "count": len(nodes)})
		if err != nil {
			t.Fatal(err)
		}
		r := g.do(t, "GET", "/api/nodes"+query, "")
		if r.code != 200 || r.raw != string(want) {
			t.Errorf("GET /api/nodes%s = %d\n%s\nwant\n%s", query, r.code, r.raw, want)
		}
	}
}
