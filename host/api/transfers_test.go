package api

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/sdk"
)

// localOnly is a plugin manager with just the local transfer plugin
// loaded (no ray plugin installed). It is never asked to send here.
type localOnly struct{}

func (localOnly) Transfer(name string) (sdk.Transferer, error) {
	return nil, fmt.Errorf("transfer plugin %q: not in this test", name)
}

func (localOnly) TransferNames() []string { return []string{"local"} }

func (localOnly) TransferCapabilities(context.Context, string) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{NodeKinds: []string{"local"}}, nil
}

// A target of a kind no loaded transfer plugin serves is a 400 whose JSON
// error names the node and the kind, and nothing is recorded.
func TestStartTransferToAnUnservedKindIs400(t *testing.T) {
	reg := registry.New(nil, func(string, any) {})
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa01", Kind: registry.KindRayNode}})
	var svc *transfer.Service
	fs := newFileServer(t, func(d *Deps) {
		st, err := store.Open(filepath.Join(t.TempDir(), "transfers.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc = transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: localOnly{}, Sources: d.Files, Emit: func(string, any) {}, Log: d.Log})
		d.Registry, d.Transfers = reg, svc
	})
	fs.put(t, "f.txt", []byte("hello"))
	r := fs.do(t, "POST", "/api/transfers", []byte(`{"file_name":"f.txt","mode":"unicast","targets":["ray:c1:aa01"]}`),
		"Content-Type", "application/json")
	if want := "node ray:c1:aa01: no transfer backend serves kind ray-node (loaded: local)"; r.code != http.StatusBadRequest || r.errorMessage(t) != want {
		t.Fatalf("POST /api/transfers = %d %s, want 400 %q", r.code, r.body, want)
	}
	if list, total := svc.List(transfer.ListOptions{}); len(list) != 0 || total != 0 {
		t.Fatalf("a refused transfer was recorded: %+v", list)
	}
}
