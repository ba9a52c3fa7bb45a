package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/api"
	"github.com/castray/castray/host/api/client"
	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/sdk"
)

// deliverAll is a transfer backend that reports every target delivered
// (it writes nothing: the node-file download below uses a file put in the
// inbox by hand).
type deliverAll struct{}

func (deliverAll) Transfer(string) (sdk.Transferer, error) { return deliverAll{}, nil }
func (deliverAll) TransferNames() []string                 { return []string{"fake"} }
func (deliverAll) TransferCapabilities(ctx context.Context, _ string) (*sdk.TransferCapabilities, error) {
	return deliverAll{}.Capabilities(ctx)
}
func (deliverAll) Info(context.Context) (*sdk.PluginInfo, error) { return &sdk.PluginInfo{}, nil }
func (deliverAll) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (deliverAll) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (deliverAll) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{NodeKinds: []string{"local", "ray-node"}, Modes: []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast}}, nil
}
func (deliverAll) Send(_ context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	for _, t := range req.GetTargets() {
		if err := sink.Result(&sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize(), Sha256: req.GetFile().GetSha256()}); err != nil {
			return nil, err
		}
	}
	return &sdk.SendSummary{Succeeded: uint32(len(req.GetTargets()))}, nil
}
func (deliverAll) Cancel(context.Context, string) (bool, error) { return false, nil }

// noClusters is a connection manager with nothing connected.
type noClusters struct{}

func (noClusters) Connect(context.Context, string) (connector.Cluster, bool, error) {
	return connector.Cluster{}, false, errors.New("not in this test")
}
func (noClusters) Disconnect(id string) (connector.Cluster, error) {
	return connector.Cluster{}, errors.New("no cluster " + id)
}
func (noClusters) DisconnectAll() []connector.Cluster { return nil }
func (noClusters) Clusters() []connector.Cluster      { return nil }

// fullServer is realServer plus what the original's routes need: the
// message log, a transfer service, the connection manager and a config.
// It returns the address and the inbox root.
func fullServer(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, nil)
	for _, id := range []string{"n1", "n2"} {
		if _, err := reg.AddLocal(id, 0, inbox); err != nil {
			t.Fatal(err)
		}
	}
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa", Kind: registry.KindRayNode, Address: "10.0.0.5", Resources: map[string]float64{"CPU": 4}}})
	gs := groups.New(st, reg)
	if err := gs.Load(); err != nil {
		t.Fatal(err)
	}
	fs, err := files.Open(filepath.Join(dir, "uploads"), st, 1<<30, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.NewNullLogger()
	svc := transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: deliverAll{}, Sources: fs, Emit: func(string, any) {}, Log: log, InboxRoot: inbox})
	msgs := messages.New(messages.Options{Store: st, Emit: func(string, any) {}})
	srv := api.New(api.Deps{Registry: reg, Groups: gs, Files: fs, Transfers: svc, Messages: msgs, Connections: noClusters{},
		InboxRoot: inbox, Config: map[string]any{"web_server": map[string]any{"port": 8000}}, Token: token, Log: log,
		MaxFileSize: 1 << 30, BodyLimit: 1 << 12, IdleTimeout: 5 * time.Second, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(5 * time.Second)
		<-done
	})
	return ln.Addr().String(), inbox
}

