package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The commands added for the rest of the API print, with -o json, the
// API's document whole and unchanged (a bare array or a keyless object
// where the API answers one).
func TestMoreJSONOutputIsTheAPIDocument(t *testing.T) {
	f := newFakeAPI(t)
	for _, c := range []struct {
		name string
		args []string
		doc  string
	}{
		{"nodes-create", []string{"nodes", "create", "node_9", "--port", "9009"}, createNodeDoc},
		{"nodes-delete", []string{"nodes", "delete", "node_9"}, deleteNodeDoc},
		{"nodes-files", []string{"nodes", "files", "node_1"}, nodeFilesDoc},
		{"nodes-messages", []string{"nodes", "messages", "node_1"}, messagesDoc},
		{"message-list", []string{"message", "list", "node_1"}, messagesDoc},
		{"nodes-external", []string{"nodes", "external"}, externalNodesDoc},
		{"select", []string{"select", "--kind", "local", "--pick", "1"}, selectDoc},
		{"nodes-select", []string{"nodes", "select", "--kind", "local", "--pick", "1"}, selectDoc},
		{"message-send", []string{"message", "send", "hello", "--to", "node_1"}, castDoc},
		{"transfers-manual", []string{"transfers", "manual", "r.txt", "--sender", "node_1", "--to", "node_2"}, manualDoc},
		{"transfers-stats", []string{"transfers", "stats"}, transferStatusDoc},
		{"generate-presets", []string{"generate", "presets"}, presetsDoc},
		{"generate-info", []string{"generate", "info"}, genInfoDoc},
		{"generate-create", []string{"generate", "create", "--size", "1.5KB", "--content", "pattern", "--pattern", "ab", "--name", "p.dat"}, genCreateDoc},
		{"generate-preset", []string{"generate", "preset", "tiny"}, genCreateDoc},
		{"generate-send", []string{"generate", "send", "--size", "10B", "--to", "node_1"}, genSendDoc},
		{"generate-files", []string{"generate", "files"}, genFilesDoc},
		{"generate-delete", []string{"generate", "delete", "sample_p.dat"}, genDeleteDoc},
		{"clusters-info", []string{"clusters", "info"}, externalInfoDoc},
		{"discover-last", []string{"discover", "last"}, discoverDoc},
		{"config", []string{"config"}, configDoc},
		{"token-rotate", []string{"token", "rotate"}, tokenDoc},
		{"health", []string{"health"}, healthDoc},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustRun(t, f, append(c.args, "-o", "json")...)
			sameJSON(t, c.name, r.stdout, c.doc)
			golden(t, c.name, r.stdout)
			// The table form is not JSON and names something of the answer.
			tab := mustRun(t, f, c.args...)
			if json.Valid([]byte(tab.stdout)) || strings.TrimSpace(tab.stdout) == "" {
				t.Errorf("table form:\n%s", tab.stdout)
			}
		})
	}
}

