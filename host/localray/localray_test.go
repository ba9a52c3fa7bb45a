package localray

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNoRay(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	h, err := Start(context.Background(), Options{})
	if !errors.Is(err, ErrNoRay) || h != nil {
		t.Fatalf("Start without ray on PATH: %v, %v; want ErrNoRay", h, err)
	}
	_, err = Start(context.Background(), Options{RayBin: filepath.Join(t.TempDir(), "ray")})
	if !errors.Is(err, ErrNoRay) {
		t.Fatalf("Start with a missing RayBin: %v; want ErrNoRay", err)
	}
}

// A ray that fails: Start returns its output, and leaves no temp dir and no process behind.
func TestRayStartFails(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ray")
	script := "#!/bin/sh\necho \"fake ray: args $*\"\necho \"fake ray: marker=$CASTRAY_LOCALRAY\" >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	before, _ := filepath.Glob("/tmp/castray-ray-*")
	h, err := Start(context.Background(), Options{RayBin: bin, NumCPUs: 3, Timeout: 10 * time.Second})
	if err == nil || h != nil {
		t.Fatalf("Start with a failing ray: %v, %v; want an error", h, err)
	}
	msg := err.Error()
	for _, want := range []string{"exit status 1", "fake ray: args start --head", "--num-cpus=3",
		"--dashboard-host=127.0.0.1", "--disable-usage-stats", "fake ray: marker=/tmp/castray-ray-"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	after, _ := filepath.Glob("/tmp/castray-ray-*")
	if len(after) > len(before) {
		t.Errorf("temp dir left behind: before %v, after %v", before, after)
	}
}

// A ray start that "succeeds" but leaves a daemon that never serves: Start times out, stops the
// daemon (found by its working directory) and removes the caller-named temp dir it created.
func TestReadinessTimeoutStopsWhatItStarted(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Fatal("this test needs sleep(1):", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ray")
	script := "#!/bin/sh\n(exec sleep 300) >/dev/null 2>&1 &\necho started a sleeper\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("/tmp", "crl-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(tmp)
	defer os.RemoveAll(tmp)
	begin := time.Now()
	_, err = Start(context.Background(), Options{RayBin: bin, TempDir: tmp, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not come up") || !strings.Contains(err.Error(), "started a sleeper") {
		t.Fatalf("Start: %v; want a readiness error with the output", err)
	}
	if d := time.Since(begin); d > 8*time.Second {
		t.Errorf("Start took %v", d)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s not removed: %v", tmp, err)
	}
	if ps := (owner{tempDir: tmp}).procs(); len(ps) > 0 {
		t.Errorf("processes left: %v", ps)
	}
}

func TestStopNeverStarted(t *testing.T) {
	var nilHead *Head
	if err := nilHead.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &Head{}
	for i := 0; i < 2; i++ {
		if err := h.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if p := h.Pids(); len(p) != 0 {
		t.Fatal(p)
	}
}

func TestTempDirTooLong(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ray")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	long := "/tmp/" + strings.Repeat("x", MaxTempDirLen)
	_, err := Start(context.Background(), Options{RayBin: bin, TempDir: long})
	if err == nil || !strings.Contains(err.Error(), "107") {
		t.Fatalf("Start with a long temp dir: %v", err)
	}
	if _, err := os.Stat(long); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created", long)
	}
}

func TestMentions(t *testing.T) {
	for s, want := range map[string]bool{
		"/tmp/castray-ray-1":               true,
		"--temp-dir=/tmp/castray-ray-1":    true,
		"/tmp/castray-ray-1/session_x/log": true,
		"/tmp/castray-ray-12":              false,
		"/tmp/castray-ray-1x/foo":          false,
	} {
		if got := mentions(s, "/tmp/castray-ray-1"); got != want {
			t.Errorf("mentions(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestResolveToken(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte(" home-tok \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pathTok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(pathTok, []byte("path-tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"HOME=" + home, "RAY_AUTH_TOKEN=env-tok"}, "env-tok"},
		{[]string{"HOME=" + home, "RAY_AUTH_TOKEN_PATH=" + pathTok}, "path-tok"},
		{[]string{"HOME=" + home, "RAY_AUTH_TOKEN="}, "home-tok"},
	} {
		if got, err := resolveToken(c.env); err != nil || got != c.want {
			t.Errorf("%v: %q, %v; want %q", c.env, got, err, c.want)
		}
	}
	for _, env := range [][]string{
		{"HOME=" + t.TempDir()},
		{"HOME=" + home, "RAY_AUTH_TOKEN_PATH=" + filepath.Join(home, "missing")},
	} {
		if got, err := resolveToken(env); err == nil || !strings.Contains(err.Error(), "token is unknown") {
			t.Errorf("%v: %q, %v; want an error", env, got, err)
		}
	}
}
