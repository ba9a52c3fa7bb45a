package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// templates are the files `castray plugin new` writes, per plugin kind.
// templates/discovery/main.go.tmpl is sdk/examples/discovery/main.go below
// its header comment; a test keeps the two equal.
//
//go:embed templates
var templates embed.FS

const sdkModule = "github.com/castray/castray"

var pluginNameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Tools for plugin authors",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPluginNewCmd())
	return cmd
}

// pluginParams fill the templates.
type pluginParams struct {
	Name       string // the plugin's name: castray-discovery-<Name>
	Module     string // the new module's path
	SDKPath    string // a CastRay checkout to replace the SDK module with; "" for none
	SDKVersion string // the required version of the SDK module
	GoVersion  string // the go directive
}

func newPluginNewCmd() *cobra.Command {
	var dir, module, sdkPath string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write a new discovery plugin module (main.go, go.mod, README.md)",
		Long: `Writes a Go module for a discovery plugin named NAME (lower case letters, digits
and dashes) into --dir (default ./castray-discovery-NAME, which must not exist or be empty):
main.go, the SDK's example plugin (it probes hosts for a Ray dashboard); go.mod, requiring
github.com/castray/castray, replaced by --sdk-path when given (a CastRay checkout; its go.sum
is copied too, so the module builds offline); and README.md (build, install, configure, test).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := pluginParams{Name: args[0], Module: module, GoVersion: goDirective(), SDKVersion: sdkVersion()}
			if !pluginNameRE.MatchString(p.Name) {
				return fmt.Errorf("plugin name %q: use lower case letters, digits and single dashes (e.g. my-scan)", p.Name)
			}
			if dir == "" {
				dir = "castray-discovery-" + p.Name
			}
			if p.Module == "" {
				p.Module = "castray-discovery-" + p.Name
			}
			if sdkPath != "" {
				abs, err := filepath.Abs(sdkPath)
				if err != nil {
					return err
				}
				if _, err := os.Stat(filepath.Join(abs, "sdk", "sdk.go")); err != nil {
					return fmt.Errorf("--sdk-path %s: not a CastRay checkout (no sdk/sdk.go)", sdkPath)
				}
				p.SDKPath = abs
			}
			if err := writePlugin(dir, "discovery", p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (module %s)\nnext: cd %s && go mod tidy && go build -o castray-discovery-%s .\n",
				dir, p.Module, dir, p.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write (default ./castray-discovery-NAME)")
	cmd.Flags().StringVar(&module, "module", "", "module path of the new plugin (default castray-discovery-NAME)")
	cmd.Flags().StringVar(&sdkPath, "sdk-path", "", "a CastRay checkout to build against (adds a replace directive)")
	return cmd
}

// writePlugin renders the kind's templates into dir.
func writePlugin(dir, kind string, p pluginParams) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := "templates/" + kind
	entries, err := fs.ReadDir(templates, root)
	if err != nil {
		return fmt.Errorf("no templates for %s plugins", kind)
	}
	for _, e := range entries {
		src, err := templates.ReadFile(root + "/" + e.Name())
		if err != nil {
			return err
		}
		tmpl, err := template.New(e.Name()).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("template %s: %w", e.Name(), err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, p); err != nil {
			return fmt.Errorf("template %s: %w", e.Name(), err)
		}
		name := strings.TrimSuffix(e.Name(), ".tmpl")
		if err := os.WriteFile(filepath.Join(dir, name), out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if p.SDKPath != "" {
		// The SDK's go.sum vouches for its dependencies: with it the new
		// module builds without fetching checksums.
		if sum, err := os.ReadFile(filepath.Join(p.SDKPath, "go.sum")); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// goDirective is the go version of the new module: the toolchain this
// castray was built with, which the SDK's own go.mod cannot exceed.
func goDirective() string {
	return strings.TrimPrefix(runtime.Version(), "go")
}

// sdkVersion is the SDK version to require: this binary's module version
// when it was built from a released module, else v0.0.0 (then --sdk-path,
// or a `go get github.com/castray/castray@<version>`, says which).
func sdkVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == sdkModule && strings.HasPrefix(bi.Main.Version, "v") {
		return bi.Main.Version
	}
	return "v0.0.0"
}
