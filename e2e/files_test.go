package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castray/castray/host/api/openapitest"
	"github.com/castray/castray/sdk/partial"
)

// fileInfo is an entry of /api/files and the upload reply.
type fileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type targetRec struct {
	NodeID      string `json:"node_id"`
	State       string `json:"state"`
	BytesDone   uint64 `json:"bytes_done"`
	BytesSent   uint64 `json:"bytes_sent"`
	BytesReused uint64 `json:"bytes_reused"`
	SHA256      string `json:"sha256"`
	Location    string `json:"location"`
	Error       string `json:"error"`
}

type transferRec struct {
	ID       string      `json:"id"`
	State    string      `json:"state"`
	Error    string      `json:"error"`
	Attempts int         `json:"attempts"`
	File     fileInfo    `json:"file"`
	Targets  []targetRec `json:"targets"`
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (d *daemon) upload(name string, body []byte) fileInfo {
	d.t.Helper()
	var up struct {
		File fileInfo `json:"file"`
	}
	if code := d.do("PUT", "/api/files/"+name, body, &up); code != 201 || up.File.SHA256 != sha(body) {
		d.t.Fatalf("upload %s: %d %+v", name, code, up)
	}
	return up.File
}

func (d *daemon) startTransfer(body map[string]any) string {
	d.t.Helper()
	var r struct {
		Transfer transferRec `json:"transfer"`
		Error    string      `json:"error"`
	}
	if code := d.do("POST", "/api/transfers", body, &r); code != 202 {
		d.t.Fatalf("start transfer %v: %d %s", body, code, r.Error)
	}
	return r.Transfer.ID
}

func (d *daemon) transfer(id string) transferRec {
	d.t.Helper()
	var r struct {
		Transfer transferRec `json:"transfer"`
	}
	if code := d.do("GET", "/api/transfers/"+id, nil, &r); code != 200 {
		d.t.Fatalf("GET transfer %s: %d", id, code)
	}
	return r.Transfer
}

func (d *daemon) waitTransfer(id string, states ...string) transferRec {
	d.t.Helper()
	var rec transferRec
	eventually(d.t, 120*time.Second, "transfer "+id+" to reach "+strings.Join(states, "|"), func() bool {
		rec = d.transfer(id)
		for _, s := range states {
			if rec.State == s {
				return true
			}
		}
		return false
	})
	return rec
}

// leftovers lists CastRay's temporary files under dir (uploads in progress,
// partial deliveries).
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && (strings.HasPrefix(e.Name(), ".castray-") || strings.HasPrefix(e.Name(), ".upload-")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// rawPUT sends a PUT whose body ends early: the header block as given, then
// body, then the connection is closed. It returns the status line, if any;
// the answer is checked against the document like every other (d.api).
func rawPUT(t *testing.T, d *daemon, path, headers string, body []byte) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path, headers)
	_, _ = conn.Write(body)
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	req, _ := http.NewRequest(http.MethodPut, d.URL+path, nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("PUT %s: reading the answer: %v", path, err)
	}
	if !openapitest.IsJSON(resp.Header.Get("Content-Type")) {
		raw = nil
	}
	d.api.Observe(req, resp.StatusCode, resp.Header, raw)
	return resp.Proto + " " + resp.Status
}

