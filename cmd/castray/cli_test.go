package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the output")

type result struct {
	code           int
	stdout, stderr string
}

// runApp runs the command tree against f (its URL is $CASTRAY_ADDR) with
// env as the environment and tty as the answer of the TTY check.
func runApp(t *testing.T, f *fakeAPI, tty bool, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{
		stdout: &out, stderr: &errb,
		getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			if k == "CASTRAY_ADDR" && f != nil {
				return f.srv.URL
			}
			return ""
		},
		isTTY: func(io.Writer) bool { return tty },
		poll:  time.Millisecond,
	}
	code := a.run(context.Background(), args)
	return result{code, out.String(), errb.String()}
}

func run(t *testing.T, f *fakeAPI, args ...string) result {
	t.Helper()
	return runApp(t, f, false, nil, args...)
}

func mustRun(t *testing.T, f *fakeAPI, args ...string) result {
	t.Helper()
	r := run(t, f, args...)
	if r.code != exitOK {
		t.Fatalf("castray %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from %s\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: output is not one JSON document: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: printed JSON is not the API's answer\ngot:  %s\nwant: %s", what, got, want)
	}
}

// -o json prints the API's document, whole and unchanged: the plugins
// object (not a bare array), disconnect's JSON, and so on.
func TestJSONOutputIsTheAPIDocument(t *testing.T) {
	f := newFakeAPI(t)
	for _, c := range []struct {
		name string
		args []string
		doc  string
	}{
		{"plugins", []string{"plugins"}, pluginsDoc},
		{"status", []string{"status"}, statusDoc},
		{"nodes", []string{"nodes"}, nodesDoc},
		{"groups", []string{"groups"}, groupsDoc},
		{"groups-create", []string{"groups", "create", "workers", "--members", "node_1,node_2"}, groupDoc},
		{"distributions", []string{"distributions", "list"}, distributionsDoc},
		{"clusters", []string{"clusters"}, clustersDoc},
		{"disconnect", []string{"disconnect", "c-0123456789ab"}, disconnectDoc},
		{"discover", []string{"discover"}, discoverDoc},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustRun(t, f, append(c.args, "-o", "json")...)
			sameJSON(t, c.name, r.stdout, c.doc)
			golden(t, c.name, r.stdout)
		})
	}
}