// Nodes create/delete/files/messages, the original's send, manual transfer
// and status, the file generator and downloads, against the real server.
func TestOriginalRoutesAgainstTheRealServer(t *testing.T) {
	addr, _ := fullServer(t)
	ctx := context.Background()
	c, err := client.New(addr, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}

	// Nodes.
	cn, err := c.CreateNode(ctx, client.CreateNodeRequest{NodeID: "n3", Port: 9003})
	if err != nil || cn.Status != http.StatusCreated || cn.Node.ID != "n3" || cn.Node.Kind != "local" || cn.Node.State != "active" || cn.Node.Port != 9003 {
		t.Fatalf("create node: %+v %v", cn, err)
	}
	strict(t, "create node", cn.Raw, &client.CreateNodeResponse{})
	if _, err := c.CreateNode(ctx, client.CreateNodeRequest{NodeID: "n3"}); client.StatusCode(err) != http.StatusConflict {
		t.Errorf("duplicate node: %v", err)
	}
	dn, err := c.DeleteNode(ctx, "n3", true)
	if err != nil || !dn.InboxPurged || dn.CancelledTransfers == nil || !strings.Contains(dn.Message, "n3") {
		t.Fatalf("delete node: %+v %v", dn, err)
	}
	strict(t, "delete node", dn.Raw, &client.DeleteNodeResponse{})
	if _, err := c.Node(ctx, "n3"); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("deleted node still there: %v", err)
	}
	if _, err := c.DeleteNode(ctx, "ray:c1:aa", false); client.StatusCode(err) != http.StatusConflict {
		t.Errorf("delete of a Ray node: %v", err)
	}
	ext, err := c.ExternalNodes(ctx, "")
	if err != nil || ext.Count != 1 || ext.ExternalNodes[0].ID != "ray:c1:aa" || ext.ExternalNodes[0].Type != "external" {
		t.Fatalf("external nodes: %+v %v", ext, err)
	}
	strict(t, "external nodes", ext.Raw, &client.ExternalNodeList{})
	info, err := c.ExternalInfo(ctx)
	if err != nil || info.IsConnected || info.ConnectedCluster != nil || len(info.ExternalNodes) != 1 {
		t.Fatalf("external info: %+v %v", info, err)
	}
	strict(t, "external info", info.Raw, &client.ExternalInfo{})
	cfg, err := c.Config(ctx)
	if err != nil || cfg.Values["web_server"] == nil {
		t.Fatalf("config: %+v %v", cfg, err)
	}

	// The original's text and JSON messages, and a node's log of them.
	sent, err := c.Send(ctx, client.SendRequest{CastType: client.Multicast, MessageType: "text", Content: json.RawMessage(`"hello"`), Sender: "n1", Recipients: []string{"n2", "ray:c1:aa"}})
	if err != nil || !sent.Success || sent.RecipientsCount != 2 || sent.MessageID == "" || sent.Status != http.StatusOK {
		t.Fatalf("send text: %+v %v", sent, err)
	}
	strict(t, "send", sent.Raw, &client.CastResponse{})
	if _, err := c.Send(ctx, client.SendRequest{CastType: client.Unicast, MessageType: "json", Content: json.RawMessage(`{"k":[1,2]}`), Recipients: []string{"n2"}}); err != nil {
		t.Fatalf("send json: %v", err)
	}
	if _, err := c.Send(ctx, client.SendRequest{CastType: client.Unicast, MessageType: "text", Content: json.RawMessage(`"x"`), Recipients: []string{"nope"}}); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("send to a missing node: %v", err)
	}
	got, err := c.NodeMessages(ctx, "n2", 0)
	if err != nil || len(got.Messages) != 2 || got.Messages[0].Message.MessageType != "json" || string(got.Messages[1].Message.Content) != `"hello"` || got.Messages[1].From != "n1" {
		t.Fatalf("n2's messages: %+v %v", got, err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(got.Raw), []byte("[")) {
		t.Errorf("Raw is not the bare array: %s", got.Raw)
	}
	if one, err := c.NodeMessages(ctx, "n2", 1); err != nil || len(one.Messages) != 1 {
		t.Errorf("count=1: %+v %v", one, err)
	}
	if mine, err := c.NodeMessages(ctx, "n1", 0); err != nil || len(mine.Messages) != 1 || mine.Messages[0].Direction != "sent" {
		t.Errorf("n1 (the sender): %+v %v", mine, err)
	}

	// The file generator, and downloads of what it made.
	presets, err := c.GenPresets(ctx)
	if err != nil || len(presets.Presets) != len(client.GenPresetNames) || presets.Presets["tiny"].SizeBytes != 1024 {
		t.Fatalf("presets: %+v %v", presets, err)
	}
	strict(t, "presets", presets.Raw, &client.GenPresets{})
	gi, err := c.GenInfo(ctx)
	if err != nil || gi.MaxFileSize <= 0 || len(gi.NamePrefixes) != 3 {
		t.Fatalf("info: %+v %v", gi, err)
	}
	strict(t, "gen info", gi.Raw, &client.GenInfo{})
	gen, err := c.GenCreate(ctx, client.GenCreateRequest{Size: "1.5KB", ContentType: "pattern", Pattern: "ab", FileName: "p.dat"})
	if err != nil || gen.Status != http.StatusCreated || gen.FileInfo.FileName != "sample_p.dat" || gen.FileInfo.ActualSize != 1536 {
		t.Fatalf("create: %+v %v", gen, err)
	}
	strict(t, "gen create", gen.Raw, &client.GenCreateResponse{})
	if _, err := c.GenCreate(ctx, client.GenCreateRequest{Size: "2GB"}); client.StatusCode(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("2GB: %v", err)
	}
	pre, err := c.GenCreatePreset(ctx, client.GenPresetRequest{Preset: "tiny", ContentType: "random"})
	if err != nil || pre.FileInfo.PresetName != "tiny" || pre.FileInfo.ActualSize != 1024 {
		t.Fatalf("create-preset: %+v %v", pre, err)
	}
	var buf bytes.Buffer
	var calls int
	dl, err := c.Download(ctx, gen.FileInfo.FileName, &buf, client.DownloadOptions{Progress: func(done, total int64) {
		calls++
		if total != 1536 || done > total {
			t.Errorf("progress %d/%d", done, total)
		}
	}})
	if err != nil || dl.Size != 1536 || dl.SHA256 != gen.FileInfo.SHA256 || buf.String() != strings.Repeat("ab", 768) || calls == 0 || dl.Modified.IsZero() {
		t.Fatalf("download: %+v %v (%d bytes, %d progress calls)", dl, err, buf.Len(), calls)
	}
	if _, err := c.Download(ctx, "nope", &buf, client.DownloadOptions{}); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("download of a missing file: %v", err)
	}

	gt, err := c.GenCreateAndTransfer(ctx, client.GenTransferRequest{Size: "100B", Recipients: []string{"n1"}, FileName: "t.txt"})
	if err != nil || gt.Status != http.StatusAccepted || gt.TransferID == "" || gt.Transfer.ID != gt.TransferID || gt.TransferSummary.TotalRecipients != 1 || gt.FileInfo.FileName != "transfer_t.txt" {
		t.Fatalf("create-and-transfer: %+v %v", gt, err)
	}
	strict(t, "create-and-transfer", gt.Raw, &client.GenTransferResponse{})
	if r, err := c.WaitTransfer(ctx, gt.TransferID, 5*time.Millisecond, nil); err != nil || r.Transfer.State != "completed" {
		t.Fatalf("wait: %+v %v", r, err)
	}
	gl, err := c.GenFiles(ctx)
	if err != nil || gl.TotalCount != 3 || gl.TotalSize != 1536+1024+100 || !gl.Files[0].IsGenerated {
		t.Fatalf("generated files: %+v %v", gl, err)
	}
	strict(t, "gen files", gl.Raw, &client.GenFileList{})
	del, err := c.GenDeleteFile(ctx, pre.FileInfo.FileName)
	if err != nil || del.DeletedSize != 1024 {
		t.Fatalf("gen delete: %+v %v", del, err)
	}
	strict(t, "gen delete", del.Raw, &client.GenDeleteResponse{})
	if _, err := c.Upload(ctx, "plain.txt", strings.NewReader("hi"), 2, client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenDeleteFile(ctx, "plain.txt"); client.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("gen delete of an upload: %v", err)
	}

	// The original's file message and manual transfer, and the counts.
	fm, err := c.Send(ctx, client.SendRequest{CastType: client.Unicast, MessageType: "file", FilePath: "plain.txt", Recipients: []string{"n2"}})
	if err != nil || fm.Status != http.StatusAccepted || fm.TransferID == "" || fm.Transfer == nil {
		t.Fatalf("file message: %+v %v", fm, err)
	}
	mt, err := c.ManualTransfer(ctx, client.ManualTransferRequest{SenderID: "n1", FileName: "plain.txt", Recipients: []string{"n1", "n2"}})
	if err != nil || len(mt.Results) != 2 || mt.Transfer.Mode != client.Multicast {
		t.Fatalf("manual: %+v %v", mt, err)
	}
	strict(t, "manual", mt.Raw, &client.ManualTransferResponse{})
	for _, id := range []string{fm.TransferID, mt.TransferID} {
		if _, err := c.WaitTransfer(ctx, id, 5*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
	fts, err := c.FileTransferStatus(ctx)
	if err != nil || fts.Nodes["n2"].FileTransferStats.SuccessfulTransfers != 2 || fts.Nodes["n1"].FileTransferStats.TotalTransfers != 2 {
		t.Fatalf("file-transfer status: %+v %v", fts, err)
	}
	nf, err := c.NodeFiles(ctx, "n1")
	if err != nil || nf.NodeID != "n1" {
		t.Fatalf("node files: %+v %v", nf, err)
	}
	strict(t, "node files", nf.Raw, &client.NodeFileList{})
}

// A download fails on a short body or bytes that differ from the ETag.
func TestDownloadChecks(t *testing.T) {
	const body = "hello"
	good := `"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`
	bad := `"` + strings.Repeat("0", 64) + `"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/files/good", "/api/nodes/n1/files/good":
			w.Header().Set("ETag", good)
			w.Write([]byte(body))
		case "/api/files/bad":
			w.Header().Set("ETag", bad)
			w.Write([]byte(body))
		case "/api/files/short":
			w.Header().Set("Content-Length", "10")
			w.Write([]byte(body))
		}
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	ctx := context.Background()
	for _, name := range []string{"bad", "short"} {
		if _, err := c.Download(ctx, name, &bytes.Buffer{}, client.DownloadOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var b bytes.Buffer
	if d, err := c.DownloadNodeFile(ctx, "n1", "good", &b, client.DownloadOptions{}); err != nil || d.Size != 5 || b.String() != body {
		t.Errorf("node file: %+v %v", d, err)
	}
}

// RotateToken: the new token works at once, the old one no longer; a
// daemon whose token is configured (no RotateToken) answers 409.
func TestRotateToken(t *testing.T) {
	reg := registry.New(nil, nil)
	rotated := "n3w-t0ken"
	srv := api.New(api.Deps{Registry: reg, Token: token, Log: hclog.NewNullLogger(), Connections: noClusters{},
		RotateToken: func() (string, error) { return rotated, nil }, BodyLimit: 1 << 12, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(5 * time.Second)
		<-done
	})
	ctx := context.Background()
	old, _ := client.New(ln.Addr().String(), client.WithToken(token))
	r, err := old.RotateToken(ctx)
	if err != nil || r.Token != rotated || r.Message == "" {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	strict(t, "rotate", r.Raw, &client.TokenResponse{})
	if _, err := old.Nodes(ctx, client.NodeFilter{}); client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("the old token after rotation: %v", err)
	}
	fresh, _ := client.New(ln.Addr().String(), client.WithToken(rotated))
	if _, err := fresh.Nodes(ctx, client.NodeFilter{}); err != nil {
		t.Errorf("the new token: %v", err)
	}

	addr, _ := fullServer(t) // a configured token: nothing to rotate
	c, _ := client.New(addr, client.WithToken(token))
	if _, err := c.RotateToken(ctx); client.StatusCode(err) != http.StatusConflict {
		t.Errorf("rotate a configured token: %v", err)
	}
}
