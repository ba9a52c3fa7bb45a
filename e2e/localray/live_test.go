package localray_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/host/localray"
	"github.com/castray/castray/sdk/ray/rayproc"
)

// lockRayTests takes raycluster's machine-wide lock (raycluster.LockPath), so that this
// binary's heads do not run alongside those of other Ray test binaries; same protocol: an
// exclusive flock held until the end, the holder written into the file for waiters.
func lockRayTests(t *testing.T) {
	f, err := os.OpenFile(raycluster.LockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	start, lastLog := time.Now(), time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			t.Fatalf("flock %s: %v", raycluster.LockPath, err)
		}
		holder, _ := os.ReadFile(raycluster.LockPath)
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("waited 15m for %s, held by: %s", raycluster.LockPath, bytes.TrimSpace(holder))
		}
		if time.Since(lastLog) > 30*time.Second {
			t.Logf("waiting for %s (another test process runs Ray: %s)", raycluster.LockPath, bytes.TrimSpace(holder))
			lastLog = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid=%d test=%s since=%s\n", os.Getpid(), t.Name(), time.Now().Format(time.RFC3339))
	}
	t.Cleanup(func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
}

// shortDir names a temp dir that does not exist yet, so that Start creates it and Stop removes
// it. The crt- prefix and the CASTRAY_RAY_* markers below let raycluster's orphan reaper clean
// up after this binary if it is killed before its cleanups run.
func shortDir(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "/tmp/crt-lr" + hex.EncodeToString(b)
}

