package api

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/sdk"
)

// everyKind is a backend serving local and ray-node targets that delivers
// at once.
type everyKind struct{}

func (everyKind) Transfer(string) (sdk.Transferer, error) { return everyKind{}, nil }
func (everyKind) TransferNames() []string                 { return []string{"any"} }
func (everyKind) TransferCapabilities(context.Context, string) (*sdk.TransferCapabilities, error) {
	return everyKind{}.Capabilities(context.Background())
}
func (everyKind) Info(context.Context) (*sdk.PluginInfo, error) { return &sdk.PluginInfo{}, nil }
func (everyKind) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (everyKind) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (everyKind) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{NodeKinds: []string{"local", "ray-node"},
		Modes: []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast}}, nil
}
func (everyKind) Send(_ context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	for _, t := range req.GetTargets() {
		if err := sink.Result(&sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize(),
			Sha256: req.GetFile().GetSha256()}); err != nil {
			return nil, err
		}
	}
	return &sdk.SendSummary{Succeeded: uint32(len(req.GetTargets()))}, nil
}
func (everyKind) Cancel(context.Context, string) (bool, error) { return false, nil }

// POST /api/transfers with a selector, a group or a pick sends to the nodes
// they resolve to, says why a pick chose its nodes, and refuses mixed or
// unmet requests without recording anything.
func TestStartTransferWithSelectorsGroupsAndPicks(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, func(string, any) {})
	for _, id := range []string{"n1", "n2", "gone"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox")); err != nil {
			t.Fatal(err)
		}
	}
	reg.SyncCluster("c1", []registry.Node{
		{ID: "ray:c1:aa", Kind: registry.KindRayNode, Labels: map[string]string{"zone": "a"},
			Resources: map[string]float64{"CPU": 4, "GPU": 1}, Available: map[string]float64{"CPU": 3, "GPU": 1}},
		{ID: "ray:c1:bb", Kind: registry.KindRayNode, Labels: map[string]string{"zone": "b"},
			Resources: map[string]float64{"CPU": 8}, Available: map[string]float64{"CPU": 1}},
	})
	gs := groups.New(st, reg)
	if _, err := gs.Create("pair", []string{"n1", "ray:c1:bb", "gone"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	var svc *transfer.Service
	fs := newFileServer(t, func(d *Deps) {
		svc = transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: everyKind{}, Sources: d.Files, Emit: func(string, any) {}, Log: d.Log})
		d.Registry, d.Transfers, d.Groups = reg, svc, gs
	})
	fs.put(t, "f.txt", []byte("hello"))

	targets := func(body string) []string {
		t.Helper()
		r := fs.do(t, "POST", "/api/transfers", []byte(body), "Content-Type", "application/json")
		if r.code != http.StatusAccepted {
			t.Fatalf("POST %s = %d %s", body, r.code, r.body)
		}
		var out []string
		for _, tg := range r.json(t)["transfer"].(map[string]any)["targets"].([]any) {
			out = append(out, tg.(map[string]any)["node_id"].(string))
		}
		slices.Sort(out)
		return out
	}
	for body, want := range map[string][]string{
		`{"file_name":"f.txt","mode":"multicast","selector":{"kind":"ray-node"}}`:                                          {"ray:c1:aa", "ray:c1:bb"},
		`{"file_name":"f.txt","mode":"multicast","selector":{"resources":{"GPU":1}}}`:                                      {"ray:c1:aa"},
		`{"file_name":"f.txt","mode":"broadcast","selector":{"labels":{"zone":"b"}}}`:                                      {"ray:c1:bb"},
		`{"file_name":"f.txt","mode":"broadcast"}`:                                                                         {"n1", "n2", "ray:c1:aa", "ray:c1:bb"},
		`{"file_name":"f.txt","mode":"multicast","group":"pair"}`:                                                          {"n1", "ray:c1:bb"},
		`{"file_name":"f.txt","mode":"unicast","selector":{"kind":"ray-node"},"pick":{"count":1,"rule":"most-available"}}`: {"ray:c1:aa"},
	} {
		if got := targets(body); !slices.Equal(got, want) {
			t.Errorf("POST %s: targets %q, want %q", body, got, want)
		}
	}

	// The reply says why the pick chose its node, and which members a group skipped.
	r := fs.do(t, "POST", "/api/transfers", []byte(`{"file_name":"f.txt","mode":"multicast","group":"pair","pick":{"count":1}}`),
		"Content-Type", "application/json")
	body := r.json(t)
	chosen, _ := body["chosen"].([]any)
	if r.code != http.StatusAccepted || len(chosen) != 1 || chosen[0].(map[string]any)["reason"] == "" {
		t.Errorf("group pick: %d %s", r.code, r.body)
	}
	if missing := body["skipped"].(map[string]any)["missing"].([]any); len(missing) != 1 || missing[0] != "gone" {
		t.Errorf("skipped = %v, want the missing member named", body["skipped"])
	}

	_, before := svc.List(transfer.ListOptions{})
	for body, code := range map[string]int{
		`{"file_name":"f.txt","mode":"multicast","targets":["n1"],"selector":{}}`:         http.StatusBadRequest,
		`{"file_name":"f.txt","mode":"multicast","pick":{"count":1}}`:                     http.StatusBadRequest,
		`{"file_name":"f.txt","mode":"multicast","selector":{"kind":"robot"}}`:            http.StatusBadRequest,
		`{"file_name":"f.txt","mode":"multicast","selector":{"labels":{"zone":"z"}}}`:     http.StatusBadRequest,
		`{"file_name":"f.txt","mode":"multicast","selector":{},"pick":{"count":9}}`:       http.StatusConflict,
		`{"file_name":"f.txt","mode":"broadcast","group":"pair"}`:                         http.StatusBadRequest,
		`{"file_name":"f.txt","mode":"multicast","group":"nope"}`:                         http.StatusNotFound,
		`{"file_name":"f.txt","mode":"multicast","selector":{"kind":"ray-node","cpu":1}}`: http.StatusBadRequest,
	} {
		if r := fs.do(t, "POST", "/api/transfers", []byte(body), "Content-Type", "application/json"); r.code != code || r.errorMessage(t) == "" {
			t.Errorf("POST %s = %d %s, want %d with an error", body, r.code, r.body, code)
		}
	}
	if _, after := svc.List(transfer.ListOptions{}); after != before {
		t.Errorf("refused requests recorded transfers: %d → %d", before, after)
	}
}