// upload, files, send --wait, transfers show and files delete in JSON.
func TestFileAndTransferJSONGolden(t *testing.T) {
	f := newFakeAPI(t)
	file := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(file, []byte("hello, nodes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	golden(t, "upload", mustRun(t, f, "upload", file, "--name", "r.txt", "-o", "json").stdout)
	if got := string(f.files["r.txt"]); got != "hello, nodes\n" {
		t.Fatalf("uploaded %q", got)
	}
	golden(t, "files", mustRun(t, f, "files", "-o", "json").stdout)
	r := mustRun(t, f, "send", "r.txt", "--wait", "-o", "json")
	golden(t, "send-wait", r.stdout)
	var sent struct {
		Transfer struct{ ID, State string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &sent); err != nil || sent.Transfer.State != "completed" {
		t.Fatalf("send --wait printed %s (%v)", r.stdout, err)
	}
	golden(t, "transfers-show", mustRun(t, f, "transfers", "show", sent.Transfer.ID, "-o", "json").stdout)
	golden(t, "files-delete", mustRun(t, f, "files", "delete", "r.txt", "-o", "json").stdout)
	if len(f.files) != 0 {
		t.Errorf("files left: %v", f.files)
	}
	// The table forms print something useful, not JSON.
	if r := mustRun(t, f, "transfers", "show", sent.Transfer.ID); !strings.Contains(r.stdout, "node_2") || !strings.Contains(r.stdout, "completed") {
		t.Errorf("transfers show table:\n%s", r.stdout)
	}
}

// A bad -o is a usage error (exit 2) caught before any request.
func TestOutputValidatedBeforeAnyRequest(t *testing.T) {
	f := newFakeAPI(t)
	for _, args := range [][]string{
		{"plugins", "-o", "yaml"},
		{"status", "-o", "JSON"},
		{"files", "delete", "x", "-o", "xml"},
		{"disconnect", "-o", "text"},
		{"send", "f", "--to", "node_1", "--wait", "-o", "yaml"},
		{"events", "-o", "csv"},
		{"transfers", "cancel", "tr-1", "--output=wide"},
	} {
		r := run(t, f, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--output") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming --output", args, r.code, r.stderr)
		}
	}
	if reqs := f.requestLog(); len(reqs) != 0 {
		t.Errorf("requests made: %v", reqs)
	}
}

// Every mistake on the command line exits 2 and sends nothing.
func TestUsageErrorsExit2WithoutRequest(t *testing.T) {
	f := newFakeAPI(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, "unknown command"},
		{[]string{"plugins", "--nope"}, "unknown flag"},
		{[]string{"send"}, "accepts 1 arg"},
		{[]string{"send", "f", "--selector", "{nope"}, "--selector"},
		{[]string{"send", "f", "--selector", `{"colour":"red"}`}, "colour"},
		{[]string{"send", "f", "--selector", `{"kind":"local"}`, "--kind", "local"}, "not both"},
		{[]string{"send", "f", "--to", "a", "--group", "g"}, "at most one"},
		{[]string{"send", "f", "--pick", "2"}, "--pick needs"},
		{[]string{"send", "f", "--kind", "local", "--pick", "0"}, "--pick 0"},
		{[]string{"send", "f", "--mode", "anycast"}, "--mode"},
		{[]string{"send", "f", "--label", "novalue"}, "key=value"},
		{[]string{"send", "f", "--resource", "GPU=lots"}, "GPU=lots"},
		{[]string{"distributions", "create", "f"}, "selector is required"},
		{[]string{"plugins", "--addr", "ftp://host:1"}, "--addr"},
		{[]string{"transfers", "show"}, "accepts 1 arg"},
		{[]string{"discover", "--timeout", "10m"}, "--timeout"},
	} {
		r := run(t, f, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if reqs := f.requestLog(); len(reqs) != 0 {
		t.Errorf("requests made: %v", reqs)
	}
}

// The API's error body becomes the message, exit 1.
func TestAPIErrorExit1(t *testing.T) {
	f := newFakeAPI(t)
	r := run(t, f, "files", "delete", "nope")
	if r.code != exitFailure || !strings.Contains(r.stderr, `404`) || !strings.Contains(r.stderr, `file "nope" not found`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, nil, "plugins", "--addr", "127.0.0.1:1")
	if r.code != exitFailure || !strings.Contains(r.stderr, "is the daemon running") {
		t.Errorf("no daemon: exit %d, stderr %q", r.code, r.stderr)
	}
}

// --addr takes host:port and :port without a scheme; the token comes from
// --token or $CASTRAY_TOKEN.
func TestAddrAndToken(t *testing.T) {
	f := newFakeAPI(t)
	hostport := strings.TrimPrefix(f.srv.URL, "http://")
	_, port, _ := strings.Cut(hostport, ":")
	for _, addr := range []string{hostport, ":" + port, f.srv.URL + "/"} {
		if r := run(t, nil, "plugins", "--addr", addr); r.code != 0 || !strings.Contains(r.stdout, "portscan") {
			t.Errorf("--addr %s: exit %d %s", addr, r.code, r.stderr)
		}
	}
	if r := runApp(t, nil, false, map[string]string{"CASTRAY_ADDR": hostport}, "plugins"); r.code != 0 {
		t.Errorf("CASTRAY_ADDR=%s: exit %d %s", hostport, r.code, r.stderr)
	}
	f.token = "s3cret"
	if r := run(t, f, "status"); r.code != exitFailure || !strings.Contains(r.stderr, "401") {
		t.Errorf("no token: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, f, "status", "--token", "s3cret"); r.code != 0 {
		t.Errorf("--token: exit %d %s", r.code, r.stderr)
	}
	if r := runApp(t, f, false, map[string]string{"CASTRAY_TOKEN": "s3cret"}, "status"); r.code != 0 {
		t.Errorf("CASTRAY_TOKEN: exit %d %s", r.code, r.stderr)
	}
}

// send builds the request the flags describe.
func TestSendRequest(t *testing.T) {
	f := newFakeAPI(t)
	f.files["m.bin"] = []byte("0123456789")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `{"file_name":"m.bin","mode":"broadcast"}`},
		{[]string{"--to", "node_1"}, `{"file_name":"m.bin","mode":"unicast","targets":["node_1"]}`},
		{[]string{"--to", "node_1,node_2"}, `{"file_name":"m.bin","mode":"multicast","targets":["node_1","node_2"]}`},
		{[]string{"--group", "workers"}, `{"file_name":"m.bin","mode":"multicast","group":"workers"}`},
		{[]string{"--selector", `{"kind":"ray-node","resources":{"GPU":1}}`, "--pick", "1"},
			`{"file_name":"m.bin","mode":"unicast","selector":{"kind":"ray-node","resources":{"GPU":1}},"pick":{"count":1}}`},
		{[]string{"--kind", "ray-node", "--label", "zone=a", "--resource", "GPU=1", "--available", "CPU=2", "--pick", "2", "--pick-rule", "most-available"},
			`{"file_name":"m.bin","mode":"multicast","selector":{"kind":"ray-node","labels":{"zone":"a"},"resources":{"GPU":1},"available":{"CPU":2}},"pick":{"count":2,"rule":"most-available"}}`},
		{[]string{"--mode", "broadcast", "--kind", "local", "--backend", "local"}, `{"file_name":"m.bin","mode":"broadcast","selector":{"kind":"local"},"backend":"local"}`},
	} {
		r := run(t, f, append([]string{"send", "m.bin"}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "started") {
			t.Errorf("%v: exit %d %s %s", c.args, r.code, r.stdout, r.stderr)
		}
		got, _ := json.Marshal(f.body("POST /api/transfers"))
		var want any
		_ = json.Unmarshal([]byte(c.want), &want)
		if w, _ := json.Marshal(want); string(got) != string(w) {
			t.Errorf("%v: sent %s, want %s", c.args, got, w)
		}
	}
}

// send --wait exits 1 when a target fails, naming it; 0 when all completed.
func TestSendWaitExitCode(t *testing.T) {
	f := newFakeAPI(t)
	f.files["m.bin"] = []byte("0123456789")
	if r := run(t, f, "send", "m.bin", "--wait"); r.code != 0 || !strings.Contains(r.stdout, "completed") {
		t.Errorf("all complete: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f.fail["node_2"] = "disk full"
	r := run(t, f, "send", "m.bin", "--wait", "-o", "json")
	if r.code != exitFailure || !strings.Contains(r.stderr, "node_2 failed (disk full)") || !strings.Contains(r.stderr, "partial") {
		t.Errorf("one failed: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"state": "partial"`) {
		t.Errorf("the final record is printed all the same:\n%s", r.stdout)
	}
	var id struct{ Transfer struct{ ID string } }
	_ = json.Unmarshal([]byte(r.stdout), &id)
	if r := run(t, f, "transfers", "show", id.Transfer.ID, "--follow"); r.code != exitFailure {
		t.Errorf("show --follow of a partial transfer: exit %d", r.code)
	}
	if r := run(t, f, "transfers", "show", id.Transfer.ID); r.code != 0 {
		t.Errorf("show (no follow) of a partial transfer: exit %d", r.code)
	}
}

// Progress bars go to stderr on a terminal only.
func TestProgressOnlyOnATerminal(t *testing.T) {
	f := newFakeAPI(t)
	file := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), 300<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	tty := runApp(t, f, true, nil, "upload", file)
	if tty.code != 0 || !strings.Contains(tty.stderr, "big.bin") || !strings.Contains(tty.stderr, "100 %") || !strings.Contains(tty.stderr, "300.0 KiB") {
		t.Errorf("upload on a TTY: exit %d, stderr %q", tty.code, tty.stderr)
	}
	piped := runApp(t, f, false, nil, "upload", file)
	if piped.code != 0 || piped.stderr != "" {
		t.Errorf("upload piped: exit %d, stderr %q", piped.code, piped.stderr)
	}
	if tty.stdout != piped.stdout {
		t.Errorf("stdout differs with a TTY:\n%s\n%s", tty.stdout, piped.stdout)
	}

	tty = runApp(t, f, true, nil, "send", "big.bin", "--wait")
	for _, want := range []string{"node_1", "node_2", "100 %", "completed"} {
		if !strings.Contains(tty.stderr, want) {
			t.Errorf("send --wait on a TTY: no %q in stderr %q", want, tty.stderr)
		}
	}
	piped = runApp(t, f, false, nil, "send", "big.bin", "--wait")
	if piped.code != 0 || piped.stderr != "" {
		t.Errorf("send --wait piped: exit %d, stderr %q", piped.code, piped.stderr)
	}

	// A target with every byte done but not yet verified stays "running";
	// its bar stays up and its last frame says "completed".
	f.lag = 3
	tty = runApp(t, f, true, nil, "send", "big.bin", "--wait")
	for _, node := range []string{"node_1", "node_2"} {
		last := tty.stderr[strings.LastIndex(tty.stderr, node):]
		if line, _, _ := strings.Cut(last, "\n"); !strings.Contains(line, "100 %") || !strings.HasSuffix(strings.TrimSpace(line), "completed") {
			t.Errorf("%s's last frame: %q (all: %q)", node, line, tty.stderr)
		}
	}
}

// discover only discovers unless --connect.
func TestDiscoverConnectsOnlyWhenAsked(t *testing.T) {
	f := newFakeAPI(t)
	mustRun(t, f, "discover", "--host", "10.0.0.1", "--port", "8265")
	if b := f.body("POST /api/cluster/discover-external"); b["connect"] != false || !reflect.DeepEqual(b["ports"], []any{8265.0}) {
		t.Errorf("discover sent %v", b)
	}
	if b := f.body("POST /api/cluster/discover-external"); b["include_stale"] != nil {
		t.Errorf("discover asked for stale sessions: %v", b)
	}
	mustRun(t, f, "discover", "--connect", "--include-stale")
	if b := f.body("POST /api/cluster/discover-external"); b["connect"] != true || b["include_stale"] != true {
		t.Errorf("discover --connect --include-stale sent %v", b)
	}
}

// events prints one JSON object per line, filtered by --type, and ends
// cleanly when the daemon closes the stream.
func TestEventsOneJSONPerLine(t *testing.T) {
	f := newFakeAPI(t)
	f.events = []string{
		`{"type":"snapshot","ts":"2026-01-02T03:04:05Z","data":{"status":{},"plugins":[]}}`,
		"{\n  \"type\": \"transfer_progress\",\n  \"ts\": \"2026-01-02T03:04:05Z\",\n  \"data\": {\"transfer_id\": \"tr-1\", \"node_id\": \"node_1\", \"bytes_done\": 5, \"bytes_total\": 10}\n}",
	}
	r := mustRun(t, f, "events")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines {
		var e struct{ Type string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Type == "" {
			t.Errorf("line %d %q: %v", i, l, err)
		}
	}
	r = mustRun(t, f, "events", "--type", "transfer_progress")
	if strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, `"bytes_done":5`) {
		t.Errorf("--type transfer_progress:\n%s", r.stdout)
	}
}

// Shell completion comes from cobra.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := run(t, nil, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "castray") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, r.code, len(r.stdout))
		}
	}
}