// A client that dies part-way through an upload never replaces a good
// file, never leaves a part behind, and never makes a short file
// transferable.
func TestCutOffUploadsNeverReplaceAGoodFile(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	good := randomBytes(3000)
	d.upload("f.bin", good)

	cases := map[string]struct{ headers, body string }{
		"short Content-Length":   {"Content-Length: 1000\r\n", strings.Repeat("x", 400)},
		"chunked, no last chunk": {"Transfer-Encoding: chunked\r\n", "190\r\n" + strings.Repeat("y", 400) + "\r\n"},
		"cut inside a chunk":     {"Transfer-Encoding: chunked\r\n", "3e8\r\n" + strings.Repeat("z", 10)},
		"wrong digest":           {"Content-Length: 4\r\nX-Content-SHA256: " + strings.Repeat("0", 64) + "\r\n", "abcd"},
	}
	for name, c := range cases {
		status := rawPUT(t, d, "/api/files/f.bin", c.headers, []byte(c.body))
		if strings.Contains(status, " 201 ") {
			t.Errorf("%s: answered %q", name, status)
		}
	}
	var got bytes.Buffer
	resp, err := d.client.Get(d.URL + "/api/files/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(&got, resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got.Bytes(), good) || resp.Header.Get("ETag") != `"`+sha(good)+`"` {
		t.Fatalf("the good copy was replaced: %d bytes, etag %s", got.Len(), resp.Header.Get("ETag"))
	}
	eventually(t, 10*time.Second, "no upload part left", func() bool { return len(leftovers(t, d.DataDir)) == 0 })

	// A complete chunked upload with the right digest is stored.
	body := "0123456789"
	if status := rawPUT(t, d, "/api/files/g.bin", "Transfer-Encoding: chunked\r\nX-Content-SHA256: "+sha([]byte(body))+"\r\n",
		[]byte(fmt.Sprintf("a\r\n%s\r\n0\r\n\r\n", body))); !strings.Contains(status, " 201 ") {
		t.Fatalf("complete chunked upload: %q", status)
	}
}

// slowLocal is a daemon config whose local backend delivers at 8 MiB/s in
// 1 MiB chunks, so a test can act while a transfer runs.
func slowLocal(resume bool) string {
	return fmt.Sprintf(`file_transfer {
  chunk_size      = 1048576
  resume_on_start = %v
}
plugin "local" {
  config {
    max_rate = 8388608
  }
}
`, resume)
}

// journaled reads how many chunks a target's journal records (-1 when it
// cannot be read, or is for another file).
func journaled(inbox, id string, size uint64) int {
	f, err := os.Open(filepath.Join(inbox, partial.JournalName(id)))
	if err != nil {
		return -1
	}
	defer f.Close()
	hdr, chunks, err := partial.ReadJournal(f)
	if err != nil || hdr.Size != size {
		return -1
	}
	return len(chunks)
}

