package sessions

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray/rayproc"
)

// Real captures in testdata/ (see each folder's README.md).
const (
	liveDir      = "testdata/live-2.60.0-port0"
	liveSession  = "session_2026-11-25_20-26-17_136359_24861"
	liveTempDir  = "/tmp/crt-3750609512" // the temp dir the live capture ran in
	liveGCS      = "192.0.2.2:40743"
	liveDash     = "http://127.0.0.1:33781"
	liveClient   = "ray://192.0.2.2:43921"
	liveCluster  = "3497e3e13ae74c21f8569b1f6433a125b4fb32fc7c303d535f667e97"
	liveHeadNode = "b11a4cc239148644a6176523d700bbd6e2f6bbf453e3c44448e2f324"

	explicitDir     = "testdata/live-2.60.0-explicit"
	explicitSession = "session_2026-11-25_20-23-23_346120_17941"
	explicitGCS     = "192.0.2.2:40519"
	explicitCluster = "887797199c7c87863ae07c3570d1b9db01ce4b3c5ce0d5a35fab928f"

	winDir     = "testdata/windows-2.48-minimal-stale"
	winSession = "session_2025-08-28_14-59-46_392482_100648"
	winGCS     = "127.0.0.1:65416"
	winCluster = "c6839e569845fe702bb48f36576b14a8e9e3bb3d9f5fc0600ff8b2a0"
)

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTree copies the regular files of src into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// liveProcesses returns the command lines captured from the live 2.60 head, with its temp
// dir replaced by root, as a fake process table would show them.
func liveProcesses(t testing.TB, root string) []rayproc.Process {
	t.Helper()
	f, err := os.Open(filepath.Join(liveDir, "processes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rayproc.Process
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for pid := 24875; sc.Scan(); pid++ {
		var p struct {
			Argv []string `json:"argv"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		for i, a := range p.Argv {
			p.Argv[i] = strings.ReplaceAll(a, liveTempDir, root)
		}
		out = append(out, rayproc.Process{PID: pid, Argv: p.Argv})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fakeProcs is a ProcessLister with a fixed table.
type fakeProcs struct {
	procs []rayproc.Process
	err   error
	block bool // wait for ctx
}

func (f *fakeProcs) Processes(ctx context.Context) ([]rayproc.Process, error) {
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.procs, f.err
}

// fakePorts answers TCP checks from a table: addresses listed in open accept, everything
// else is refused. Calls are recorded.
type fakePorts struct {
	mu    sync.Mutex
	open  map[string]bool
	calls []string
	block bool
}

func (f *fakePorts) Check(ctx context.Context, addr string) error {
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	open, block := f.open[addr], f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if open {
		return nil
	}
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func (f *fakePorts) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// denyFS makes some paths unreadable (the tests run as root, where chmod 000 stops nothing).
type denyFS struct {
	osFS
	deny map[string]bool
}

func (d denyFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if d.deny[filepath.Clean(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.osFS.ReadDir(name)
}

// localAddrs pretends this machine has 127.0.0.1 and the capture's 192.0.2.2.
func localAddrs() ([]net.Addr, error) {
	return []net.Addr{
		&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
		&net.IPNet{IP: net.ParseIP("192.0.2.2"), Mask: net.CIDRMask(24, 32)},
	}, nil
}

// testOptions are Options that see nothing of the real machine: no process, every port
// refused, no environment, home and working dir in empty temp dirs.
func testOptions(t testing.TB, procs ProcessLister, ports PortChecker) Options {
	home, cwd := t.TempDir(), t.TempDir()
	return Options{
		Processes:      procs,
		Ports:          ports,
		Getenv:         func(string) string { return "" },
		HomeDir:        func() (string, error) { return home, nil },
		WorkDir:        func() (string, error) { return cwd, nil },
		InterfaceAddrs: localAddrs,
	}
}

// collectSink gathers what a Discover call streams (the daemon side of plugintest).
type collectSink struct{ plugintest.Sink }

func (s *collectSink) bySession(name string) *sdk.ClusterCandidate {
	for _, c := range s.Candidates() {
		if c.GetSessionName() == name {
			return c
		}
	}
	return nil
}

func (s *collectSink) notesAbout(sub string) []string {
	var out []string
	for _, n := range s.Notes() {
		if strings.Contains(n.GetMessage(), sub) || strings.Contains(n.GetTarget(), sub) {
			out = append(out, n.GetLevel()+": "+n.GetTarget()+": "+n.GetMessage())
		}
	}
	return out
}

// serve configures a Discoverer and returns its daemon-side stub over real gRPC.
func serve(t *testing.T, opts Options, cfg map[string]any) sdk.Discoverer {
	t.Helper()
	impl := NewWithOptions(hclog.NewNullLogger(), opts)
	client := plugintest.Discovery(t, impl)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := client.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: raw, ApiVersion: sdk.APIVersion})
	if err != nil || problems != nil {
		t.Fatalf("Configure(%s): %v %v", raw, sdk.ConfigErrorsString(problems), err)
	}
	return client
}

func discover(t *testing.T, d sdk.Discoverer, req *sdk.DiscoverRequest) (*collectSink, *sdk.DiscoverSummary) {
	t.Helper()
	if req == nil {
		req = &sdk.DiscoverRequest{TimeoutMs: 10000, ProbeTimeoutMs: 500}
	}
	sink := &collectSink{}
	sum, err := d.Discover(context.Background(), req, sink)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return sink, sum
}

func hasEvidence(c *sdk.ClusterCandidate, sub string) bool {
	for _, e := range c.GetEvidence() {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

var errBoom = errors.New("boom")
