package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK is what third parties build against: it must never pull in the
// daemon, its configuration or first-party plugins.
func TestSDKDoesNotImportDaemonPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/castray/castray/"
	var checked int
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		checked++
		rel := strings.TrimPrefix(pkg, module)
		for _, banned := range []string{"host", "config", "plugins"} {
			if rel == banned || strings.HasPrefix(rel, banned+"/") {
				t.Errorf("sdk depends on %s", pkg)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list found no sdk packages; the test ran in the wrong directory")
	}
}

// A plugin may import only the SDK: what the host and a plugin both need
// lives in sdk/, never in host/ or config/.
func TestPluginsDoNotImportTheDaemon(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../plugins/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/castray/castray/"
	var plugins int
	for _, pkg := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		if strings.HasPrefix(rel, "plugins/") {
			plugins++
		}
		for _, banned := range []string{"host", "config"} {
			if rel == banned || strings.HasPrefix(rel, banned+"/") {
				t.Errorf("a plugin depends on %s", pkg)
			}
		}
	}
	if plugins == 0 {
		t.Fatal("go list found no plugin packages; the test ran in the wrong directory")
	}
}
