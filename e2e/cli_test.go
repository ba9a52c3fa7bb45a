//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/castray/castray/e2e/raycluster"
)

// castrayCLI runs the built castray binary against d, with no CASTRAY_
// variables of the test's environment, and returns its exit code and output.
func castrayCLI(t *testing.T, d *daemon, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runCLI(t, d, &out, &errb, args...)
	return code, out.String(), errb.String()
}

// runCLI runs the built castray binary against d with these stdout and
// stderr, and returns its exit code.
func runCLI(t *testing.T, d *daemon, stdout, stderr io.Writer, args ...string) (code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "castray"), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTRAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// host:port without a scheme, through the environment; the proxy checks
	// the answers the CLI gets against the API document.
	cmd.Env = append(cmd.Env, "CASTRAY_ADDR="+strings.TrimPrefix(d.proxyURL(), "http://"))
	if d.Token != "" {
		cmd.Env = append(cmd.Env, "CASTRAY_TOKEN="+d.Token)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("castray %v: %v", args, err)
	}
	return code
}

// castrayCLIOnTTY runs the built castray binary with its stderr on a
// pseudo-terminal (stdout stays piped) and returns its exit code, stdout
// and what it drew on the terminal.
func castrayCLIOnTTY(t *testing.T, d *daemon, args ...string) (code int, stdout, terminal string) {
	t.Helper()
	master, tty := openPTY(t)
	drawn := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the last holder of tty closes it
		drawn <- string(b)
	}()
	var out bytes.Buffer
	code = runCLI(t, d, &out, tty, args...)
	tty.Close()
	terminal = <-drawn
	master.Close()
	return code, out.String(), terminal
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx, 120 columns wide
// (a terminal of no width gets no bars). creack/pty does this and more; it
// is not a dependency of the module, and these three ioctls of
// golang.org/x/sys/unix (one already) are all the test needs.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		if raycluster.InCI() {
			t.Fatalf("no pseudo-terminal: %v", err)
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	return master, tty
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