// kill -9 of the daemon (and with it its plugin) mid-broadcast: the restart
// sweeps what belongs to no transfer, keeps the interrupted transfer's
// partial state, and a retry re-sends only what was not journaled — and
// detects a byte corrupted in a part while the daemon was down.
func TestCrashMidBroadcastThenRetryResumesAndDetectsCorruption(t *testing.T) {
	const size, chunk = 48 << 20, 1 << 20
	dataDir := t.TempDir()
	d := startDaemon(t, daemonOpts{dataDir: dataDir, config: slowLocal(false)})
	payload := randomBytes(size)
	d.upload("big.bin", payload)
	id := d.startTransfer(map[string]any{"file_name": "big.bin", "mode": "broadcast"})
	inbox := func(n string) string { return filepath.Join(dataDir, "inbox", n) }
	eventually(t, 60*time.Second, "3 chunks journaled on every node", func() bool {
		for _, n := range []string{"node_1", "node_2", "node_3"} {
			if journaled(inbox(n), id, size) < 3 {
				return false
			}
		}
		return true
	})
	pluginPID := d.plugins()["local"].PID
	d.stop(syscall.SIGKILL)
	eventually(t, 10*time.Second, "the plugin to die with the daemon", func() bool { return !processAlive(pluginPID) })

	// What the crash left, plus strays that belong to nobody.
	journaledAt := map[string]int{}
	for _, n := range []string{"node_1", "node_2", "node_3"} {
		if journaledAt[n] = journaled(inbox(n), id, size); journaledAt[n] < 3 {
			t.Fatalf("%s: journal unreadable after the crash (%d)", n, journaledAt[n])
		}
	}
	strays := []string{filepath.Join(inbox("node_1"), ".castray-123456.part"), filepath.Join(dataDir, "uploads", ".upload-999.part"),
		filepath.Join(inbox("node_2"), partial.PartName("tr-nobody"))}
	for _, p := range strays {
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Fault injection: flip a byte inside node_2's first journaled chunk.
	part := filepath.Join(inbox("node_2"), partial.PartName(id))
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	_, _ = f.ReadAt(b, 100)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d2 := startDaemon(t, daemonOpts{dataDir: dataDir, config: slowLocal(false)})
	for _, p := range strays {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stray %s survived the start-up sweep", p)
		}
	}
	rec := d2.transfer(id)
	if rec.State != "interrupted" {
		t.Fatalf("after the crash the record is %s", rec.State)
	}
	for _, n := range []string{"node_1", "node_2", "node_3"} {
		if _, err := os.Stat(filepath.Join(inbox(n), "big.bin")); !os.IsNotExist(err) {
			t.Fatalf("%s holds big.bin under its final name before the transfer completed", n)
		}
		if _, err := os.Stat(filepath.Join(inbox(n), partial.PartName(id))); err != nil {
			t.Fatalf("the interrupted transfer's part on %s was swept: %v", n, err)
		}
	}
	if code := d2.do("POST", "/api/transfers/"+id+"/retry", nil, nil); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	rec = d2.waitTransfer(id, "completed", "partial", "failed")
	if rec.State != "completed" || rec.Attempts != 2 {
		t.Fatalf("after retry: %+v", rec)
	}
	for _, tg := range rec.Targets {
		got, err := os.ReadFile(filepath.Join(inbox(tg.NodeID), "big.bin"))
		if err != nil || sha(got) != sha(payload) || tg.SHA256 != sha(payload) {
			t.Fatalf("%s: %v, content ok %v, reported sha %s", tg.NodeID, err, sha(got) == sha(payload), tg.SHA256)
		}
		kept := uint64(journaledAt[tg.NodeID]) * chunk
		if tg.NodeID == "node_2" {
			kept -= chunk // the corrupted chunk is detected and sent again
		}
		if tg.BytesReused < kept || tg.BytesSent > size-kept || tg.BytesSent+tg.BytesReused != size {
			t.Errorf("%s: %d chunks were journaled, yet reused %d and re-sent %d bytes", tg.NodeID, journaledAt[tg.NodeID], tg.BytesReused, tg.BytesSent)
		}
	}
	if left := leftovers(t, dataDir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// With file_transfer.resume_on_start, a transfer a crash interrupted
// finishes on its own after the restart.
func TestCrashedTransferResumesOnStart(t *testing.T) {
	const size = 24 << 20
	dataDir := t.TempDir()
	d := startDaemon(t, daemonOpts{dataDir: dataDir, config: slowLocal(true)})
	payload := randomBytes(size)
	d.upload("r.bin", payload)
	id := d.startTransfer(map[string]any{"file_name": "r.bin", "mode": "unicast", "targets": []string{"node_1"}})
	part := filepath.Join(dataDir, "inbox", "node_1", partial.PartName(id))
	eventually(t, 60*time.Second, "the part to grow", func() bool {
		st, err := os.Stat(part)
		return err == nil && st.Size() >= 2<<20
	})
	d.stop(syscall.SIGKILL)
	d2 := startDaemon(t, daemonOpts{dataDir: dataDir, config: slowLocal(true)})
	rec := d2.waitTransfer(id, "completed", "failed", "partial")
	if rec.State != "completed" || rec.Targets[0].BytesReused == 0 {
		t.Fatalf("resumed on start: %+v", rec)
	}
	got, _ := os.ReadFile(filepath.Join(dataDir, "inbox", "node_1", "r.bin"))
	if sha(got) != sha(payload) {
		t.Fatal("resumed file differs")
	}
	if left := leftovers(t, dataDir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// kill -9 of the transfer plugin mid-transfer: the daemon answers
// throughout, the record says what failed, and a retry resumes.
func TestPluginKilledMidTransfer(t *testing.T) {
	const size = 24 << 20
	d := startDaemon(t, daemonOpts{config: slowLocal(false)})
	payload := randomBytes(size)
	d.upload("p.bin", payload)
	id := d.startTransfer(map[string]any{"file_name": "p.bin", "mode": "multicast", "targets": []string{"node_1", "node_3"}})
	part := filepath.Join(d.DataDir, "inbox", "node_3", partial.PartName(id))
	eventually(t, 60*time.Second, "the part to grow", func() bool {
		st, err := os.Stat(part)
		return err == nil && st.Size() >= 2<<20
	})
	old := d.plugins()["local"].PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec := d.waitTransfer(id, "failed", "partial", "completed")
	if rec.State != "failed" || rec.Targets[0].Error == "" {
		t.Fatalf("after the plugin died: %+v", rec)
	}
	eventually(t, 60*time.Second, "the plugin to be relaunched", func() bool {
		p := d.plugins()["local"]
		return p.PID != old && p.State == "healthy"
	})
	if code := d.do("POST", "/api/transfers/"+id+"/retry", nil, nil); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	rec = d.waitTransfer(id, "completed", "failed", "partial")
	if rec.State != "completed" || rec.Targets[1].BytesReused == 0 {
		t.Fatalf("after retry: %+v", rec)
	}
	if left := leftovers(t, d.DataDir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Deleting a node cancels the delivery to it; the other targets complete.
// A deleted demo node stays deleted across restarts, and its inbox can be
// purged.
func TestDeletedNodeIsCancelledStaysDeletedAndCanBePurged(t *testing.T) {
	dataDir := t.TempDir()
	d := startDaemon(t, daemonOpts{dataDir: dataDir, config: slowLocal(false)})
	ch, _, _, err := d.dialWS(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := randomBytes(32 << 20) // 4 s at max_rate: time to delete node_2 mid-way
	d.upload("n.bin", payload)
	id := d.startTransfer(map[string]any{"file_name": "n.bin", "mode": "multicast", "targets": []string{"node_1", "node_2"}})
	next(t, ch, 30*time.Second, "transfer_progress")
	var del struct {
		Cancelled []string `json:"cancelled_transfers"`
	}
	if code := d.do("DELETE", "/api/nodes/node_2", nil, &del); code != 200 || len(del.Cancelled) != 1 || del.Cancelled[0] != id {
		t.Fatalf("delete node_2: %d %+v", code, del)
	}
	removed := next(t, ch, 10*time.Second, "node_removed")
	if !bytes.Contains(removed.Data, []byte(`"state":"removed"`)) {
		t.Fatalf("node_removed = %s", removed.Data)
	}
	ev := next(t, ch, 120*time.Second, "transfer_completed", "transfer_partial", "transfer_failed", "transfer_cancelled")
	rec := d.transfer(id)
	if ev.Type != "transfer_partial" || rec.Targets[0].State != "completed" || rec.Targets[1].State != "cancelled" ||
		!strings.Contains(rec.Targets[1].Error, "deleted") {
		t.Fatalf("%s: %+v", ev.Type, rec)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "inbox", "node_2", "n.bin")); !os.IsNotExist(err) {
		t.Fatal("the deleted node got the file")
	}
	if left := leftovers(t, dataDir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}

	// node_1 received it: listed with its digest and transfer, downloadable.
	var files struct {
		Files []struct {
			Name       string `json:"name"`
			SHA256     string `json:"sha256"`
			TransferID string `json:"transfer_id"`
		} `json:"files"`
	}
	if code := d.do("GET", "/api/nodes/node_1/files", nil, &files); code != 200 || len(files.Files) != 1 ||
		files.Files[0].SHA256 != sha(payload) || files.Files[0].TransferID != id {
		t.Fatalf("node_1 files: %d %+v", code, files)
	}
	req, _ := http.NewRequest("GET", d.URL+"/api/nodes/node_1/files/n.bin", nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(part, payload[10:20]) {
		t.Fatalf("range download: %d %d bytes", resp.StatusCode, len(part))
	}

	d.stop(syscall.SIGTERM)
	d2 := startDaemon(t, daemonOpts{dataDir: dataDir})
	if code := d2.do("GET", "/api/nodes/node_2", nil, nil); code != 404 {
		t.Fatalf("deleted demo node came back: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "inbox", "node_2")); err != nil {
		t.Fatal("the default delete kept no inbox")
	}
	if code := d2.do("DELETE", "/api/nodes/node_2?purge=true", nil, nil); code != 200 {
		t.Fatalf("purge of a deleted node's inbox: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "inbox", "node_2")); !os.IsNotExist(err) {
		t.Fatal("purge kept the inbox")
	}
	if code := d2.do("DELETE", "/api/nodes/node_3?purge=true", nil, nil); code != 200 {
		t.Fatalf("delete with purge: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "inbox", "node_3")); !os.IsNotExist(err) {
		t.Fatal("purge kept the inbox")
	}
}