// What each new command sends: its method, path, query and body.
func TestMoreRequests(t *testing.T) {
	f := newFakeAPI(t)
	f.files["r.txt"] = []byte("hello, nodes\n")
	for _, c := range []struct {
		args []string
		req  string // the last request
		body string // its JSON body, when one is expected
	}{
		{[]string{"message", "send", "hello", "--to", "node_1"}, "POST /api/send", `{"cast_type":"unicast","message_type":"text","content":"hello","recipients":["node_1"]}`},
		{[]string{"message", "send", `{"k":[1,2]}`, "--type", "json", "--to", "node_1,node_2", "--sender", "node_3", "--id", "m1"}, "POST /api/send",
			`{"id":"m1","cast_type":"multicast","message_type":"json","content":{"k":[1,2]},"sender":"node_3","recipients":["node_1","node_2"]}`},
		{[]string{"message", "send", "hi", "--group", "workers"}, "POST /api/send", `{"cast_type":"multicast","message_type":"text","content":"hi","group_id":"workers"}`},
		{[]string{"message", "send", "hi"}, "POST /api/send", `{"cast_type":"broadcast","message_type":"text","content":"hi"}`},
		{[]string{"message", "send", "r.txt", "--type", "file", "--to", "node_1"}, "POST /api/send", `{"cast_type":"unicast","message_type":"file","recipients":["node_1"],"file_path":"r.txt"}`},
		{[]string{"generate", "create", "--size", "1.5MB", "--content", "pattern", "--pattern", "ab", "--name", "p.dat"}, "POST /api/file-generator/create",
			`{"size":"1.5MB","content_type":"pattern","pattern":"ab","file_name":"p.dat"}`},
		{[]string{"generate", "create"}, "POST /api/file-generator/create", `{}`},
		{[]string{"generate", "preset", "tiny", "--content", "random"}, "POST /api/file-generator/create-preset", `{"preset":"tiny","content_type":"random"}`},
		{[]string{"generate", "send", "--size", "10B", "--to", "node_1", "--sender", "node_2"}, "POST /api/file-generator/create-and-transfer",
			`{"size":"10B","sender_id":"node_2","cast_type":"unicast","recipients":["node_1"]}`},
		{[]string{"generate", "send", "--group", "workers"}, "POST /api/file-generator/create-and-transfer", `{"cast_type":"multicast","group_id":"workers"}`},
		{[]string{"generate", "delete", "sample_p.dat"}, "DELETE /api/file-generator/files/sample_p.dat", ""},
		{[]string{"nodes", "create", "node_9", "--port", "9009"}, "POST /api/nodes", `{"node_id":"node_9","port":9009}`},
		{[]string{"nodes", "delete", "node_9", "--purge"}, "DELETE /api/nodes/node_9?purge=true", ""},
		{[]string{"nodes", "messages", "node_1", "--count", "5"}, "GET /api/nodes/node_1/messages?count=5", ""},
		{[]string{"nodes", "--kind", "ray-node", "--state", "dead"}, "GET /api/nodes?kind=ray-node&state=dead", ""},
		{[]string{"nodes", "external", "--cluster", "c-1"}, "GET /api/nodes/external?cluster=c-1", ""},
		{[]string{"select", "--selector", `{"kind":"local"}`, "--pick", "1", "--pick-rule", "most-available"}, "POST /api/nodes/select",
			`{"selector":{"kind":"local"},"pick":{"count":1,"rule":"most-available"}}`},
		{[]string{"transfers", "manual", "r.txt", "--sender", "node_1", "--to", "node_2,node_1"}, "POST /api/file-transfers/manual",
			`{"sender_id":"node_1","file_name":"r.txt","recipients":["node_2","node_1"]}`},
		{[]string{"transfers", "stats"}, "GET /api/file-transfers/status", ""},
		{[]string{"clusters", "info"}, "GET /api/cluster/external-info", ""},
		{[]string{"discover", "last"}, "GET /api/cluster/discovery", ""},
		{[]string{"discover", "last", "--include-stale"}, "GET /api/cluster/discovery?include_stale=true", ""},
		{[]string{"config"}, "GET /api/config", ""},
		{[]string{"token", "rotate"}, "POST /api/token/rotate", ""},
	} {
		r := run(t, f, c.args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d %s", c.args, r.code, r.stderr)
			continue
		}
		log := f.requestLog()
		if got := log[len(log)-1]; got != c.req {
			t.Errorf("%v: last request %q, want %q", c.args, got, c.req)
		}
		if c.body == "" {
			continue
		}
		key, _, _ := strings.Cut(c.req, "?")
		var want any
		_ = json.Unmarshal([]byte(c.body), &want)
		if got := any(f.body(key)); !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("%v: sent %s, want %s", c.args, g, c.body)
		}
	}
}

