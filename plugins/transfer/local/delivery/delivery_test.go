package delivery_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

type sink struct {
	mu       sync.Mutex
	progress []*sdk.TargetProgress
	results  map[string]*sdk.TargetResult
	onProg   func()
}

func (s *sink) Progress(p *sdk.TargetProgress) error {
	s.mu.Lock()
	s.progress = append(s.progress, p)
	f := s.onProg
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return nil
}

func (s *sink) Result(r *sdk.TargetResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results == nil {
		s.results = map[string]*sdk.TargetResult{}
	}
	s.results[r.GetNodeId()] = r
	return nil
}

func source(t *testing.T, size int) (path string, data []byte, sum string) {
	t.Helper()
	data = make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	return path, data, hex.EncodeToString(h[:])
}

func inboxes(t *testing.T, n int) []*sdk.Target {
	root := t.TempDir()
	var out []*sdk.Target
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, "node_"+string(rune('1'+i)))
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		out = append(out, &sdk.Target{NodeId: filepath.Base(dir), Kind: "local", Attributes: map[string]string{"inbox_dir": dir}})
	}
	return out
}

// entries lists an inbox, so tests can prove no temp file is left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func client(t *testing.T, cfg string) sdk.Transferer {
	c := plugintest.Transfer(t, delivery.New(hclog.NewNullLogger()))
	problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
	if err != nil || len(problems) > 0 {
		t.Fatalf("Configure(%s) = %v, %v", cfg, problems, err)
	}
	return c
}

func TestBroadcastDeliversVerifiedCopies(t *testing.T) {
	path, data, sum := source(t, 3<<20+123)
	targets := inboxes(t, 3)
	var s sink
	summary, err := client(t, `{"buffer_size": 65536, "progress_interval_ms": 0}`).Send(context.Background(), &sdk.SendRequest{
		TransferId: "t1", Mode: sdk.Broadcast, Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: "payload.bin"},
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetSucceeded() != 3 || summary.GetFailed() != 0 || summary.GetBytes() != 3*uint64(len(data)) {
		t.Fatalf("summary = %v", summary)
	}
	for _, tg := range targets {
		dir := tg.GetAttributes()["inbox_dir"]
		got, err := os.ReadFile(filepath.Join(dir, "payload.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: content differs (err %v)", dir, err)
		}
		if names := entries(t, dir); len(names) != 1 {
			t.Errorf("%s holds %v, want only payload.bin", dir, names)
		}
		r := s.results[tg.GetNodeId()]
		if r.GetState() != sdk.TargetDone || r.GetSha256() != sum || r.GetLocation() != filepath.Join(dir, "payload.bin") {
			t.Errorf("result %v", r)
		}
	}
	if len(s.progress) == 0 || s.progress[len(s.progress)-1].GetBytesDone() != uint64(len(data)) {
		t.Errorf("progress events: %d", len(s.progress))
	}
}

func TestChecksumMismatchLeavesNothing(t *testing.T) {
	path, data, _ := source(t, 100_000)
	targets := inboxes(t, 2)
	var s sink
	summary, err := client(t, `{}`).Send(context.Background(), &sdk.SendRequest{
		TransferId: "t2", Mode: sdk.Multicast, Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: strings.Repeat("0", 64), Name: "x.bin"},
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetFailed() != 2 {
		t.Fatalf("summary = %v", summary)
	}
	for _, tg := range targets {
		if names := entries(t, tg.GetAttributes()["inbox_dir"]); len(names) != 0 {
			t.Errorf("inbox holds %v after a failed transfer", names)
		}
		if r := s.results[tg.GetNodeId()]; r.GetState() != sdk.TargetFailed || !strings.Contains(r.GetError(), "sha256 mismatch") {
			t.Errorf("result %v", r)
		}
	}
}

func TestOneBadTargetFailsAlone(t *testing.T) {
	path, data, sum := source(t, 10_000)
	targets := inboxes(t, 1)
	targets = append(targets,
		&sdk.Target{NodeId: "gone", Kind: "local", Attributes: map[string]string{"inbox_dir": filepath.Join(t.TempDir(), "missing")}},
		&sdk.Target{NodeId: "remote", Kind: "ray-node", Attributes: map[string]string{"inbox_dir": t.TempDir()}},
	)
	var s sink
	summary, err := client(t, `{}`).Send(context.Background(), &sdk.SendRequest{
		TransferId: "t3", Mode: sdk.Multicast, Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: "f"},
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetSucceeded() != 1 || summary.GetFailed() != 2 {
		t.Fatalf("summary = %v", summary)
	}
	if r := s.results["gone"]; r.GetState() != sdk.TargetFailed || !strings.Contains(r.GetError(), "missing") {
		t.Errorf("gone: %v", r)
	}
	if r := s.results["remote"]; !strings.Contains(r.GetError(), "not reachable") {
		t.Errorf("remote: %v", r)
	}
}

func TestCancelRemovesPartialFiles(t *testing.T) {
	path, data, sum := source(t, 8<<20)
	targets := inboxes(t, 2)
	c := client(t, `{"buffer_size": 4096, "progress_interval_ms": 0}`)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	s := &sink{onProg: func() { once.Do(func() { _, _ = c.Cancel(context.Background(), "t4"); cancel() }) }}
	_, err := c.Send(ctx, &sdk.SendRequest{
		TransferId: "t4", Mode: sdk.Broadcast, Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: "big"},
	}, s)
	if err == nil {
		// The plugin may finish reporting before the stream is torn down;
		// then every result must say cancelled.
		for _, r := range s.results {
			if r.GetState() != sdk.TargetCancelled {
				t.Errorf("result %v, want cancelled", r)
			}
		}
	}
	// The caller returns as soon as the stream is cancelled; the plugin
	// removes its temporary files right after. Give it a moment.
	for _, tg := range targets {
		dir := tg.GetAttributes()["inbox_dir"]
		deadline := time.Now().Add(5 * time.Second)
		for len(entries(t, dir)) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if names := entries(t, dir); len(names) != 0 {
			t.Errorf("inbox holds %v after cancel", names)
		}
	}
}

func TestRejectsUnsafeNames(t *testing.T) {
	path, data, sum := source(t, 10)
	c := client(t, `{}`)
	for _, name := range []string{"", "..", "a/b", `..\x`, ".castray-x.part"} {
		_, err := c.Send(context.Background(), &sdk.SendRequest{Targets: inboxes(t, 1),
			File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: name}}, &sink{})
		if err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestConfigureValidation(t *testing.T) {
	c := plugintest.Transfer(t, delivery.New(hclog.NewNullLogger()))
	for cfg, key := range map[string]string{
		`{"buffer_size": 12}`:          "buffer_size",
		`{"progress_interval_ms": -1}`: "progress_interval_ms",
		`{"fsync": "yes"}`:             "fsync",
		`{"unknown_key": 1}`:           "unknown_key",
	} {
		problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
		if err != nil || len(problems) != 1 || problems[0].GetKey() != key {
			t.Errorf("%s: %v %v, want one problem naming %s", cfg, problems, err, key)
		}
	}
}