// cliMust runs the CLI, fails the test unless it exits 0, and checks that
// nothing went to stderr (piped: no progress bars).
func cliMust(t *testing.T, d *daemon, args ...string) string {
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

// cliJSON runs the CLI with -o json and decodes what it printed.
func cliJSON(t *testing.T, d *daemon, out any, args ...string) {
	t.Helper()
	raw := cliMust(t, d, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		t.Fatalf("castray %v -o json printed %q: %v", args, raw, err)
	}
}

// sameAsAPI checks that the CLI's -o json output is the API's answer to
// GET path (their volatile parts aside: both are read at rest).
func sameAsAPI(t *testing.T, d *daemon, path string, args ...string) {
	t.Helper()
	var cli, api any
	cliJSON(t, d, &cli, args...)
	if code := d.do("GET", path, nil, &api); code != 200 {
		t.Fatalf("GET %s: %d", path, code)
	}
	if !reflect.DeepEqual(cli, api) {
		t.Errorf("castray %v -o json:\n%v\nthe API's GET %s:\n%v", args, cli, path, api)
	}
}

// The commands of the rest of the API on the built binary, without Ray:
// nodes create/delete/files/download/messages, message send, the file
// generator, files download, transfers stats and config; -o json is the
// API's document; a bad -o or enum value exits 2 and changes nothing;
// --addr works without a scheme.
func TestCLINodesMessagesGenerateDownload(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	hostport := strings.TrimPrefix(d.URL, "http://")

	// --addr host:port and :port, no scheme (the environment says so too).
	_, port, _ := strings.Cut(hostport, ":")
	for _, addr := range []string{hostport, ":" + port} {
		var st struct{ Success bool }
		cliJSON(t, d, &st, "nodes", "--addr", addr)
		if !st.Success {
			t.Errorf("--addr %s: %+v", addr, st)
		}
	}

	// A node of our own.
	var created struct {
		Success bool
		Node    struct{ ID, Kind, State string }
	}
	cliJSON(t, d, &created, "nodes", "create", "cli_n1", "--port", "9101")
	if !created.Success || created.Node.ID != "cli_n1" || created.Node.Kind != "local" || created.Node.State != "active" {
		t.Fatalf("nodes create printed %+v", created)
	}
	if code := d.do("GET", "/api/nodes/cli_n1", nil, nil); code != 200 {
		t.Fatalf("GET the created node: %d", code)
	}
	if code, _, errOut := castrayCLI(t, d, "nodes", "create", "cli_n1"); code != 1 || !strings.Contains(errOut, "409") {
		t.Errorf("creating it again: exit %d %q", code, errOut)
	}

	// The original's messages: text, then JSON; the recipient and the sender
	// list them, and the CLI prints what the API answers.
	var sent struct {
		Success         bool
		RecipientsCount int    `json:"recipients_count"`
		MessageID       string `json:"message_id"`
	}
	cliJSON(t, d, &sent, "message", "send", "hello, cli", "--to", "cli_n1", "--sender", "node_1")
	if !sent.Success || sent.RecipientsCount != 1 || sent.MessageID == "" {
		t.Fatalf("message send printed %+v", sent)
	}
	cliJSON(t, d, &sent, "message", "send", `{"k":[1,2]}`, "--type", "json", "--to", "cli_n1,node_2")
	if sent.RecipientsCount != 2 {
		t.Fatalf("json message printed %+v", sent)
	}
	var msgs []struct {
		Direction string
		From      string
		Message   struct {
			MessageType string `json:"message_type"`
			Content     json.RawMessage
		}
	}
	cliJSON(t, d, &msgs, "nodes", "messages", "cli_n1")
	if len(msgs) != 2 || msgs[0].Message.MessageType != "json" || string(msgs[1].Message.Content) != `"hello, cli"` || msgs[1].From != "node_1" {
		t.Fatalf("nodes messages printed %+v", msgs)
	}
	sameAsAPI(t, d, "/api/nodes/cli_n1/messages", "message", "list", "cli_n1")
	sameAsAPI(t, d, "/api/nodes/node_1/messages?count=1", "nodes", "messages", "node_1", "--count", "1")

	// Nothing is sent for a bad -o or an unknown enum value.
	for _, args := range [][]string{
		{"message", "send", "nope", "--to", "cli_n1", "-o", "yaml"},
		{"message", "send", "nope", "--to", "cli_n1", "--cast-type", "anycast"},
		{"message", "send", "nope", "--to", "cli_n1", "--type", "xml"},
		{"nodes", "create", "cli_bad", "-o", "text"},
		{"generate", "create", "--content", "zeros", "--name", "bad"},
		{"nodes", "--kind", "vm"},
	} {
		if code, _, errOut := castrayCLI(t, d, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q, want 2", args, code, errOut)
		}
	}
	cliJSON(t, d, &msgs, "nodes", "messages", "cli_n1")
	if len(msgs) != 2 {
		t.Errorf("a refused command sent a message: %d messages", len(msgs))
	}
	if code := d.do("GET", "/api/nodes/cli_bad", nil, nil); code != 404 {
		t.Errorf("a refused nodes create made the node: %d", code)
	}

	// The file generator, and a download of what it made.
	var gen struct {
		Success  bool
		FileInfo struct {
			FileName   string `json:"file_name"`
			ActualSize int64  `json:"actual_size"`
			SHA256     string
		} `json:"file_info"`
	}
	cliJSON(t, d, &gen, "generate", "create", "--size", "1.5KB", "--content", "pattern", "--pattern", "ab", "--name", "cli.dat")
	if !gen.Success || gen.FileInfo.FileName != "sample_cli.dat" || gen.FileInfo.ActualSize != 1536 {
		t.Fatalf("generate create printed %+v", gen)
	}
	want := bytes.Repeat([]byte("ab"), 768)
	if gen.FileInfo.SHA256 != sha(want) {
		t.Errorf("generated sha256 %s, want %s", gen.FileInfo.SHA256, sha(want))
	}
	sameAsAPI(t, d, "/api/file-generator/files", "generate", "files")
	sameAsAPI(t, d, "/api/file-generator/presets", "generate", "presets")
	sameAsAPI(t, d, "/api/file-generator/info", "generate", "info")

	dir := t.TempDir()
	var dl struct {
		Success bool
		File    struct {
			Name   string
			Size   int64
			SHA256 string
		}
		Path string
	}
	cliJSON(t, d, &dl, "files", "download", "sample_cli.dat", "--out", dir)
	got, err := os.ReadFile(filepath.Join(dir, "sample_cli.dat"))
	if err != nil || !bytes.Equal(got, want) || dl.File.SHA256 != sha(want) || dl.Path != filepath.Join(dir, "sample_cli.dat") {
		t.Fatalf("files download: %+v, %d bytes, %v", dl, len(got), err)
	}
	if code, _, errOut := castrayCLI(t, d, "files", "download", "missing.bin", "--out", dir); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("download of a missing file: exit %d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the download folder holds %v", entries)
	}

	// Generate and send, follow it, then find it in the node's files and
	// download it from the node's inbox.
	var gs struct {
		Success  bool
		Transfer transferRec
	}
	cliJSON(t, d, &gs, "generate", "send", "--size", "100B", "--to", "cli_n1", "--wait")
	if !gs.Success || gs.Transfer.State != "completed" || len(gs.Transfer.Targets) != 1 || gs.Transfer.Targets[0].NodeID != "cli_n1" {
		t.Fatalf("generate send --wait printed %+v", gs)
	}
	var nf struct {
		Files []struct{ Name, SHA256 string }
	}
	cliJSON(t, d, &nf, "nodes", "files", "cli_n1")
	if len(nf.Files) != 1 || nf.Files[0].Name != gs.Transfer.File.Name || nf.Files[0].SHA256 != gs.Transfer.Targets[0].SHA256 {
		t.Fatalf("nodes files printed %+v for %+v", nf, gs.Transfer)
	}
	out := filepath.Join(dir, "from-node")
	cliMust(t, d, "nodes", "download", "cli_n1", nf.Files[0].Name, "--out", out)
	inbox, err := os.ReadFile(filepath.Join(d.DataDir, "inbox", "cli_n1", nf.Files[0].Name))
	if got, _ := os.ReadFile(out); err != nil || len(got) != 100 || !bytes.Equal(got, inbox) {
		t.Errorf("nodes download: %d bytes, the inbox %d (%v)", len(got), len(inbox), err)
	}
	// The original's file message and manual transfer, followed to the end.
	var fm struct {
		Success  bool
		Transfer transferRec
	}
	cliJSON(t, d, &fm, "message", "send", gs.Transfer.File.Name, "--type", "file", "--to", "node_1", "--wait")
	if fm.Transfer.State != "completed" || len(fm.Transfer.Targets) != 1 || fm.Transfer.Targets[0].NodeID != "node_1" {
		t.Fatalf("message send --type file --wait printed %+v", fm)
	}
	cliJSON(t, d, &fm, "transfers", "manual", gs.Transfer.File.Name, "--sender", "node_1", "--to", "node_2,node_3", "--wait")
	if fm.Transfer.State != "completed" || len(fm.Transfer.Targets) != 2 {
		t.Fatalf("transfers manual --wait printed %+v", fm)
	}
	for _, n := range []string{"node_1", "node_2", "node_3"} {
		got, err := os.ReadFile(filepath.Join(d.DataDir, "inbox", n, gs.Transfer.File.Name))
		if err != nil || !bytes.Equal(got, inbox) {
			t.Errorf("%s's inbox: %d bytes, %v", n, len(got), err)
		}
	}
	sameAsAPI(t, d, "/api/file-transfers/status", "transfers", "stats")
	sameAsAPI(t, d, "/api/nodes/external", "nodes", "external")
	sameAsAPI(t, d, "/api/cluster/external-info", "clusters", "info")
	sameAsAPI(t, d, "/api/clusters", "clusters")
	if code, _, errOut := castrayCLI(t, d, "discover", "last"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("discover last before any round: exit %d %q", code, errOut)
	}
	sameAsAPI(t, d, "/api/config", "config")
	sameAsAPI(t, d, "/healthz", "health")

	// Deletes: a generated file, then the node and its inbox.
	cliMust(t, d, "generate", "delete", "sample_cli.dat")
	if code := d.do("GET", "/api/files/sample_cli.dat", nil, nil); code != 404 {
		t.Errorf("after generate delete: %d", code)
	}
	var del struct {
		Success     bool
		InboxPurged bool `json:"inbox_purged"`
	}
	cliJSON(t, d, &del, "nodes", "delete", "cli_n1", "--purge")
	if !del.Success || !del.InboxPurged {
		t.Fatalf("nodes delete --purge printed %+v", del)
	}
	if _, err := os.Stat(filepath.Join(d.DataDir, "inbox", "cli_n1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the purged inbox: %v", err)
	}
	if code := d.do("GET", "/api/nodes/cli_n1", nil, nil); code != 404 {
		t.Errorf("the deleted node: %d", code)
	}
}

