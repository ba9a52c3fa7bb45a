package raycluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRayBin names the ray CLI the suite uses; the Makefile's e2e target sets it.
const EnvRayBin = "CASTRAY_RAY_BIN"

// RayBin returns the path of the ray CLI: $CASTRAY_RAY_BIN, else <repo root>/.venv-ray/bin/ray.
// If CASTRAY_RAY_BIN is set but is not an executable file the test fails. If no ray exists,
// the test fails when CI is set (CI=true: the e2e suite must never skip there) and is skipped
// with a pointer to `make ray-venv` otherwise.
func RayBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvRayBin); p != "" {
		if !isExecutable(p) {
			t.Fatalf("%s=%q is not an executable file; run `make ray-venv` or fix the variable", EnvRayBin, p)
			return ""
		}
		return p
	}
	var cand string
	root, err := repoRoot()
	if err == nil {
		cand = filepath.Join(root, ".venv-ray", "bin", "ray")
		if isExecutable(cand) {
			return cand
		}
	}
	msg := fmt.Sprintf("no ray binary: %s is unset and %s", EnvRayBin, describeMissing(cand, err))
	if InCI() {
		t.Fatalf("%s; CI is set, so the Ray e2e tests fail instead of skipping: run `make ray-venv` (or `make e2e`) before the tests", msg)
		return ""
	}
	t.Skipf("%s; run `make ray-venv` (or `make e2e`) to create it", msg)
	return ""
}

func describeMissing(cand string, rootErr error) string {
	if rootErr != nil {
		return "the repo root was not found (" + rootErr.Error() + ")"
	}
	return cand + " does not exist"
}

// InCI reports whether the tests run in CI (CI set, and not "0" or
// "false"): there a missing tool fails a test instead of skipping it.
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// repoRoot is RepoRoot; tests replace it.
var repoRoot = RepoRoot

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

var cliVersions sync.Map // ray binary path -> version string

// CLIVersion runs `<ray> --version` and returns the version it prints ("2.60.0" from
// "ray, version 2.60.0"). Tests compare live answers with it instead of hard-coding the pin a
// second time (the Makefile's RAY_VERSION is the one place it is written).
func CLIVersion(t testing.TB, rayBin string) string {
	t.Helper()
	if v, ok := cliVersions.Load(rayBin); ok {
		return v.(string)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rayBin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", rayBin, err, out)
	}
	v, err := parseCLIVersion(string(out))
	if err != nil {
		t.Fatalf("%s --version: %v", rayBin, err)
	}
	cliVersions.Store(rayBin, v)
	return v
}

func parseCLIVersion(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "ray, version "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0], nil
			}
		}
	}
	return "", fmt.Errorf("no %q line in %q", "ray, version", out)
}
