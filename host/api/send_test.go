package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/sdk"
)

// rayFails is everyKind, except that every ray-node target fails: the
// status counts must tell it from the local ones that succeed.
type rayFails struct{ everyKind }

func (rayFails) Transfer(string) (sdk.Transferer, error) { return rayFails{}, nil }
func (rayFails) Send(_ context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	sum := &sdk.SendSummary{}
	for _, t := range req.GetTargets() {
		res := &sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize(), Sha256: req.GetFile().GetSha256()}
		if strings.HasPrefix(t.GetNodeId(), "ray:") {
			res = &sdk.TargetResult{NodeId: t.GetNodeId(), State: sdk.TargetFailed, Error: "refused by the test"}
			sum.Failed++
		} else {
			sum.Succeeded++
		}
		if err := sink.Result(res); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

type eventLog struct {
	mu  sync.Mutex
	evs []messages.ReceivedEvent
}

func (e *eventLog) emit(typ string, d any) {
	if typ != messages.EventMessageReceived {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, d.(messages.ReceivedEvent))
}

func (e *eventLog) list() []messages.ReceivedEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.evs)
}

type sendFixture struct {
	fs   *fileServer
	svc  *transfer.Service
	log  *messages.Log
	evs  *eventLog
	reg  *registry.Registry
	post func(t *testing.T, path, body string) response
}

// newSendFixture: local nodes n1, n2 and the dead-to-be n3, two Ray nodes
// of cluster c1, a group "mixed" of n1 and a Ray node, an uploaded f.txt.
func newSendFixture(t testing.TB) *sendFixture {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, func(string, any) {})
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.SetState("n3", registry.StateInactive); err != nil {
		t.Fatal(err)
	}
	reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa", Kind: registry.KindRayNode}, {ID: "ray:c1:bb", Kind: registry.KindRayNode}})
	gs := groups.New(st, reg)
	if _, err := gs.Create("mixed", []string{"n1", "ray:c1:aa"}, nil); err != nil {
		t.Fatal(err)
	}
	f := &sendFixture{evs: &eventLog{}, reg: reg}
	clock := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	f.log = messages.New(messages.Options{Store: st, Emit: f.evs.emit, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	f.fs = newFileServer(t, func(d *Deps) {
		f.svc = transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: rayFails{}, Sources: d.Files, Emit: func(string, any) {}, Log: d.Log})
		d.Registry, d.Transfers, d.Groups, d.Messages = reg, f.svc, gs, f.log
	})
	f.fs.put(t, "f.txt", []byte("hello"))
	f.post = func(t *testing.T, path, body string) response {
		t.Helper()
		return f.fs.do(t, "POST", path, []byte(body), "Content-Type", "application/json")
	}
	return f
}

func (f *sendFixture) messagesOf(t *testing.T, node, query string) []messages.Entry {
	t.Helper()
	r := f.fs.do(t, "GET", "/api/nodes/"+node+"/messages"+query, nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET messages of %s = %d %s", node, r.code, r.body)
	}
	var out []messages.Entry
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("messages of %s: %v (%s)", node, err, r.body)
	}
	return out
}

