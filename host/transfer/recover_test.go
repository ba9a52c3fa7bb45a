package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// A kill -9 of the daemon after the local backend renamed a verified copy
// into place but before the daemon recorded the result left the record
// saying interrupted while the node held the file (found by `make soak`:
// two targets of one transfer in 20 kills). Recover now marks such a
// target completed when the copy under the final name has the transfer's
// size and SHA-256, and only then.
func TestRecoverFindsCopiesRenamedInPlaceBeforeTheCrash(t *testing.T) {
	e := setup(t, &backend{})
	sum := sha256.Sum256([]byte("hello"))
	file := File{Name: "f.txt", Size: 5, SHA256: hex.EncodeToString(sum[:])}
	write := func(node, content string) {
		dir := filepath.Join(e.inbox, node)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id string) {
		rec := Record{ID: id, State: StateRunning, Mode: "broadcast", Backend: "local", File: file, Attempts: 1,
			Targets: []TargetRecord{{NodeID: "a", State: StateRunning}, {NodeID: "b", State: StateRunning}}}
		if err := e.st.Put(Bucket, id, rec); err != nil {
			t.Fatal(err)
		}
	}

	// a holds the copy; b holds a file of the same size and other bytes.
	write("a", "hello")
	write("b", "hellx")
	put("tr-1")
	s := e.restart(t)
	r, err := s.Get("tr-1")
	if err != nil || r.State != StateInterrupted {
		t.Fatalf("recovered = %+v, %v", r, err)
	}
	if a := r.Targets[0]; a.State != StateCompleted || a.SHA256 != file.SHA256 || a.BytesDone != 5 || a.Location != filepath.Join(e.inbox, "a", "f.txt") {
		t.Fatalf("target a = %+v", a)
	}
	if b := r.Targets[1]; b.State != StateInterrupted {
		t.Fatalf("target b = %+v", b)
	}
	got, err := s.ReceivedBy("a")
	if err != nil || len(got) != 1 || got[0].TransferID != "tr-1" || got[0].SHA256 != file.SHA256 {
		t.Fatalf("received by a = %+v, %v", got, err)
	}
	if got, _ := s.ReceivedBy("b"); len(got) != 0 {
		t.Fatalf("received by b = %+v", got)
	}

	// Both copies in place: the transfer completed before the crash.
	write("b", "hello")
	put("tr-2")
	s = e.restart(t)
	if r, err := s.Get("tr-2"); err != nil || r.State != StateCompleted || r.Error != "" ||
		r.Targets[0].State != StateCompleted || r.Targets[1].State != StateCompleted {
		t.Fatalf("recovered = %+v, %v", r, err)
	}
}
