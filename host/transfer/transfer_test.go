package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// memStore is an in-memory Store.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memStore) Put(bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[bucket+"/"+key] = raw
	return nil
}

func (m *memStore) List(bucket string, fn func(key string, raw []byte) error) error {
	m.mu.Lock()
	keys := []string{}
	for k := range m.data {
		if strings.HasPrefix(k, bucket+"/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	m.mu.Unlock()
	for _, k := range keys {
		if err := fn(strings.TrimPrefix(k, bucket+"/"), m.data[k]); err != nil {
			return err
		}
	}
	return nil
}

// backend answers Send with one result per target after release closes.
type backend struct {
	release chan struct{}
	fail    bool
}

func (b *backend) Transfer(string) (sdk.Transferer, error) { return b, nil }
func (b *backend) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{}, nil
}
func (b *backend) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) { return nil, nil }
func (b *backend) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (b *backend) Capabilities(context.Context) (*sdk.TransferCapabilities, error) { return nil, nil }
func (b *backend) Cancel(context.Context, string) (bool, error)                    { return true, nil }
func (b *backend) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	if b.release != nil {
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for i, t := range req.GetTargets() {
		st := sdk.TargetDone
		if b.fail && i == 0 {
			st = sdk.TargetFailed
		}
		_ = sink.Result(&sdk.TargetResult{NodeId: t.GetNodeId(), State: st, Bytes: req.GetFile().GetSize()})
	}
	return &sdk.SendSummary{}, nil
}

func setup(t *testing.T, b *backend) (*Service, *memStore, string) {
	t.Helper()
	dir := t.TempDir()
	uploads := filepath.Join(dir, "uploads")
	if err := os.MkdirAll(uploads, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(uploads, "f.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(nil, func(string, any) {})
	for _, id := range []string{"a", "b"} {
		if _, err := reg.AddLocal(id, 0, filepath.Join(dir, "inbox")); err != nil {
			t.Fatal(err)
		}
	}
	st := &memStore{}
	s := New(st, reg, b, func(string, any) {}, uploads, hclog.NewNullLogger())
	return s, st, dir
}

func waitState(t *testing.T, s *Service, id string, want string) Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ := s.Get(id)
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s is %s, want %s", id, r.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRequestsAreCheckedBeforeAnythingIsRecorded(t *testing.T) {
	s, st, _ := setup(t, &backend{})
	for _, req := range []Request{
		{FileName: "", Mode: "broadcast"},
		{FileName: "../f.txt", Mode: "broadcast"},
		{FileName: "missing", Mode: "broadcast"},
		{FileName: "f.txt", Mode: "unicast", Targets: []string{"a", "b"}},
		{FileName: "f.txt", Mode: "multicast"},
		{FileName: "f.txt", Mode: "multicast", Targets: []string{"a", "a"}},
		{FileName: "f.txt", Mode: "multicast", Targets: []string{"zz"}},
		{FileName: "f.txt", Mode: "broadcast", Targets: []string{"a"}},
		{FileName: "f.txt", Mode: "anycast"},
	} {
		var re *RequestError
		if _, err := s.Start(req); !errors.As(err, &re) {
			t.Errorf("%+v: err = %v, want a RequestError", req, err)
		}
	}
	if len(st.data) != 0 || len(s.List()) != 0 {
		t.Fatal("a rejected request left a record")
	}
}

func TestPartialFailureAndRecovery(t *testing.T) {
	s, st, _ := setup(t, &backend{fail: true})
	rec, err := s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	r := waitState(t, s, rec.ID, StatePartial)
	if len(r.Targets) != 2 || r.File.SHA256 == "" || r.Targets[0].State != StateFailed || r.Targets[1].State != StateCompleted {
		t.Fatalf("record = %+v", r)
	}

	// A transfer that is running when the daemon stops is recorded as
	// interrupted, and stays so after a restart.
	b := &backend{release: make(chan struct{})}
	s2 := New(st, s.nodes, b, func(string, any) {}, s.uploadsDir, hclog.NewNullLogger())
	running, err := s2.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s2, running.ID, StateRunning)
	s2.Shutdown()
	if r, _ := s2.Get(running.ID); r.State != StateInterrupted {
		t.Fatalf("after shutdown: %+v", r)
	}
	s3 := New(st, s.nodes, b, func(string, any) {}, s.uploadsDir, hclog.NewNullLogger())
	if err := s3.Recover(); err != nil {
		t.Fatal(err)
	}
	if len(s3.List()) != 2 {
		t.Fatalf("records after restart: %d", len(s3.List()))
	}
	if r, _ := s3.Get(running.ID); r.State != StateInterrupted || r.Targets[0].State != StateInterrupted {
		t.Fatalf("recovered record = %+v", r)
	}
}

func TestCancel(t *testing.T) {
	s, _, _ := setup(t, &backend{release: make(chan struct{})})
	rec, err := s.Start(Request{FileName: "f.txt", Mode: "unicast", Targets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s, rec.ID, StateRunning)
	if err := s.Cancel(rec.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, rec.ID, StateCancelled)
	var re *RequestError
	if err := s.Cancel(rec.ID); !errors.As(err, &re) {
		t.Fatalf("cancel of an ended transfer: %v", err)
	}
	if err := s.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}
