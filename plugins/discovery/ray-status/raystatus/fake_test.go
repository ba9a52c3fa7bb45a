package raystatus

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// fakeRay is a shell script standing in for the ray CLI. For each run it
// looks for files named after the target in its dir ("plain" for a plain
// `ray status`, else the address with ':' replaced by '_'):
//
//	<key>.out / <key>.err   copied to stdout / stderr (testdata captures)
//	<key>.exit              the exit code (default 0)
//	<key>.sleep             seconds to sleep first, after starting a
//	                        grandchild `sleep` whose pid goes to <key>.child
//	<key>.gate              if present, wait first until <key>.go exists
//
// Every run appends "start <ns> <key> <RAY_AUTH_MODE> <RAY_AUTH_TOKEN>
// <RAY_ADDRESS>" and "end <ns> <key>" to calls.log.
const fakeRayScript = `#!/bin/sh
d="$FAKE_RAY_DIR"
if [ "$1" = "--version" ]; then
  echo "start $(date +%s%N) version" >> "$d/calls.log"
  echo "ray, version ${FAKE_RAY_VERSION:-2.60.0}"
  exit 0
fi
key=plain
if [ "$2" = "--address" ]; then key=$(echo "$3" | tr ':' '_'); fi
echo "start $(date +%s%N) $key mode=${RAY_AUTH_MODE:-} token=${RAY_AUTH_TOKEN:-} address=${RAY_ADDRESS:-}" >> "$d/calls.log"
if [ -f "$d/$key.gate" ]; then
  while [ ! -f "$d/$key.go" ]; do sleep 0.01; done
fi
if [ -f "$d/$key.sleep" ]; then
  sleep 300 &
  echo $! > "$d/$key.child"
  sleep "$(cat "$d/$key.sleep")"
fi
[ -f "$d/$key.out" ] && cat "$d/$key.out"
[ -f "$d/$key.err" ] && cat "$d/$key.err" >&2
echo "end $(date +%s%N) $key" >> "$d/calls.log"
code=0
[ -f "$d/$key.exit" ] && code=$(cat "$d/$key.exit")
exit "$code"
`

type fake struct {
	t      *testing.T
	dir    string // the script's dir (FAKE_RAY_DIR)
	bin    string
	tmpdir string // RAY_TMPDIR of the child
	env    []string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{t: t, dir: t.TempDir(), tmpdir: t.TempDir()}
	f.bin = filepath.Join(f.dir, "ray")
	if err := os.WriteFile(f.bin, []byte(fakeRayScript), 0o755); err != nil {
		t.Fatal(err)
	}
	// The developer's Ray settings must not leak into the tests.
	f.env = append(envWithout(os.Environ(), "RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_TMPDIR", "TMPDIR"),
		"FAKE_RAY_DIR="+f.dir, "RAY_TMPDIR="+f.tmpdir)
	return f
}

func key(addr string) string {
	if addr == "" {
		return "plain"
	}
	return strings.ReplaceAll(addr, ":", "_")
}

// answer makes the fake print the testdata files for addr ("" = plain).
func (f *fake) answer(addr, stdoutFile, stderrFile string, exit int) {
	f.t.Helper()
	k := key(addr)
	if stdoutFile != "" {
		f.write(k+".out", readTestdata(f.t, stdoutFile))
	}
	if stderrFile != "" {
		f.write(k+".err", readTestdata(f.t, stderrFile))
	}
	f.write(k+".exit", strconv.Itoa(exit))
}

func (f *fake) sleep(addr string, seconds float64) {
	f.write(key(addr)+".sleep", strconv.FormatFloat(seconds, 'f', -1, 64))
}

// gate makes addr's run wait, after logging its start, until release.
func (f *fake) gate(addr string) { f.write(key(addr)+".gate", "") }

// release lets addr's gated run go on.
func (f *fake) release(addr string) { f.write(key(addr)+".go", "") }