// On a terminal the built binary draws progress bars on stderr (upload,
// send --wait per target, download); piped, it draws none (checked by
// every cliMust above); stdout is the same either way.
func TestCLIProgressOnATerminal(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	data := randomBytes(3 << 20)
	src := filepath.Join(t.TempDir(), "tty.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, term := castrayCLIOnTTY(t, d, "upload", src, "--name", "tty.bin", "-o", "json")
	if code != 0 || !strings.Contains(term, "tty.bin") || !strings.Contains(term, "3.0 MiB / 3.0 MiB") || !strings.Contains(term, "100 %") {
		t.Fatalf("upload on a terminal: exit %d, drew %q", code, term)
	}
	var up struct{ File struct{ SHA256 string } }
	if err := json.Unmarshal([]byte(out), &up); err != nil || up.File.SHA256 != sha(data) {
		t.Fatalf("upload printed %q (%v)", out, err)
	}

	code, out, term = castrayCLIOnTTY(t, d, "send", "tty.bin", "--to", "node_1,node_2", "--wait")
	if code != 0 || !strings.Contains(term, "node_1") || !strings.Contains(term, "node_2") || !strings.Contains(term, "completed") {
		t.Fatalf("send --wait on a terminal: exit %d, drew %q", code, term)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, "completed") {
		t.Errorf("send --wait's stdout on a terminal: %q", out)
	}

	dir := t.TempDir()
	code, out, term = castrayCLIOnTTY(t, d, "files", "download", "tty.bin", "--out", filepath.Join(dir, "a"))
	if code != 0 || !strings.Contains(term, "tty.bin") || !strings.Contains(term, "100 %") {
		t.Fatalf("download on a terminal: exit %d, drew %q", code, term)
	}
	piped := cliMust(t, d, "files", "download", "tty.bin", "--out", filepath.Join(dir, "b"))
	if strings.ReplaceAll(out, filepath.Join(dir, "a"), "X") != strings.ReplaceAll(piped, filepath.Join(dir, "b"), "X") {
		t.Errorf("stdout differs on a terminal:\n%q\n%q", out, piped)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || sha(got) != sha(data) {
		t.Errorf("downloaded on a terminal: %d bytes, %v", len(got), err)
	}
}

// token rotate on a daemon that keeps its own token (it listens beyond
// loopback): the CLI prints the API's answer; the old token then fails
// (exit 1, 401) and the new one works; CASTRAY_TOKEN and --token both
// carry it.
func TestCLITokenRotate(t *testing.T) {
	d := startDaemon(t, daemonOpts{host: "0.0.0.0"})
	raw, err := os.ReadFile(filepath.Join(d.DataDir, "api_token"))
	if err != nil {
		t.Fatalf("the daemon's token file: %v", err)
	}
	d.Token = strings.TrimSpace(string(raw))
	if code, _, errOut := castrayCLI(t, d, "status", "--token", ""); code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("no token: exit %d %q", code, errOut)
	}
	cliMust(t, d, "status")                // CASTRAY_TOKEN
	cliMust(t, d, "health", "--token", "") // /healthz needs none
	var rotated struct {
		Success        bool
		Token, Message string
	}
	cliJSON(t, d, &rotated, "token", "rotate")
	if !rotated.Success || rotated.Token == "" || rotated.Token == d.Token || rotated.Message == "" {
		t.Fatalf("token rotate printed %+v", rotated)
	}
	if code, _, errOut := castrayCLI(t, d, "status"); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("the old token after rotation: exit %d %q", code, errOut)
	}
	cliMust(t, d, "status", "--token", rotated.Token)
	d.Token = rotated.Token
	if code := d.do("GET", "/api/status", nil, nil); code != 200 {
		t.Errorf("the new token on the API: %d", code)
	}
}