// waitEnded waits (bounded) for a transfer to reach a final state.
func (f *sendFixture) waitEnded(t *testing.T, id string) transfer.Record {
	t.Helper()
	for i := 0; i < 2000; i++ {
		rec, err := f.svc.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != transfer.StatePending && rec.State != transfer.StateRunning {
			return rec
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("transfer %s did not end", id)
	return transfer.Record{}
}

// Text and JSON messages are recorded on every recipient, local or Ray, by
// node ids, a group or a broadcast, listed newest first in the original's
// shape, with one message_received event per recipient.
func TestSendTextAndJSONMessages(t *testing.T) {
	f := newSendFixture(t)

	r := f.post(t, "/api/send", `{"id":"m1","cast_type":"multicast","message_type":"text","content":"hello","sender":"n1",
		"recipients":["n2","ray:c1:aa"],"group_id":null,"file_path":null,"file_size":null,"timestamp":null}`)
	body := r.json(t)
	if r.code != http.StatusOK || body["success"] != true || body["recipients_count"] != float64(2) || body["message_id"] != "m1" {
		t.Fatalf("POST /api/send text = %d %s", r.code, r.body)
	}
	if fr, ok := body["failed_recipients"].([]any); !ok || len(fr) != 0 {
		t.Errorf("failed_recipients = %v, want []", body["failed_recipients"])
	}
	if _, ok := body["delivery_time"].(float64); !ok {
		t.Errorf("delivery_time missing: %s", r.body)
	}
	for _, node := range []string{"n2", "ray:c1:aa"} {
		got := f.messagesOf(t, node, "")
		if len(got) != 1 || got[0].Direction != "received" || got[0].From != "n1" || got[0].Message.ID != "m1" ||
			string(got[0].Message.Content) != `"hello"` || got[0].Message.MessageType != "text" || got[0].Message.CastType != "multicast" {
			t.Errorf("messages of %s = %+v", node, got)
		}
	}
	// The sender is a node: the original listed sent messages too.
	if got := f.messagesOf(t, "n1", ""); len(got) != 1 || got[0].Direction != "sent" {
		t.Errorf("messages of the sender n1 = %+v, want one sent entry", got)
	}
	evs := f.evs.list()
	if len(evs) != 2 || evs[0].NodeID != "n2" || evs[1].NodeID != "ray:c1:aa" || evs[0].MessageID != "m1" || evs[0].Sender != "n1" || evs[0].CastType != "multicast" {
		t.Errorf("message_received events = %+v", evs)
	}

	// JSON to one Ray node; no id or sender given: both are filled in.
	r = f.post(t, "/api/send", `{"cast_type":"unicast","message_type":"json","content":{"k":[1, 2]},"recipients":["ray:c1:bb"]}`)
	if r.code != http.StatusOK {
		t.Fatalf("POST /api/send json = %d %s", r.code, r.body)
	}
	got := f.messagesOf(t, "ray:c1:bb", "")
	if len(got) != 1 || string(got[0].Message.Content) != `{"k":[1,2]}` || got[0].From != "api" || !strings.HasPrefix(got[0].Message.ID, "msg-") {
		t.Errorf("json message = %+v", got)
	}

	// A group's active members.
	r = f.post(t, "/api/send", `{"cast_type":"multicast","message_type":"text","content":"to the group","group_id":"mixed"}`)
	if r.code != http.StatusOK || r.json(t)["recipients_count"] != float64(2) {
		t.Fatalf("POST /api/send group = %d %s", r.code, r.body)
	}
	if got := f.messagesOf(t, "n1", "?count=1"); len(got) != 1 || string(got[0].Message.Content) != `"to the group"` {
		t.Errorf("n1 latest = %+v", got)
	}

	// Broadcast: every active node, local and Ray; not the inactive n3.
	r = f.post(t, "/api/send", `{"cast_type":"broadcast","message_type":"text","content":"all"}`)
	if r.code != http.StatusOK {
		t.Fatalf("broadcast = %d %s", r.code, r.body)
	}
	var rcpt []string
	for _, v := range r.json(t)["recipients"].([]any) {
		rcpt = append(rcpt, v.(string))
	}
	slices.Sort(rcpt)
	if want := []string{"n1", "n2", "ray:c1:aa", "ray:c1:bb"}; !slices.Equal(rcpt, want) {
		t.Errorf("broadcast recipients = %q, want %q", rcpt, want)
	}
	if got := f.messagesOf(t, "ray:c1:aa", ""); len(got) != 3 || string(got[0].Message.Content) != `"all"` {
		t.Errorf("ray:c1:aa messages (newest first) = %+v", got)
	}
	if got := f.messagesOf(t, "ray:c1:aa", "?count=2"); len(got) != 2 {
		t.Errorf("count=2 gave %d", len(got))
	}
	if n := len(f.evs.list()); n != 2+1+2+4 {
		t.Errorf("%d message_received events, want 9", n)
	}
}

// Bad input is a 400 or 404 naming the field, and records nothing.
func TestSendRefusesBadInput(t *testing.T) {
	f := newSendFixture(t)
	abs := filepath.Join(f.fs.dir, "f.txt")
	for body, want := range map[string]struct {
		code int
		says string
	}{
		`{"message_type":"text","content":"x","recipients":["n1"]}`:                                                 {400, "cast_type"},
		`{"cast_type":"anycast","message_type":"text","content":"x","recipients":["n1"]}`:                           {400, "cast_type"},
		`{"cast_type":"unicast","content":"x","recipients":["n1"]}`:                                                 {400, "message_type"},
		`{"cast_type":"unicast","message_type":"video","content":"x","recipients":["n1"]}`:                          {400, "message_type"},
		`{"cast_type":"unicast","message_type":"text","recipients":["n1"]}`:                                         {400, "content"},
		`{"cast_type":"unicast","message_type":"text","content":{"a":1},"recipients":["n1"]}`:                       {400, "content"},
		`{"cast_type":"unicast","message_type":"json","content":null,"recipients":["n1"]}`:                          {400, "content"},
		`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["n1","n2"]}`:                      {400, "recipients"},
		`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["nope"]}`:                         {404, "recipients"},
		`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["n3"]}`:                           {400, "recipients"},
		`{"cast_type":"multicast","message_type":"text","content":"x","recipients":["n1","n1"]}`:                    {400, "recipients"},
		`{"cast_type":"multicast","message_type":"text","content":"x","recipients":["n1","nope"]}`:                  {404, "recipients"},
		`{"cast_type":"multicast","message_type":"text","content":"x"}`:                                             {400, "recipients or group_id"},
		`{"cast_type":"multicast","message_type":"text","content":"x","group_id":"nope"}`:                           {404, "group_id"},
		`{"cast_type":"multicast","message_type":"text","content":"x","group_id":"mixed","recipients":["n1"]}`:      {400, "group_id"},
		`{"cast_type":"broadcast","message_type":"text","content":"x","recipients":["n1"]}`:                         {400, "recipients"},
		`{"cast_type":"unicast","message_type":"text","content":"x","recipients":["n1"],"colour":"red"}`:            {400, "colour"},
		`{"cast_type":"unicast","message_type":"file","recipients":["n1"]}`:                                         {400, "file_path"},
		`{"cast_type":"unicast","message_type":"file","file_path":"/etc/passwd","recipients":["n1"]}`:               {400, "file_path"},
		`{"cast_type":"unicast","message_type":"file","file_path":"../f.txt","recipients":["n1"]}`:                  {400, "file_path"},
		`{"cast_type":"unicast","message_type":"file","file_path":"` + f.fs.dir + `/../f.txt","recipients":["n1"]}`: {400, "file_path"},
		`{"cast_type":"unicast","message_type":"file","file_path":"missing.txt","recipients":["n1"]}`:               {404, "file_path"},
		`{"cast_type":"unicast","message_type":"file","file_path":"` + abs + `","file_size":9,"recipients":["n1"]}`: {400, "file_size"},
		`{"cast_type":"unicast","message_type":"file","file_path":"f.txt","recipients":["nope"]}`:                   {404, "recipients"},
	} {
		r := f.post(t, "/api/send", body)
		if msg := r.errorMessage(t); r.code != want.code || !strings.Contains(msg, want.says) {
			t.Errorf("POST /api/send %s = %d %q, want %d naming %q", body, r.code, msg, want.code, want.says)
		}
	}
	for body, want := range map[string]struct {
		code int
		says string
	}{
		`{"file_name":"f.txt","recipients":["n2"]}`:                                    {400, "sender_id"},
		`{"sender_id":"nope","file_name":"f.txt","recipients":["n2"]}`:                 {404, "sender_id"},
		`{"sender_id":"n1","recipients":["n2"]}`:                                       {400, "file_name"},
		`{"sender_id":"n1","file_name":"f.txt","recipients":[]}`:                       {400, "recipients"},
		`{"sender_id":"n1","file_name":"f.txt","recipients":["n2","nope"]}`:            {404, "recipients"},
		`{"sender_id":"n1","file_name":"/etc/passwd","recipients":["n2"]}`:             {400, "file_name"},
		`{"sender_id":"n1","file_name":"f.txt","recipients":["n2"],"transfer_type":1}`: {400, "transfer_type"},
	} {
		r := f.post(t, "/api/file-transfers/manual", body)
		if msg := r.errorMessage(t); r.code != want.code || !strings.Contains(msg, want.says) {
			t.Errorf("POST /api/file-transfers/manual %s = %d %q, want %d naming %q", body, r.code, msg, want.code, want.says)
		}
	}
	for path, code := range map[string]int{
		"/api/nodes/n1/messages?count=abc": 400,
		"/api/nodes/n1/messages?count=0":   400,
		"/api/nodes/nope/messages":         404,
	} {
		if r := f.fs.do(t, "GET", path, nil); r.code != code || r.errorMessage(t) == "" {
			t.Errorf("GET %s = %d %s, want %d with an error", path, r.code, r.body, code)
		}
	}
	for _, n := range []string{"n1", "n2", "n3", "ray:c1:aa", "ray:c1:bb"} {
		if c := f.log.Count(n); c != 0 {
			t.Errorf("node %s has %d messages after refused requests", n, c)
		}
	}
	if len(f.evs.list()) != 0 {
		t.Errorf("refused requests raised events: %+v", f.evs.list())
	}
	if _, total := f.svc.List(transfer.ListOptions{}); total != 0 {
		t.Errorf("refused requests recorded %d transfers", total)
	}
}

// File messages and manual transfers go through the transfer service,
// routed per target (local and Ray alike); the status counts only the
// targets whose delivery succeeded.
func TestSendFileAndTransferStatus(t *testing.T) {
	f := newSendFixture(t)

	// By plain name, to a local node.
	r := f.post(t, "/api/send", `{"id":"f1","cast_type":"unicast","message_type":"file","content":"","sender":"n1","recipients":["n2"],"file_path":"f.txt","file_size":5}`)
	body := r.json(t)
	if r.code != http.StatusAccepted || body["success"] != true || body["recipients_count"] != float64(1) || body["transfer_id"] == "" {
		t.Fatalf("POST /api/send file = %d %s", r.code, r.body)
	}
	if rec := f.waitEnded(t, body["transfer_id"].(string)); rec.State != transfer.StateCompleted || rec.Targets[0].NodeID != "n2" {
		t.Errorf("file to n2 ended %+v", rec)
	}

	// By its path in the upload store (what the original's upload answered), to a group of a local and a Ray node.
	abs := filepath.Join(f.fs.dir, "f.txt")
	r = f.post(t, "/api/send", fmt.Sprintf(`{"cast_type":"multicast","message_type":"file","group_id":"mixed","file_path":%q}`, abs))
	if r.code != http.StatusAccepted {
		t.Fatalf("POST /api/send file by path = %d %s", r.code, r.body)
	}
	rec := f.waitEnded(t, r.json(t)["transfer_id"].(string))
	if rec.State != transfer.StatePartial {
		t.Errorf("group transfer ended %s, want partial (the Ray target fails in this test)", rec.State)
	}

	// The original's manual transfer.
	r = f.post(t, "/api/file-transfers/manual", `{"sender_id":"n1","file_name":"f.txt","recipients":["n1","ray:c1:bb"]}`)
	body = r.json(t)
	if r.code != http.StatusAccepted || body["success"] != true || len(body["results"].([]any)) != 2 {
		t.Fatalf("POST /api/file-transfers/manual = %d %s", r.code, r.body)
	}
	res0 := body["results"].([]any)[0].(map[string]any)
	if res0["recipient"] != "n1" || res0["success"] != true || res0["message"] == "" {
		t.Errorf("results[0] = %v", res0)
	}
	f.waitEnded(t, body["transfer_id"].(string))

	// No message was recorded for files.
	if c := f.log.Count("n2"); c != 0 {
		t.Errorf("a file send recorded %d messages", c)
	}

	r = f.fs.do(t, "GET", "/api/file-transfers/status", nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET /api/file-transfers/status = %d %s", r.code, r.body)
	}
	var status map[string]nodeTransferStatus
	if err := json.Unmarshal(r.body, &status); err != nil {
		t.Fatal(err)
	}
	want := map[string]transferStats{
		"n1":        {TotalTransfers: 2, SuccessfulTransfers: 2, BytesTransferred: 10},
		"n2":        {TotalTransfers: 1, SuccessfulTransfers: 1, BytesTransferred: 5},
		"n3":        {},
		"ray:c1:aa": {TotalTransfers: 1, FailedTransfers: 1},
		"ray:c1:bb": {TotalTransfers: 1, FailedTransfers: 1},
	}
	if len(status) != len(want) {
		t.Errorf("status has %d nodes, want %d: %s", len(status), len(want), r.body)
	}
	for node, w := range want {
		if got := status[node]; got.FileTransferStats != w || got.ActiveTransfers != 0 {
			t.Errorf("status of %s = %+v, want %+v", node, got, w)
		}
	}
}