func orphanMarkers(dir string) []string {
	return []string{"CASTRAY_RAY_CLUSTER=" + dir, "CASTRAY_RAY_OWNER=" + strconv.Itoa(os.Getpid())}
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", "castray-e2e/1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func checkVersion(t *testing.T, h *localray.Head, token string) {
	t.Helper()
	st, body := get(t, h.DashboardURL+"/api/version", token)
	var v struct {
		RayVersion  string `json:"ray_version"`
		SessionName string `json:"session_name"`
	}
	if st != 200 || json.Unmarshal(body, &v) != nil || v.SessionName == "" || v.SessionName != h.SessionName {
		t.Fatalf("%s/api/version: %d %s; want 200 with session %q", h.DashboardURL, st, body, h.SessionName)
	}
}

// tied lists, independently of localray's own ownership rules, the processes whose
// environment carries the marker for dir, whose cwd is inside dir, or whose command line
// names dir. The process table is read by rayproc, which leaves zombies out (SIGKILLed
// processes linger as zombies; they hold nothing).
func tied(dir string) []string {
	ps, _ := rayproc.Lister{Cwd: true, Env: []string{localray.EnvMarker}}.Processes(context.Background())
	var out []string
	for _, p := range ps {
		named := false
		for _, a := range p.Argv {
			named = named || strings.Contains(a, dir+"/") || strings.HasSuffix(a, dir)
		}
		if p.Env[localray.EnvMarker] == dir || p.Cwd == dir || strings.HasPrefix(p.Cwd, dir+"/") || named {
			out = append(out, fmt.Sprintf("%d %q", p.PID, strings.Join(p.Argv, " ")))
		}
	}
	return out
}

func ports(h *localray.Head) []int {
	p := h.Ports
	return []int{p.GCS, p.Dashboard, p.ClientServer, p.DashboardAgent, p.DashboardMetric, p.AutoscalerMetric}
}

func TestLiveStartStop(t *testing.T) {
	bin := raycluster.RayBin(t)
	lockRayTests(t)
	log := hclog.New(&hclog.LoggerOptions{Name: "localray", Level: hclog.Info, Output: os.Stderr})

	// Two heads at once: A with Ray's default auth, B with token auth.
	dirA, dirB := shortDir(t), shortDir(t)
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	tok := hex.EncodeToString(token)
	opts := []localray.Options{
		{RayBin: bin, TempDir: dirA, NumCPUs: 1, Log: log.Named("a"), Env: orphanMarkers(dirA)},
		{RayBin: bin, TempDir: dirB, NumCPUs: 1, Log: log.Named("b"),
			Env: append(orphanMarkers(dirB), "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+tok)},
	}
	heads := make([]*localray.Head, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			heads[i], errs[i] = localray.Start(context.Background(), opts[i])
		}()
	}
	wg.Wait()
	t.Logf("both heads up after %v", time.Since(begin).Round(time.Millisecond))
	for _, h := range heads {
		t.Cleanup(func() { _ = h.Stop(context.Background()) })
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	a, b := heads[0], heads[1]
	for _, h := range heads {
		t.Logf("head %s: startup %v, gcs %s, dashboard %s, session %s, auth %s, ray %s, ports %+v, %d processes",
			h.TempDir, h.StartupTime.Round(time.Millisecond), h.GCSAddress, h.DashboardURL, h.SessionName,
			h.AuthMode, h.RayVersion, h.Ports, len(h.Pids()))
	}

	checkVersion(t, a, "")
	if a.Token == "" {
		if a.AuthMode != "disabled" {
			t.Errorf("head A: auth mode %q without a token", a.AuthMode)
		}
	}
	checkVersion(t, b, tok)
	if b.AuthMode != "token" || b.Token != tok {
		t.Errorf("head B: auth mode %q, token known %v; want token mode with the given token", b.AuthMode, b.Token == tok)
	}
	if st, _ := get(t, b.DashboardURL+"/api/version", ""); st != 401 {
		t.Errorf("head B /api/version without token: %d, want 401", st)
	}

	seen := map[int]string{}
	for _, h := range heads {
		for _, p := range ports(h) {
			if other, dup := seen[p]; dup {
				t.Errorf("port %d used by %s and %s", p, other, h.TempDir)
			}
			seen[p] = h.TempDir
		}
	}
	// Every chosen port is really in use by its head (the metrics ports included: Ray would
	// otherwise put both heads' on 44227 and 44217). Some listeners come up after the head
	// answers (the Ray client server's, seen free once right after): each port gets until
	// the guard to be taken.
	for _, h := range heads {
		for _, p := range ports(h) {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				l, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(p))
				if err != nil {
					break
				}
				l.Close()
				if time.Now().After(deadline) {
					t.Errorf("head %s: port %d is not in use", h.TempDir, p)
					break
				}
			}
		}
	}
	if a.GCSAddress == b.GCSAddress || a.SessionName == b.SessionName {
		t.Errorf("heads share GCS %s / session %s", a.GCSAddress, a.SessionName)
	}
	if len(a.Pids()) < 10 || len(tied(dirA)) == 0 {
		t.Errorf("head A: %d processes by localray, %d by the test's own scan", len(a.Pids()), len(tied(dirA)))
	}

	// Stop A: exactly A goes, B keeps answering.
	stopBegin := time.Now()
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("head A stopped in %v", time.Since(stopBegin).Round(time.Millisecond))
	checkGone(t, a)
	checkVersion(t, b, tok)
	if n := len(b.Pids()); n < 10 {
		t.Errorf("head B has %d processes after A's Stop", n)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	stopBegin = time.Now()
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("head B stopped in %v", time.Since(stopBegin).Round(time.Millisecond))
	checkGone(t, b)
}

func checkGone(t *testing.T, h *localray.Head) {
	t.Helper()
	if left := tied(h.TempDir); len(left) > 0 {
		t.Errorf("%d processes of %s remain: %v", len(left), h.TempDir, left)
	}
	if p := h.Pids(); len(p) > 0 {
		t.Errorf("Pids after Stop: %v", p)
	}
	if _, err := os.Stat(h.TempDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there: %v", h.TempDir, err)
	}
	for _, p := range ports(h) {
		l, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d still taken: %v", p, err)
			continue
		}
		l.Close()
	}
}
