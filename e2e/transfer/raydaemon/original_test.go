package raydaemon

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
)

// originalAPI drives the original CastRay's endpoints onto live Ray nodes,
// through the same transfer service as /api/transfers: a file message
// (POST /api/send) multicast to two Ray nodes and a local one, a text
// message recorded for a Ray node, POST /api/file-transfers/manual to one
// Ray node, and GET /api/file-transfers/status, which counts a transfer
// only once it completed. It returns the Ray copies to read back.
func (e *env) originalAPI(t *testing.T, d *daemon, cluster string) []readCheck {
	var reads []readCheck
	status := func() map[string]nodeStatus {
		var out map[string]nodeStatus
		if code := d.do(http.MethodGet, "/api/file-transfers/status", nil, &out); code != http.StatusOK {
			t.Fatalf("GET /api/file-transfers/status: HTTP %d", code)
		}
		return out
	}
	plain, special := vnode(cluster, e.plain), vnode(cluster, e.special)
	before := status()

	f := makePayload(t, d, "sent.bin", 3<<20+11)
	var sent struct {
		Success          bool     `json:"success"`
		RecipientsCount  int      `json:"recipients_count"`
		FailedRecipients []string `json:"failed_recipients"`
		Recipients       []string `json:"recipients"`
		TransferID       string   `json:"transfer_id"`
	}
	code := d.do(http.MethodPost, "/api/send", map[string]any{"cast_type": "multicast", "message_type": "file",
		"recipients": []string{plain, special, "node_1"}, "file_path": f.name, "sender": "node_1"}, &sent)
	if code != http.StatusAccepted || !sent.Success || sent.RecipientsCount != 3 || len(sent.FailedRecipients) != 0 || sent.TransferID == "" {
		t.Fatalf("POST /api/send (file, multicast): HTTP %d %+v", code, sent)
	}
	rec := d.wait(sent.TransferID, ended...)
	if rec.State != "completed" || rec.Backend != "mixed" {
		t.Fatalf("record of /api/send: %+v", rec)
	}
	tgs := byNode(rec)
	for n, rayNode := range map[string]string{plain: e.plain, special: e.special} {
		if tgs[n].Backend != "ray" {
			t.Errorf("%s went through %q", n, tgs[n].Backend)
		}
		reads = append(reads, readCheck{rayNode, e.checkDone(t, d, tgs[n], f, filepath.Join(folder(rayNode), f.name)), f.sha})
	}
	e.noFinal(t, f.name, e.head)

	// A text message to a Ray node is recorded for it.
	code = d.do(http.MethodPost, "/api/send", map[string]any{"cast_type": "unicast", "message_type": "text",
		"recipients": []string{plain}, "content": "hello, Ray node"}, &sent)
	if code != http.StatusOK || sent.RecipientsCount != 1 {
		t.Fatalf("POST /api/send (text, unicast): HTTP %d %+v", code, sent)
	}
	var msgs []struct { // newest first, the original's bare list
		Direction string `json:"direction"`
		Message   struct {
			Content     json.RawMessage `json:"content"`
			MessageType string          `json:"message_type"`
		} `json:"message"`
	}
	if code := d.do(http.MethodGet, "/api/nodes/"+plain+"/messages?count=5", nil, &msgs); code != http.StatusOK || len(msgs) == 0 ||
		msgs[0].Direction != "received" || string(msgs[0].Message.Content) != `"hello, Ray node"` || msgs[0].Message.MessageType != "text" {
		t.Fatalf("messages of %s: HTTP %d %+v", plain, code, msgs)
	}

	// The original's manual transfer, to one Ray node.
	g := makePayload(t, d, "manual.bin", 1<<20+3)
	var manual struct {
		Success    bool   `json:"success"`
		TransferID string `json:"transfer_id"`
		Results    []struct {
			Recipient string `json:"recipient"`
			Success   bool   `json:"success"`
		} `json:"results"`
	}
	code = d.do(http.MethodPost, "/api/file-transfers/manual", map[string]any{"sender_id": "node_1", "file_name": g.name,
		"recipients": []string{special}}, &manual)
	if code != http.StatusAccepted || !manual.Success || len(manual.Results) != 1 || manual.Results[0].Recipient != special {
		t.Fatalf("POST /api/file-transfers/manual: HTTP %d %+v", code, manual)
	}
	rec = d.wait(manual.TransferID, ended...)
	if rec.State != "completed" || rec.Backend != "ray" || len(rec.Targets) != 1 {
		t.Fatalf("record of the manual transfer: %+v", rec)
	}
	reads = append(reads, readCheck{e.special, e.checkDone(t, d, rec.Targets[0], g, filepath.Join(folder(e.special), g.name)), g.sha})

	// Status counts what completed: two more for the special worker, one
	// more for the other worker, with their bytes.
	after := status()
	for n, want := range map[string][2]int64{plain: {1, int64(f.size)}, special: {2, int64(f.size + g.size)}} {
		b, a := before[n].Stats, after[n].Stats
		if a.Successful-b.Successful != want[0] || a.Bytes-b.Bytes != want[1] || a.Failed != b.Failed || after[n].Active != 0 {
			t.Errorf("%s: status before %+v, after %+v: want %d more successful transfers of %d bytes", n, before[n], after[n], want[0], want[1])
		}
	}
	return reads
}

// nodeStatus is one node of GET /api/file-transfers/status.
type nodeStatus struct {
	Active int `json:"active_transfers"`
	Stats  struct {
		Successful int64 `json:"successful_transfers"`
		Failed     int64 `json:"failed_transfers"`
		Bytes      int64 `json:"bytes_transferred"`
	} `json:"file_transfer_stats"`
}
