package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// castrayCLI runs the built castray binary against d, with no CASTRAY_
// variables of the test's environment, and returns its exit code and output.
func castrayCLI(t *testing.T, d *daemon, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "castray"), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTRAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// host:port without a scheme, through the environment.
	cmd.Env = append(cmd.Env, "CASTRAY_ADDR="+strings.TrimPrefix(d.URL, "http://"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("castray %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// The CLI end to end on the built binary: upload, broadcast and wait, show
// the transfer, delete the file. Output is piped, so no progress bars.
func TestCLIUploadBroadcastShowDelete(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	data := randomBytes(1 << 20)
	src := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(args ...string) string {
		t.Helper()
		code, out, errOut := castrayCLI(t, d, args...)
		if code != 0 {
			t.Fatalf("castray %v: exit %d\n%s%s", args, code, out, errOut)
		}
		if errOut != "" {
			t.Errorf("castray %v wrote to stderr (piped: no progress bars expected): %q", args, errOut)
		}
		return out
	}

	var up struct {
		File struct {
			Name, SHA256 string
			Size         int64
		}
	}
	if err := json.Unmarshal([]byte(must("upload", src, "--name", "cli.bin", "-o", "json")), &up); err != nil {
		t.Fatal(err)
	}
	if up.File.Name != "cli.bin" || up.File.Size != int64(len(data)) || up.File.SHA256 != sha(data) {
		t.Fatalf("upload answered %+v", up.File)
	}

	var sent struct {
		Success  bool
		Transfer transferRec
	}
	if err := json.Unmarshal([]byte(must("send", "cli.bin", "--mode", "broadcast", "--wait", "-o", "json")), &sent); err != nil {
		t.Fatal(err)
	}
	if !sent.Success || sent.Transfer.State != "completed" || len(sent.Transfer.Targets) == 0 {
		t.Fatalf("send --wait printed %+v", sent)
	}

	out := must("transfers", "show", sent.Transfer.ID, "-o", "json")
	var shown struct {
		Success  bool
		Transfer transferRec
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatal(err)
	}
	var api struct {
		Success  bool
		Transfer transferRec
	}
	if code := d.do("GET", "/api/transfers/"+sent.Transfer.ID, nil, &api); code != 200 {
		t.Fatalf("GET transfer: %d", code)
	}
	if shown.Transfer.ID != api.Transfer.ID || shown.Transfer.State != "completed" || len(shown.Transfer.Targets) != len(api.Transfer.Targets) {
		t.Fatalf("transfers show printed %+v, the API says %+v", shown, api)
	}
	for _, tg := range shown.Transfer.Targets {
		if tg.State != "completed" || tg.SHA256 != sha(data) {
			t.Errorf("target %+v", tg)
		}
		got, err := os.ReadFile(filepath.Join(d.DataDir, "inbox", tg.NodeID, "cli.bin"))
		if err != nil || sha(got) != sha(data) {
			t.Errorf("%s's inbox: %v", tg.NodeID, err)
		}
	}

	must("files", "delete", "cli.bin", "-o", "json")
	var files struct{ Count int }
	if err := json.Unmarshal([]byte(must("files", "-o", "json")), &files); err != nil || files.Count != 0 {
		t.Fatalf("files after delete: %+v %v", files, err)
	}

	// Failures: the API refuses (1), the command line is wrong (2).
	if code, _, errOut := castrayCLI(t, d, "send", "cli.bin", "--wait"); code != 1 || !strings.Contains(errOut, "cli.bin") {
		t.Errorf("send of a deleted file: exit %d, %q", code, errOut)
	}
	if code, _, errOut := castrayCLI(t, d, "files", "-o", "yaml"); code != 2 || !strings.Contains(errOut, "--output") {
		t.Errorf("-o yaml: exit %d, %q", code, errOut)
	}
}
