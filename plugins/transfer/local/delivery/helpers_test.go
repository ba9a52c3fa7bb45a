package delivery_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
	"github.com/castray/castray/sdk/plugintest"
)

// sink records what a Send reports; it is safe for concurrent use.
type sink struct {
	mu       sync.Mutex
	progress []*sdk.TargetProgress
	results  map[string]*sdk.TargetResult
	onProg   func(*sdk.TargetProgress)
	onResult func(*sdk.TargetResult)
}

func (s *sink) Progress(p *sdk.TargetProgress) error {
	s.mu.Lock()
	s.progress = append(s.progress, p)
	f := s.onProg
	s.mu.Unlock()
	if f != nil {
		f(p)
	}
	return nil
}

func (s *sink) Result(r *sdk.TargetResult) error {
	s.mu.Lock()
	if s.results == nil {
		s.results = map[string]*sdk.TargetResult{}
	}
	if _, dup := s.results[r.GetNodeId()]; dup {
		s.mu.Unlock()
		return fmt.Errorf("second result for %s", r.GetNodeId())
	}
	s.results[r.GetNodeId()] = r
	f := s.onResult
	s.mu.Unlock()
	if f != nil {
		f(r)
	}
	return nil
}

func (s *sink) result(node string) *sdk.TargetResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results[node]
}

func (s *sink) progressOf(node string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for _, p := range s.progress {
		if p.GetNodeId() == node {
			out = append(out, p.GetBytesDone())
		}
	}
	return out
}

// source writes size random bytes and returns the path, the bytes and
// their SHA-256.
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

// fileSpec describes a source the way the daemon does: SHA-256 and the
// CRC32C of every chunk.
func fileSpec(path string, data []byte, sum string, chunk int, name string) *sdk.FileSpec {
	spec := &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: name, ChunkSize: uint32(chunk)}
	for off := 0; off < len(data); off += chunk {
		spec.ChunkCrc32C = append(spec.ChunkCrc32C, partial.CRC32C(data[off:min(off+chunk, len(data))]))
	}
	return spec
}

func inboxes(t *testing.T, n int) []*sdk.Target {
	t.Helper()
	root := t.TempDir()
	var out []*sdk.Target
	for i := 1; i <= n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("node_%d", i))
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		out = append(out, &sdk.Target{NodeId: filepath.Base(dir), Kind: "local", Attributes: map[string]string{"inbox_dir": dir}})
	}
	return out
}

func inbox(tg *sdk.Target) string { return tg.GetAttributes()["inbox_dir"] }

// entries lists an inbox.
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

// partials lists the CastRay partial state in an inbox.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range entries(t, dir) {
		if strings.HasPrefix(n, partial.Prefix) {
			out = append(out, n)
		}
	}
	return out
}

func newBackend(t testing.TB, cfg string) *delivery.Backend {
	t.Helper()
	b := delivery.New(hclog.NewNullLogger())
	problems, err := b.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
	if err != nil || len(problems) > 0 {
		t.Fatalf("Configure(%s) = %v, %v", cfg, problems, err)
	}
	return b
}

// overGRPC serves b over the real gRPC path and returns the daemon's stub.
func overGRPC(t *testing.T, b *delivery.Backend) sdk.Transferer {
	t.Helper()
	return plugintest.Transfer(t, b)
}

func client(t *testing.T, cfg string) sdk.Transferer {
	t.Helper()
	c := plugintest.Transfer(t, delivery.New(hclog.NewNullLogger()))
	problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
	if err != nil || len(problems) > 0 {
		t.Fatalf("Configure(%s) = %v, %v", cfg, problems, err)
	}
	return c
}

// checkDelivered checks one target holds exactly the file, readable by
// all, and no partial state.
func checkDelivered(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if string(got) != string(data) {
		t.Fatalf("%s: content differs", p)
	}
	st, err := os.Lstat(p)
	if err != nil || st.Mode() != 0o644 {
		t.Errorf("%s: mode %v (err %v), want -rw-r--r--", p, st.Mode(), err)
	}
	if left := partials(t, dir); len(left) > 0 {
		t.Errorf("%s holds partial state %v", dir, left)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	c := &fakeClock{now: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.cond.Broadcast()
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// WaitForTimer blocks until some goroutine waits on the clock.
func (c *fakeClock) WaitForTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiters) == 0 {
		c.cond.Wait()
	}
}
