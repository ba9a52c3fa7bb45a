//go:build capture

package tmpdir_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/castray/castray/e2e/raycluster"
)

// captureDir is where TestCaptureSessionTestdata writes, relative to this package.
const captureDir = "../../../plugins/discovery/tmpdir/sessions/testdata/live-2.60.0-port0"

// TestCaptureSessionTestdata refreshes the tmpdir plugin's testdata from a real head started
// with --port=0: the small files of its temp dir (ray_current_cluster, the session's port
// files, the heads of the logs the plugin reads) and the command lines of its processes. It
// is built only with the capture tag, so it is never part of a normal run:
//
//	go test -tags capture -count=1 -run TestCaptureSessionTestdata ./e2e/plugins/tmpdir/
//
// The cluster runs without token auth, and the private HOME (home/) is never copied.
func TestCaptureSessionTestdata(t *testing.T) {
	root, err := os.MkdirTemp("/tmp", "crt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	c := raycluster.Start(t, raycluster.Options{GCSPort: -1, TempDir: root, AuthMode: "disabled"})

	out, err := filepath.Abs(captureDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	// Keep the session's own name: the plugin parses it.
	sessOut := filepath.Join(out, c.SessionName)
	if err := os.MkdirAll(sessOut, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rcc, err := os.ReadFile(filepath.Join(root, "ray_current_cluster"))
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(out, "ray_current_cluster"), rcc)

	// Logs the plugin reads, cut to their heads (they grow without bound in a long session).
	keepLogs := map[string]bool{"gcs_server.out": true, "gcs_server.err": true, "raylet.out": true,
		"dashboard.log": true, "ray_client_server.out": true, "ray_client_server.err": true,
		"monitor.log": true, "log_monitor.log": true}
	var listing []string
	err = filepath.WalkDir(c.SessionDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.SessionDir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		listing = append(listing, rel+"\t"+info.Mode().String())
		if !info.Mode().IsRegular() {
			return nil
		}
		dir, name := filepath.Dir(rel), filepath.Base(rel)
		switch {
		case dir == "." && info.Size() < 4096:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			write(filepath.Join(sessOut, rel), b)
		case dir == "logs" && keepLogs[name]:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if len(b) > 48<<10 {
				b = b[:48<<10]
				if i := bytes.LastIndexByte(b, '\n'); i > 0 {
					b = b[:i+1]
				}
			}
			write(filepath.Join(sessOut, rel), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(listing)
	write(filepath.Join(out, "session_listing.txt"), []byte(strings.Join(listing, "\n")+"\n"))

	// The command lines of the cluster's processes, one JSON array per line, for the
	// process-matching tests.
	var procs bytes.Buffer
	for _, p := range c.Processes() {
		b, _ := json.Marshal(struct {
			Comm string   `json:"comm"`
			Argv []string `json:"argv"`
		}{p.Comm, p.Cmdline})
		procs.Write(b)
		procs.WriteByte('\n')
	}
	write(filepath.Join(out, "processes.jsonl"), procs.Bytes())

	readme := "Captured by TestCaptureSessionTestdata (e2e/plugins/tmpdir) from a real Ray " + c.RayVersion +
		" head started with --port=0 --temp-dir=" + root + ".\nGCS " + c.GCSAddress + " (port picked by Ray), dashboard " +
		c.DashboardURL + ", session " + c.SessionName + ".\nOnly small files and log heads (48 KiB) are kept; session_listing.txt lists the whole tree.\n" +
		"session_latest is a symlink that the tests recreate.\n"
	write(filepath.Join(out, "README.md"), []byte(readme))
	t.Logf("captured %s", out)
}
