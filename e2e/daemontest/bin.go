package daemontest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/castray/castray/e2e/raycluster"
)

// EnvBinDir names a folder holding castray and plugins/castray-<kind>-<name>
// already built; when it is unset, Main builds what a package asks for.
const EnvBinDir = "CASTRAY_BIN_DIR"

var binDir string

// Castray is the daemon's package, for Main's builds.
const Castray = "./cmd/castray"

// Plugin is the place of plugin binary castray-<kind>-<name> in a bin dir
// ("plugins/castray-transfer-ray"), for Main's builds and Options.Plugins.
func Plugin(kind, name string) string {
	return filepath.Join("plugins", "castray-"+kind+"-"+name)
}

// Main is TestMain's body: with $CASTRAY_BIN_DIR set it runs the tests
// against that folder; else it builds builds (place in the bin dir, e.g.
// "castray" or Plugin("transfer", "ray") -> package relative to the module
// root, e.g. Castray or "./plugins/transfer/ray") into a temporary folder,
// runs the tests and removes the folder. It returns the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(daemontest.Main(m, builds)) }
func Main(m *testing.M, builds map[string]string) int {
	_, cleanup, err := Prepare(builds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}

// Prepare is Main without running the tests: it returns the bin dir
// ($CASTRAY_BIN_DIR, else a temporary folder with builds built) and a
// cleanup that removes a temporary one. BinDir returns the same folder.
func Prepare(builds map[string]string) (dir string, cleanup func(), err error) {
	if binDir = os.Getenv(EnvBinDir); binDir != "" {
		return binDir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "castray-e2e-bin-")
	if err != nil {
		return "", nil, err
	}
	if err := Build(tmp, builds); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("build binaries: %w", err)
	}
	binDir = tmp
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// Build runs go build for each place -> package of builds into dir, from the
// module root.
func Build(dir string, builds map[string]string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	for out, pkg := range builds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return nil
}

// AllPlugins is every in-tree plugin with a main.go (plugins/<kind>/<name>),
// as Main's builds, like `make build`.
func AllPlugins() (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	mains, err := filepath.Glob(filepath.Join(root, "plugins", "*", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range mains {
		dir := filepath.Dir(m)
		kind, name := filepath.Base(filepath.Dir(dir)), filepath.Base(dir)
		out[Plugin(kind, name)] = "./" + filepath.ToSlash(filepath.Join("plugins", kind, name))
	}
	return out, nil
}

// BinDir is the folder the binaries are in: $CASTRAY_BIN_DIR or Main's
// temporary folder.
func BinDir() string {
	if binDir == "" {
		return os.Getenv(EnvBinDir)
	}
	return binDir
}

// Bin is the path of a binary in BinDir ("castray", Plugin(...)).
func Bin(name string) string { return filepath.Join(BinDir(), name) }

// RepoRoot is the module root: the nearest folder above the working
// directory (a test's package folder) holding go.mod.
func RepoRoot() (string, error) { return raycluster.RepoRoot() }