// Unknown enum values and other mistakes in the new commands exit 2 before
// any request, naming the flag.
func TestMoreUsageErrorsExit2WithoutRequest(t *testing.T) {
	f := newFakeAPI(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nodes", "--kind", "vm"}, `--kind "vm": use local, ray-node or ray-actor`},
		{[]string{"nodes", "list", "--state", "gone"}, `--state "gone"`},
		{[]string{"select", "--kind", "vm"}, `--kind "vm"`},
		{[]string{"nodes", "select", "--selector", `{"state":"zombie"}`}, `--selector state "zombie"`},
		{[]string{"select", "--kind", "local", "--pick", "1", "--pick-rule", "random"}, `--pick-rule "random"`},
		{[]string{"send", "f", "--kind", "vm"}, `--kind "vm"`},
		{[]string{"send", "f", "--kind", "local", "--pick", "1", "--pick-rule", "random"}, `--pick-rule "random"`},
		{[]string{"distributions", "create", "f", "--state", "alive"}, `--state "alive"`},
		{[]string{"groups", "create", "g", "--kind", "vm"}, `--kind "vm"`},
		{[]string{"transfers", "--state", "done"}, `--state "done": use pending, running`},
		{[]string{"transfers", "--limit", "-1"}, "--limit"},
		{[]string{"message", "send", "x", "--cast-type", "anycast"}, `--cast-type "anycast"`},
		{[]string{"message", "send", "x", "--type", "xml"}, `--type "xml": use text, json or file`},
		{[]string{"message", "send", "x", "--cast-type", "unicast"}, "exactly one --to"},
		{[]string{"message", "send", "x", "--cast-type", "unicast", "--to", "a,b"}, "exactly one --to"},
		{[]string{"message", "send", "x", "--cast-type", "multicast"}, "--to ids or a --group"},
		{[]string{"message", "send", "x", "--cast-type", "broadcast", "--to", "a"}, "leave out --to"},
		{[]string{"message", "send", "x", "--to", "a", "--group", "g"}, "not both"},
		{[]string{"message", "send", "{bad", "--type", "json"}, "not a JSON value"},
		{[]string{"message", "send", "x", "--wait"}, "--type file"},
		{[]string{"message", "send"}, "accepts 1 arg"},
		{[]string{"generate", "create", "--content", "zeros"}, `--content "zeros": use text, random or pattern`},
		{[]string{"generate", "create", "--size", "12XB"}, `--size: size "12XB"`},
		{[]string{"generate", "create", "--size", "0B"}, "at least 1 byte"},
		{[]string{"generate", "create", "--size", "-1KB"}, `size "-1KB"`},
		{[]string{"generate", "create", "--pattern", "ab"}, "--content pattern"},
		{[]string{"generate", "preset", "giant"}, `preset "giant": use tiny, small`},
		{[]string{"generate", "send", "--cast-type", "unicast"}, "exactly one --to"},
		{[]string{"generate", "send", "--content", "zeros"}, `--content "zeros"`},
		{[]string{"generate", "delete", "sample_a", "plain.txt"}, "not a generated file"},
		{[]string{"nodes", "create", "n", "--port", "70000"}, "--port 70000"},
		{[]string{"nodes", "messages", "n", "--count", "-1"}, "--count -1"},
		{[]string{"files", "download", "x", "--out", "-", "-o", "json"}, "cannot be combined"},
		{[]string{"transfers", "manual", "f", "--to", "a"}, "--sender"},
		{[]string{"transfers", "manual", "f", "--sender", "a"}, "--to"},
		{[]string{"discover", "--port", "70000"}, "--port 70000"},
		{[]string{"discover", "--port", "0"}, "--port 0"},
		{[]string{"discover", "--host", "999.1.1.1"}, `--host "999.1.1.1"`},
		{[]string{"discover", "--host", "10.0.0.0/33"}, `--host "10.0.0.0/33"`},
		{[]string{"generate", "files", "-o", "yaml"}, "--output"},
		{[]string{"message", "send", "x", "-o", "yaml"}, "--output"},
		{[]string{"files", "download", "x", "-o", "wide"}, "--output"},
		{[]string{"config", "-o", "toml"}, "--output"},
		{[]string{"token", "rotate", "-o", "yaml"}, "--output"},
		{[]string{"events", "--type", "transfer_progress,transfer_done"}, `--type "transfer_done"`},
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

// files download writes the file (checked against the ETag) under its name
// only once complete, refuses to replace a file without --force, and
// writes to stdout with --out -; nodes download does the same from an inbox.
func TestDownload(t *testing.T) {
	f := newFakeAPI(t)
	data := bytes.Repeat([]byte("castray "), 40000) // 320000 bytes
	f.files["r.bin"] = data
	dir := t.TempDir()

	r := mustRun(t, f, "files", "download", "r.bin", "--out", dir, "-o", "json")
	got, err := os.ReadFile(filepath.Join(dir, "r.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	golden(t, "files-download", strings.ReplaceAll(r.stdout, dir, "DIR"))
	var doc struct {
		Success bool
		File    struct {
			Name   string
			Size   int64
			SHA256 string
		}
		Path string
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.Success || doc.File.Size != int64(len(data)) || doc.Path != filepath.Join(dir, "r.bin") {
		t.Errorf("-o json: %s (%v)", r.stdout, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left in the folder: %v", entries)
	}
	if st, err := os.Stat(filepath.Join(dir, "r.bin")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("the downloaded file's mode: %v %v", st.Mode(), err)
	}

	if r := run(t, f, "files", "download", "r.bin", "--out", dir); r.code != exitFailure || !strings.Contains(r.stderr, "exists (--force replaces it)") {
		t.Errorf("over an existing file: exit %d %q", r.code, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "r.bin"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, f, "files", "download", "r.bin", "--out", filepath.Join(dir, "r.bin"), "--force")
	if got, _ := os.ReadFile(filepath.Join(dir, "r.bin")); !bytes.Equal(got, data) {
		t.Errorf("--force: %d bytes", len(got))
	}

	if r := mustRun(t, f, "files", "download", "r.bin", "--out", "-"); r.stdout != string(data) {
		t.Errorf("--out -: %d bytes on stdout", len(r.stdout))
	}

	r = run(t, f, "files", "download", "nope", "--out", dir)
	if r.code != exitFailure || !strings.Contains(r.stderr, "404") {
		t.Errorf("missing file: exit %d %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a failed download left %v", entries)
	}

	out := filepath.Join(dir, "from-node.bin")
	mustRun(t, f, "nodes", "download", "node_1", "r.bin", "--out", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Errorf("nodes download: %d bytes", len(got))
	}
	if log := f.requestLog(); !slices.Contains(log, "GET /api/nodes/node_1/files/r.bin") {
		t.Errorf("requests: %v", log)
	}
}

// A download draws a bar on a terminal and nothing when piped; generate
// send --wait draws one bar per target.
func TestMoreProgressOnlyOnATerminal(t *testing.T) {
	f := newFakeAPI(t)
	f.files["r.bin"] = bytes.Repeat([]byte("x"), 300<<10)
	dir := t.TempDir()
	tty := runApp(t, f, true, nil, "files", "download", "r.bin", "--out", filepath.Join(dir, "a"))
	if tty.code != 0 || !strings.Contains(tty.stderr, "r.bin") || !strings.Contains(tty.stderr, "100 %") || !strings.Contains(tty.stderr, "300.0 KiB") {
		t.Errorf("download on a TTY: exit %d, stderr %q", tty.code, tty.stderr)
	}
	piped := runApp(t, f, false, nil, "files", "download", "r.bin", "--out", filepath.Join(dir, "b"))
	if piped.code != 0 || piped.stderr != "" {
		t.Errorf("download piped: exit %d, stderr %q", piped.code, piped.stderr)
	}
	if strings.ReplaceAll(tty.stdout, "/a", "/b") != piped.stdout {
		t.Errorf("stdout differs with a TTY:\n%s\n%s", tty.stdout, piped.stdout)
	}

	tty = runApp(t, f, true, nil, "generate", "send", "--to", "node_1", "--wait")
	if tty.code != 0 || !strings.Contains(tty.stderr, "node_1") || !strings.Contains(tty.stderr, "completed") {
		t.Errorf("generate send --wait on a TTY: exit %d, stderr %q", tty.code, tty.stderr)
	}
	if !strings.Contains(tty.stdout, "completed") {
		t.Errorf("generate send --wait prints the final record:\n%s", tty.stdout)
	}
	delete(f.transfers, "tr-20260102-030405-gen0000000000001")
	piped = runApp(t, f, false, nil, "generate", "send", "--to", "node_1", "--wait", "-o", "json")
	if piped.code != 0 || piped.stderr != "" || !strings.Contains(piped.stdout, `"state": "completed"`) {
		t.Errorf("generate send --wait piped: exit %d, stderr %q\n%s", piped.code, piped.stderr, piped.stdout)
	}
}

// Completion offers the enum values of the flags and arguments.
func TestCompletionOffersEnumValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "nodes", "--kind", ""}, []string{"local", "ray-node", "ray-actor"}},
		{[]string{"__complete", "transfers", "--state", ""}, []string{"partial", "interrupted"}},
		{[]string{"__complete", "message", "send", "x", "--cast-type", ""}, []string{"unicast", "broadcast"}},
		{[]string{"__complete", "message", "send", "x", "--type", ""}, []string{"text", "json", "file"}},
		{[]string{"__complete", "generate", "preset", ""}, []string{"tiny", "massive"}},
		{[]string{"__complete", "generate", "create", "--content", ""}, []string{"random", "pattern"}},
		{[]string{"__complete", "files", "-o", ""}, []string{"table", "json"}},
		{[]string{"__complete", ""}, []string{"message", "generate", "select", "nodes", "completion"}},
	} {
		r := run(t, nil, c.args...)
		lines := strings.Split(r.stdout, "\n")
		for _, w := range c.want {
			found := false
			for _, l := range lines {
				if l == w || strings.HasPrefix(l, w+"\t") {
					found = true
				}
			}
			if !found {
				t.Errorf("%v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
	}
}

// The original's file message and manual transfer follow their transfer
// with --wait: the final record is printed, exit 1 unless every target
// completed.
func TestFileMessageAndManualWait(t *testing.T) {
	f := newFakeAPI(t)
	f.files["m.bin"] = []byte("0123456789")
	r := mustRun(t, f, "message", "send", "m.bin", "--type", "file", "--to", "node_1,node_2", "--wait", "-o", "json")
	var got struct {
		Success  bool
		Transfer struct {
			ID, State, Mode string
			Targets         []struct {
				NodeID string `json:"node_id"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Transfer.State != "completed" || got.Transfer.Mode != "multicast" || len(got.Transfer.Targets) != 2 {
		t.Fatalf("message send --type file --wait printed %s (%v)", r.stdout, err)
	}
	if b := f.body("POST /api/send"); b["file_path"] != "m.bin" || b["content"] != nil {
		t.Errorf("sent %v", b)
	}
	f.fail["node_2"] = "disk full"
	if r := run(t, f, "message", "send", "m.bin", "--type", "file", "--to", "node_1,node_2", "--wait"); r.code != exitFailure || !strings.Contains(r.stderr, "node_2 failed (disk full)") {
		t.Errorf("a failed target: exit %d %q", r.code, r.stderr)
	}
	delete(f.fail, "node_2")
	r = mustRun(t, f, "transfers", "manual", "r.txt", "--sender", "node_1", "--to", "node_2", "--wait")
	if !strings.Contains(r.stdout, "transfer tr-1: completed") {
		t.Errorf("transfers manual --wait:\n%s", r.stdout)
	}
}
