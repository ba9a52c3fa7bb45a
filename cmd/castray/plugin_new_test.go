package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newApp().newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// `castray plugin new` writes a module that builds: against this checkout
// (--sdk-path), offline, from the module cache.
func TestPluginNewBuilds(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "p")
	if out, err := runCLI(t, "plugin", "new", "my-scan", "--dir", dir, "--module", "example.com/my-scan", "--sdk-path", root); err != nil {
		t.Fatalf("plugin new: %v\n%s", err, out)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module example.com/my-scan\n", "require github.com/castray/castray v", "replace github.com/castray/castray => " + root + "\n"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !strings.Contains(string(readme), `plugin "my-scan"`) || !strings.Contains(string(readme), "go build -o castray-discovery-my-scan .") {
		t.Errorf("README.md: %v\n%s", err, readme)
	}

	bin := filepath.Join(t.TempDir(), "castray-discovery-my-scan")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the generated plugin: %v\n%s", err, out)
	}
	// Run by hand, a plugin says it is one (go-plugin's magic cookie check).
	out, _ := exec.Command(bin).CombinedOutput()
	if !strings.Contains(string(out), "plugin") {
		t.Errorf("running the plugin by hand printed %q", out)
	}
}

func TestPluginNewRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plugin", "new", "My_Scan", "--dir", t.TempDir()}, "lower case"},
		{[]string{"plugin", "new", "ok", "--dir", dir}, "not empty"},
		{[]string{"plugin", "new", "ok", "--dir", t.TempDir(), "--sdk-path", t.TempDir()}, "not a CastRay checkout"},
	} {
		if _, err := runCLI(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The generated main.go is the SDK's example plugin (the README's) below
// its header comment, so the two never drift apart.
func TestPluginTemplateIsTheExample(t *testing.T) {
	tmpl, err := templates.ReadFile("templates/discovery/main.go.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "sdk", "examples", "discovery", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	body := func(b []byte) string {
		s := string(b)
		return s[strings.Index(s, "\npackage main\n"):]
	}
	if body(tmpl) != body(example) {
		t.Errorf("templates/discovery/main.go.tmpl differs from sdk/examples/discovery/main.go below the header comment")
	}
}