func (f *fake) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// currentCluster writes <RAY_TMPDIR>/ray/ray_current_cluster.
func (f *fake) currentCluster(addr string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Join(f.tmpdir, "ray"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.tmpdir, "ray", "ray_current_cluster"), []byte(addr), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

type call struct {
	key, mode, token, address string
	start, end                time.Time
}

// calls reads calls.log.
func (f *fake) calls() map[string]*call {
	f.t.Helper()
	out := map[string]*call{}
	fh, err := os.Open(filepath.Join(f.dir, "calls.log"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		ns, _ := strconv.ParseInt(fs[1], 10, 64)
		ts := time.Unix(0, ns)
		switch fs[0] {
		case "start":
			c := &call{key: fs[2], start: ts}
			for _, kv := range fs[3:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "mode":
					c.mode = v
				case "token":
					c.token = v
				case "address":
					c.address = v
				}
			}
			out[fs[2]] = c
		case "end":
			if c := out[fs[2]]; c != nil {
				c.end = ts
			}
		}
	}
	return out
}

// versionRuns counts the `ray --version` runs.
func (f *fake) versionRuns() int {
	b, _ := os.ReadFile(filepath.Join(f.dir, "calls.log"))
	return strings.Count(string(b), " version\n")
}

// childAlive tells whether the grandchild `sleep` of addr's run still exists.
func (f *fake) childAlive(addr string) bool {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, key(addr)+".child"))
	if err != nil {
		f.t.Fatalf("the fake never started its grandchild: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		f.t.Fatal(err)
	}
	// Signal 0 fails with ESRCH once the process is gone (a zombie still
	// answers, but the grandchild is reparented to init, which reaps it).
	// SIGKILL is sent before runCLI returns, but the process may take a
	// moment to disappear: poll, with a deadline that only guards against a
	// hang (the grandchild sleeps far longer).
	gone := func() bool {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return true
		}
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err == nil && strings.Contains(string(st), ") Z ")
	}
	return !waitFor(hangGuard, gone)
}

// hangGuard bounds waits for something that must happen; it only fails a
// test that would otherwise hang, never a slow machine.
const hangGuard = 60 * time.Second

// waitFor polls cond until it holds (true) or limit passes (false).
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// hasChild tells whether addr's run has started its grandchild (it has
// written the grandchild's pid).
func (f *fake) hasChild(addr string) bool {
	b, err := os.ReadFile(filepath.Join(f.dir, key(addr)+".child"))
	return err == nil && strings.HasSuffix(string(b), "\n")
}

// childStarted waits until addr's run has started its grandchild.
func (f *fake) childStarted(addr string) {
	f.t.Helper()
	if !waitFor(hangGuard, func() bool { return f.hasChild(addr) }) {
		f.t.Fatalf("the fake never started a grandchild for %q", addr)
	}
}

// started waits until the fake logged the start of addr's run.
func (f *fake) started(addr string) {
	f.t.Helper()
	if !waitFor(hangGuard, func() bool { return f.calls()[key(addr)] != nil }) {
		f.t.Fatalf("the fake never started a run for %q", addr)
	}
}

// manualDeadline is a context with a deadline that expires only when the
// test calls expire: its Err is then context.DeadlineExceeded, as if the
// deadline had passed. Values come from the parent; the parent's
// cancellation is ignored.
type manualDeadline struct {
	parent   context.Context
	deadline time.Time
	done     chan struct{}
	once     sync.Once
}

func newManualDeadline(parent context.Context, deadline time.Time) *manualDeadline {
	return &manualDeadline{parent: parent, deadline: deadline, done: make(chan struct{})}
}

func (m *manualDeadline) Deadline() (time.Time, bool) { return m.deadline, true }
func (m *manualDeadline) Done() <-chan struct{}       { return m.done }
func (m *manualDeadline) Value(k any) any             { return m.parent.Value(k) }
func (m *manualDeadline) Err() error {
	select {
	case <-m.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (m *manualDeadline) expire() { m.once.Do(func() { close(m.done) }) }

// budgetHook replaces d.withTimeout: the request's budget becomes a
// manualDeadline (reported on the returned channel, with the budget asked
// for) whose Deadline is deadline.
func budgetHook(d *Discoverer, deadline time.Time) <-chan budgetCall {
	ch := make(chan budgetCall, 1)
	d.withTimeout = func(parent context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
		m := newManualDeadline(parent, deadline)
		ch <- budgetCall{budget: budget, ctx: m}
		return m, m.expire
	}
	return ch
}

type budgetCall struct {
	budget time.Duration
	ctx    *manualDeadline
}

// discoverer returns a Discoverer wired to the fake: its env, no raylets in
// /proc (an empty dir), and no ray in PATH.
func (f *fake) discoverer() *Discoverer {
	d := New(hclog.NewNullLogger())
	d.environ = func() []string { return append([]string(nil), f.env...) }
	d.home = func() (string, error) { return f.t.TempDir(), nil }
	d.procRoot = f.t.TempDir()
	d.lookPath = func(string) (string, error) { return "", os.ErrNotExist }
	return d
}
