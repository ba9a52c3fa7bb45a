package delivery_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
	"github.com/castray/castray/sdk/plugintest"
)

const chunk = 64 << 10

func TestBroadcastDeliversVerifiedCopies(t *testing.T) {
	path, data, sum := source(t, 3<<20+123)
	targets := inboxes(t, 3)
	var s sink
	summary, err := client(t, `{"progress_interval_ms": 0, "pipeline_depth": 3, "writers": 2}`).Send(t.Context(), &sdk.SendRequest{
		TransferId: "t1", Mode: sdk.Broadcast, Targets: targets,
		File: fileSpec(path, data, sum, chunk, "payload.bin"),
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(len(data))
	if summary.GetSucceeded() != 3 || summary.GetFailed() != 0 || summary.GetBytes() != 3*size {
		t.Fatalf("summary = %v", summary)
	}
	for _, tg := range targets {
		dir := inbox(tg)
		checkDelivered(t, dir, "payload.bin", data)
		if names := entries(t, dir); len(names) != 1 {
			t.Errorf("%s holds %v, want only payload.bin", dir, names)
		}
		r := s.result(tg.GetNodeId())
		if r.GetState() != sdk.TargetDone || r.GetSha256() != sum || r.GetLocation() != filepath.Join(dir, "payload.bin") ||
			r.GetBytes() != size || r.GetBytesSent() != size || r.GetBytesReused() != 0 {
			t.Errorf("result %v", r)
		}
		prog := s.progressOf(tg.GetNodeId())
		if len(prog) == 0 || prog[0] != chunk || prog[len(prog)-1] != size {
			t.Errorf("%s: progress %v, want %d first and %d last", tg.GetNodeId(), prog, chunk, size)
		}
	}
}

// Without a progress clock moving, a target reports once after its first
// chunk (the daemon's time to first byte) and once at the end.
func TestProgressFirstChunkThenFinal(t *testing.T) {
	path, data, sum := source(t, 10*chunk+1)
	b := newBackend(t, `{"progress_interval_ms": 200}`)
	delivery.SetClock(b, newFakeClock())
	targets := inboxes(t, 2)
	var s sink
	if _, err := b.Send(t.Context(), &sdk.SendRequest{TransferId: "tp", Targets: targets,
		File: fileSpec(path, data, sum, chunk, "f")}, &s); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if got := s.progressOf(tg.GetNodeId()); len(got) != 2 || got[0] != chunk || got[1] != uint64(len(data)) {
			t.Errorf("%s: progress %v", tg.GetNodeId(), got)
		}
	}
}

func TestWithoutChunkDigestsChecksSHA256(t *testing.T) {
	path, data, sum := source(t, 5<<20+7) // two default 4 MiB chunks
	targets := inboxes(t, 2)
	var s sink
	summary, err := client(t, `{"fsync": false}`).Send(t.Context(), &sdk.SendRequest{
		TransferId: "tsha", Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: sum, Name: "x.bin"},
	}, &s)
	if err != nil || summary.GetSucceeded() != 2 {
		t.Fatalf("Send = %v, %v", summary, err)
	}
	for _, tg := range targets {
		checkDelivered(t, inbox(tg), "x.bin", data)
	}
}

func TestChecksumMismatchLeavesNothing(t *testing.T) {
	path, data, _ := source(t, 100_000)
	targets := inboxes(t, 2)
	var s sink
	summary, err := client(t, `{}`).Send(t.Context(), &sdk.SendRequest{
		TransferId: "t2", Mode: sdk.Multicast, Targets: targets,
		File: &sdk.FileSpec{Path: path, Size: uint64(len(data)), Sha256: strings.Repeat("0", 64), Name: "x.bin"},
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetFailed() != 2 {
		t.Fatalf("summary = %v", summary)
	}
	for _, tg := range targets {
		if names := entries(t, inbox(tg)); len(names) != 0 {
			t.Errorf("inbox holds %v after a failed transfer", names)
		}
		if r := s.result(tg.GetNodeId()); r.GetState() != sdk.TargetFailed || !strings.Contains(r.GetError(), "sha256 mismatch") {
			t.Errorf("result %v", r)
		}
	}
}

// The source changed after the daemon stored it (and computed its chunk
// digests): every target fails, nothing appears under the final name.
func TestSourceChangedSinceStored(t *testing.T) {
	for name, change := range map[string]func(path string, data []byte) error{
		"byte flipped": func(path string, data []byte) error {
			changed := append([]byte{}, data...)
			changed[7*chunk+100] ^= 1
			return os.WriteFile(path, changed, 0o600)
		},
		"grown": func(path string, data []byte) error {
			return os.WriteFile(path, append(append([]byte{}, data...), 'x'), 0o600)
		},
		"replaced by a symlink": func(path string, data []byte) error {
			other := path + ".real"
			if err := os.WriteFile(other, data, 0o600); err != nil {
				return err
			}
			if err := os.Remove(path); err != nil {
				return err
			}
			return os.Symlink(other, path)
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, data, sum := source(t, 12*chunk)
			spec := fileSpec(path, data, sum, chunk, "f.bin")
			if err := change(path, data); err != nil {
				t.Fatal(err)
			}
			targets := inboxes(t, 3)
			var s sink
			summary, err := client(t, `{}`).Send(t.Context(), &sdk.SendRequest{TransferId: "tc", Targets: targets, File: spec}, &s)
			if err != nil {
				t.Fatal(err)
			}
			if summary.GetFailed() != 3 {
				t.Fatalf("summary = %v", summary)
			}
			for _, tg := range targets {
				r := s.result(tg.GetNodeId())
				if r.GetState() != sdk.TargetFailed || !(strings.Contains(r.GetError(), "changed since it was stored") || strings.Contains(r.GetError(), "symbolic link")) {
					t.Errorf("result %v", r)
				}
				if names := entries(t, inbox(tg)); len(names) != 0 {
					t.Errorf("inbox holds %v", names)
				}
			}
		})
	}
}

func TestOneBadTargetFailsAlone(t *testing.T) {
	path, data, sum := source(t, 20*chunk)
	b := newBackend(t, `{}`)
	targets := inboxes(t, 2)
	vanishing := targets[1]
	var once sync.Once
	delivery.SetBeforeWrite(b, func(node string, i uint64) {
		if node == vanishing.GetNodeId() && i == 3 {
			once.Do(func() {
				if err := os.RemoveAll(inbox(vanishing)); err != nil {
					t.Error(err)
				}
			})
		}
	})
	targets = append(targets,
		&sdk.Target{NodeId: "gone", Kind: "local", Attributes: map[string]string{"inbox_dir": filepath.Join(t.TempDir(), "missing")}},
		&sdk.Target{NodeId: "remote", Kind: "ray-node", Attributes: map[string]string{"inbox_dir": t.TempDir()}},
		&sdk.Target{NodeId: "noinbox", Kind: "local"},
	)
	var s sink
	summary, err := overGRPC(t, b).Send(t.Context(), &sdk.SendRequest{
		TransferId: "t3", Mode: sdk.Multicast, Targets: targets, File: fileSpec(path, data, sum, chunk, "f"),
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetSucceeded() != 1 || summary.GetFailed() != 4 {
		t.Fatalf("summary = %v", summary)
	}
	checkDelivered(t, inbox(targets[0]), "f", data)
	for node, want := range map[string]string{"gone": "missing", "remote": "not reachable", "noinbox": "inbox_dir", vanishing.GetNodeId(): "rename"} {
		if r := s.result(node); r.GetState() != sdk.TargetFailed || !strings.Contains(r.GetError(), want) {
			t.Errorf("%s: %v, want an error about %q", node, r, want)
		}
	}
}

// crash runs a unicast Send whose context ends just before chunk stopAt is
// written, the way the daemon's death ends the stream.
func crash(t *testing.T, req *sdk.SendRequest, stopAt uint64) {
	t.Helper()
	b := newBackend(t, `{"progress_interval_ms": 0}`)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	delivery.SetBeforeWrite(b, func(_ string, i uint64) {
		if i == stopAt {
			once.Do(cancel)
		}
	})
	if _, err := b.Send(ctx, req, &sink{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Send: %v, want context.Canceled", err)
	}
}

func journalChunks(t *testing.T, dir, id string) map[uint64]uint32 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, partial.JournalName(id)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, chunks, err := partial.ReadJournal(f)
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

func TestResumeAfterCrash(t *testing.T) {
	path, data, sum := source(t, 20*chunk+999)
	targets := inboxes(t, 1)
	dir := inbox(targets[0])
	req := &sdk.SendRequest{TransferId: "tr-1", Mode: sdk.Unicast, Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}
	crash(t, req, 7)
	if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
		t.Fatalf("final file after the crash: %v", err)
	}
	if got := len(journalChunks(t, dir, "tr-1")); got != 7 {
		t.Fatalf("journal holds %d chunks, want 7", got)
	}

	// A new plugin process resumes.
	req.Resume = true
	var s sink
	summary, err := newBackend(t, `{}`).Send(t.Context(), req, &s)
	if err != nil || summary.GetSucceeded() != 1 {
		t.Fatalf("resumed Send = %v, %v", summary, err)
	}
	r := s.result(targets[0].GetNodeId())
	size := uint64(len(data))
	if r.GetBytesReused() != 7*chunk || r.GetBytesSent() != size-7*chunk || r.GetBytes() != size {
		t.Errorf("result %v, want %d reused", r, 7*chunk)
	}
	if prog := s.progressOf(targets[0].GetNodeId()); len(prog) == 0 || prog[0] != 8*chunk || prog[len(prog)-1] != size {
		t.Errorf("progress %v", prog)
	}
	checkDelivered(t, dir, "f", data)
}

// A byte of the part changed between the crash and the resume: the chunk
// holding it is sent again, the others are kept.
func TestResumeResendsCorruptChunk(t *testing.T) {
	path, data, sum := source(t, 16*chunk)
	targets := inboxes(t, 2)
	req := &sdk.SendRequest{TransferId: "tr-2", Mode: sdk.Multicast, Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}
	crash(t, req, 9)
	kept := map[string]int{}
	for _, tg := range targets {
		kept[tg.GetNodeId()] = len(journalChunks(t, inbox(tg), "tr-2"))
	}
	corrupt := targets[0]
	if _, ok := journalChunks(t, inbox(corrupt), "tr-2")[4]; !ok {
		t.Fatalf("chunk 4 not journaled: %v", kept)
	}
	part := filepath.Join(inbox(corrupt), partial.PartName("tr-2"))
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[4*chunk+17] ^ 0xff}, 4*chunk+17); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	req.Resume = true
	var s sink
	summary, err := overGRPC(t, newBackend(t, `{}`)).Send(t.Context(), req, &s)
	if err != nil || summary.GetSucceeded() != 2 {
		t.Fatalf("resumed Send = %v, %v", summary, err)
	}
	for _, tg := range targets {
		want := uint64(kept[tg.GetNodeId()]) * chunk
		if tg == corrupt {
			want -= chunk
		}
		r := s.result(tg.GetNodeId())
		if r.GetBytesReused() != want || r.GetBytesSent() != uint64(len(data))-want {
			t.Errorf("%s: reused %d, sent %d; want %d reused", tg.GetNodeId(), r.GetBytesReused(), r.GetBytesSent(), want)
		}
		checkDelivered(t, inbox(tg), "f", data)
	}
}

// Without resume, kept state is discarded and every byte is sent.
func TestNoResumeStartsFromZero(t *testing.T) {
	path, data, sum := source(t, 8*chunk)
	targets := inboxes(t, 1)
	req := &sdk.SendRequest{TransferId: "tr-3", Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}
	crash(t, req, 5)
	var s sink
	if _, err := newBackend(t, `{}`).Send(t.Context(), req, &s); err != nil {
		t.Fatal(err)
	}
	if r := s.result(targets[0].GetNodeId()); r.GetBytesReused() != 0 || r.GetBytesSent() != uint64(len(data)) {
		t.Errorf("result %v", r)
	}
	checkDelivered(t, inbox(targets[0]), "f", data)
}

// A crash between the rename and the journal's removal: the final file is
// verified by its SHA-256 and nothing is sent.
func TestResumeAfterRename(t *testing.T) {
	path, data, sum := source(t, 5*chunk+3)
	targets := inboxes(t, 1)
	dir := inbox(targets[0])
	spec := fileSpec(path, data, sum, chunk, "f")
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	hdr, err := partial.NewHeader(spec.GetSize(), spec.GetChunkSize(), sum)
	if err != nil {
		t.Fatal(err)
	}
	j, err := partial.Create(filepath.Join(dir, partial.JournalName("tr-4")), hdr)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	var s sink
	summary, err := newBackend(t, `{}`).Send(t.Context(), &sdk.SendRequest{TransferId: "tr-4", Resume: true, Targets: targets, File: spec}, &s)
	if err != nil || summary.GetSucceeded() != 1 {
		t.Fatalf("Send = %v, %v", summary, err)
	}
	r := s.result(targets[0].GetNodeId())
	if r.GetState() != sdk.TargetDone || r.GetBytesReused() != uint64(len(data)) || r.GetBytesSent() != 0 {
		t.Errorf("result %v", r)
	}
	if prog := s.progressOf(targets[0].GetNodeId()); len(prog) != 1 || prog[0] != uint64(len(data)) {
		t.Errorf("progress %v, want one final report", prog)
	}
	checkDelivered(t, dir, "f", data)
}

// blockAt returns a write hook that stops the named targets before chunk i
// until release is closed, and a channel that receives each node as it
// stops.
func blockAt(nodes map[string]bool, i uint64, release <-chan struct{}) (func(string, uint64), <-chan string) {
	reached := make(chan string, len(nodes))
	return func(node string, c uint64) {
		if c == i && nodes[node] {
			reached <- node
			<-release
		}
	}, reached
}

func TestCancelDiscardsPartialState(t *testing.T) {
	path, data, sum := source(t, 12*chunk)
	targets := inboxes(t, 2)
	b := newBackend(t, `{}`)
	release := make(chan struct{})
	hook, reached := blockAt(map[string]bool{"node_1": true, "node_2": true}, 2, release)
	delivery.SetBeforeWrite(b, hook)
	c := overGRPC(t, b)
	var s sink
	type ret struct {
		summary *sdk.SendSummary
		err     error
	}
	done := make(chan ret, 1)
	go func() {
		summary, err := c.Send(t.Context(), &sdk.SendRequest{TransferId: "t4", Mode: sdk.Broadcast, Targets: targets,
			File: fileSpec(path, data, sum, chunk, "big")}, &s)
		done <- ret{summary, err}
	}()
	<-reached
	<-reached
	if ok, err := c.Cancel(t.Context(), "t4"); !ok || err != nil {
		t.Fatalf("Cancel = %v, %v", ok, err)
	}
	close(release)
	got := <-done
	if got.err != nil || got.summary.GetFailed() != 2 {
		t.Fatalf("Send = %v, %v", got.summary, got.err)
	}
	for _, tg := range targets {
		if r := s.result(tg.GetNodeId()); r.GetState() != sdk.TargetCancelled || r.GetError() != "cancelled" {
			t.Errorf("result %v, want cancelled", r)
		}
		if names := entries(t, inbox(tg)); len(names) != 0 {
			t.Errorf("inbox holds %v after cancel", names)
		}
	}
	if ok, _ := c.Cancel(t.Context(), "t4"); ok {
		t.Error("Cancel of an ended transfer answered true")
	}
}

func TestCancelTargetsOthersComplete(t *testing.T) {
	path, data, sum := source(t, 12*chunk)
	targets := inboxes(t, 3)
	b := newBackend(t, `{}`)
	release := make(chan struct{})
	hook, reached := blockAt(map[string]bool{"node_2": true}, 2, release)
	delivery.SetBeforeWrite(b, hook)
	c := overGRPC(t, b)
	tc, ok := c.(sdk.TargetCanceller)
	if !ok {
		t.Fatal("the gRPC stub does not implement sdk.TargetCanceller")
	}
	var s sink
	done := make(chan error, 1)
	var summary *sdk.SendSummary
	go func() {
		var err error
		summary, err = c.Send(t.Context(), &sdk.SendRequest{TransferId: "t5", Mode: sdk.Broadcast, Targets: targets,
			File: fileSpec(path, data, sum, chunk, "f")}, &s)
		done <- err
	}()
	<-reached
	if ok, err := tc.CancelTargets(t.Context(), "t5", []string{"node_2", "unknown"}); !ok || err != nil {
		t.Fatalf("CancelTargets = %v, %v", ok, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if summary.GetSucceeded() != 2 || summary.GetFailed() != 1 {
		t.Fatalf("summary %v", summary)
	}
	if r := s.result("node_2"); r.GetState() != sdk.TargetCancelled || r.GetError() != "cancelled" {
		t.Errorf("node_2: %v", r)
	}
	if names := entries(t, inbox(targets[1])); len(names) != 0 {
		t.Errorf("cancelled inbox holds %v", names)
	}
	checkDelivered(t, inbox(targets[0]), "f", data)
	checkDelivered(t, inbox(targets[2]), "f", data)
	if ok, err := tc.CancelTargets(t.Context(), "nope", []string{"node_1"}); ok || err != nil {
		t.Errorf("CancelTargets of an unknown transfer = %v, %v", ok, err)
	}
}

// A Send stopped by its context keeps its state; a Cancel that comes after
// it ended still discards it.
func TestCancelAfterStopDiscardsKeptState(t *testing.T) {
	path, data, sum := source(t, 8*chunk)
	targets := inboxes(t, 1)
	b := newBackend(t, `{}`)
	ctx, cancel := context.WithCancel(t.Context())
	var once sync.Once
	delivery.SetBeforeWrite(b, func(_ string, i uint64) {
		if i == 3 {
			once.Do(cancel)
		}
	})
	if _, err := b.Send(ctx, &sdk.SendRequest{TransferId: "t6", Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}, &sink{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v", err)
	}
	if got := partials(t, inbox(targets[0])); len(got) != 2 {
		t.Fatalf("kept state %v, want part and journal", got)
	}
	if ok, err := b.Cancel(t.Context(), "t6"); ok || err != nil {
		t.Errorf("Cancel = %v, %v; want false (not running)", ok, err)
	}
	if got := entries(t, inbox(targets[0])); len(got) != 0 {
		t.Errorf("inbox holds %v after Cancel", got)
	}
}

// A target whose write hangs fails after the idle timeout; the other one
// completes, and the hung goroutine cleans up when its write returns.
func TestIdleTimeout(t *testing.T) {
	path, data, sum := source(t, 3*chunk)
	targets := inboxes(t, 2)
	b := newBackend(t, `{}`)
	clk := newFakeClock()
	delivery.SetClock(b, clk)
	release := make(chan struct{})
	hook, reached := blockAt(map[string]bool{"node_2": true}, 0, release)
	delivery.SetBeforeWrite(b, hook)
	firstDone := make(chan struct{})
	s := &sink{onResult: func(r *sdk.TargetResult) {
		if r.GetNodeId() == "node_1" {
			close(firstDone)
		}
	}}
	done := make(chan error, 1)
	var summary *sdk.SendSummary
	go func() {
		var err error
		summary, err = b.Send(t.Context(), &sdk.SendRequest{TransferId: "t7", Targets: targets, IdleTimeoutMs: 1000,
			File: fileSpec(path, data, sum, chunk, "f")}, s)
		done <- err
	}()
	<-reached
	<-firstDone
	clk.WaitForTimer()
	clk.Advance(2 * 1000 * 1e6)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if summary.GetSucceeded() != 1 || summary.GetFailed() != 1 {
		t.Fatalf("summary %v", summary)
	}
	if r := s.result("node_2"); r.GetState() != sdk.TargetFailed || !strings.Contains(r.GetError(), "idle timeout") {
		t.Errorf("node_2: %v", r)
	}
	checkDelivered(t, inbox(targets[0]), "f", data)
	close(release)
	delivery.WaitDetached(b)
	if names := entries(t, inbox(targets[1])); len(names) != 0 {
		t.Errorf("stalled inbox holds %v", names)
	}
}

// Many targets, more than fit open at once: delivered in batches.
func TestBroadcastToManyInboxes(t *testing.T) {
	path, data, sum := source(t, 3*chunk+5)
	for _, tc := range []struct {
		name    string
		n       int
		batch   int
		targets int
	}{{"1500 inboxes", 1500, 0, 1500}, {"batches of 7", 40, 7, 40}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, `{"fsync": false, "progress_interval_ms": 0}`)
			if tc.batch > 0 {
				delivery.SetMaxBatch(b, tc.batch)
			}
			targets := inboxes(t, tc.n)
			var s sink
			summary, err := b.Send(t.Context(), &sdk.SendRequest{TransferId: "tm", Mode: sdk.Broadcast, Targets: targets,
				File: fileSpec(path, data, sum, chunk, "f")}, &s)
			if err != nil || summary.GetSucceeded() != uint32(tc.targets) {
				t.Fatalf("Send = %v, %v", summary, err)
			}
			for _, tg := range targets {
				checkDelivered(t, inbox(tg), "f", data)
			}
		})
	}
}

// max_rate holds the reader back (the first chunk passes at once, the next
// would wait a day), and Cancel interrupts the wait.
func TestMaxRateThrottlesAndCancelInterruptsIt(t *testing.T) {
	path, data, sum := source(t, 4*chunk)
	targets := inboxes(t, 1)
	b := newBackend(t, `{"max_rate": 1, "progress_interval_ms": 0}`)
	c := overGRPC(t, b)
	first := make(chan struct{})
	var once sync.Once
	s := &sink{onProg: func(*sdk.TargetProgress) { once.Do(func() { close(first) }) }}
	done := make(chan error, 1)
	var summary *sdk.SendSummary
	go func() {
		var err error
		summary, err = c.Send(t.Context(), &sdk.SendRequest{TransferId: "t8", Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}, s)
		done <- err
	}()
	<-first
	if ok, err := c.Cancel(t.Context(), "t8"); !ok || err != nil {
		t.Fatalf("Cancel = %v, %v", ok, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := s.result("node_1"); summary.GetFailed() != 1 || r.GetState() != sdk.TargetCancelled || r.GetBytesSent() != chunk {
		t.Errorf("summary %v, result %v", summary, r)
	}
}

// Nothing is written through a symlink: one at the final name is replaced.
func TestSymlinkAtFinalNameIsReplaced(t *testing.T) {
	path, data, sum := source(t, 2*chunk)
	targets := inboxes(t, 1)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(inbox(targets[0]), "f")); err != nil {
		t.Fatal(err)
	}
	if _, err := newBackend(t, `{}`).Send(t.Context(), &sdk.SendRequest{TransferId: "t9", Targets: targets,
		File: fileSpec(path, data, sum, chunk, "f")}, &sink{}); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, inbox(targets[0]), "f", data)
	if got, _ := os.ReadFile(victim); string(got) != "keep me" {
		t.Errorf("the link's target was written: %q", got)
	}
}

func TestRejectsBadRequests(t *testing.T) {
	path, data, sum := source(t, 3*chunk)
	c := client(t, `{}`)
	good := func() *sdk.SendRequest {
		return &sdk.SendRequest{TransferId: "tr-x", Targets: inboxes(t, 1), File: fileSpec(path, data, sum, chunk, "ok")}
	}
	cases := map[string]func(*sdk.SendRequest){
		"no targets":             func(r *sdk.SendRequest) { r.Targets = nil },
		"no transfer id":         func(r *sdk.SendRequest) { r.TransferId = "" },
		"id with separator":      func(r *sdk.SendRequest) { r.TransferId = "../x" },
		"digest count":           func(r *sdk.SendRequest) { r.File.ChunkCrc32C = r.File.ChunkCrc32C[1:] },
		"digests without chunk":  func(r *sdk.SendRequest) { r.File.ChunkSize = 0 },
		"huge chunk":             func(r *sdk.SendRequest) { r.File.ChunkSize = 1 << 30 },
		"bad sha256":             func(r *sdk.SendRequest) { r.File.Sha256 = "xyz" },
		"nothing to verify with": func(r *sdk.SendRequest) { r.File.Sha256, r.File.ChunkCrc32C, r.File.ChunkSize = "", nil, 0 },
	}
	for _, name := range []string{"", ".", "..", "a/b", `..\x`, ".castray-x.part", ".castray-tr-x.journal"} {
		cases["name "+name] = func(r *sdk.SendRequest) { r.File.Name = name }
	}
	for what, mutate := range cases {
		req := good()
		mutate(req)
		if _, err := c.Send(t.Context(), req, &sink{}); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	if _, err := c.Send(t.Context(), good(), &sink{}); err != nil {
		t.Errorf("good request: %v", err)
	}
}

func TestConfigureValidation(t *testing.T) {
	c := plugintest.Transfer(t, delivery.New(hclog.NewNullLogger()))
	for cfg, key := range map[string]string{
		`{"pipeline_depth": 0}`:        "pipeline_depth",
		`{"pipeline_depth": 65}`:       "pipeline_depth",
		`{"writers": 0}`:               "writers",
		`{"writers": 100}`:             "writers",
		`{"progress_interval_ms": -1}`: "progress_interval_ms",
		`{"max_rate": -5}`:             "max_rate",
		`{"fsync": "yes"}`:             "fsync",
		`{"buffer_size": 65536}`:       "buffer_size",
		`{"unknown_key": 1}`:           "unknown_key",
	} {
		problems, err := c.Configure(t.Context(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
		if err != nil || len(problems) != 1 || problems[0].GetKey() != key {
			t.Errorf("%s: %v %v, want one problem naming %s", cfg, problems, err, key)
		}
	}
	schema, err := c.ConfigSchema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range schema.GetFields() {
		keys = append(keys, f.GetName())
	}
	if got := strings.Join(keys, ","); got != "pipeline_depth,writers,fsync,progress_interval_ms,max_rate" {
		t.Errorf("schema keys %s", got)
	}
	caps, err := c.Capabilities(t.Context())
	if err != nil || !caps.GetResumable() {
		t.Errorf("Capabilities = %v, %v", caps, err)
	}
}

// A chunk no target needs is not even read: after a crash, chunk 2 of the
// source is damaged, but every target kept it, so the resumed Send never
// reads it and what it delivers still matches the stored digests.
func TestKeptChunksAreNotReadAgain(t *testing.T) {
	path, data, sum := source(t, 10*chunk)
	targets := inboxes(t, 1)
	req := &sdk.SendRequest{TransferId: "tr-5", Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}
	crash(t, req, 6)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[2*chunk] ^ 1}, 2*chunk); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	req.Resume = true
	var s sink
	if summary, err := newBackend(t, `{}`).Send(t.Context(), req, &s); err != nil || summary.GetSucceeded() != 1 {
		t.Fatalf("Send = %v, %v (%v)", summary, err, s.result("node_1"))
	}
	checkDelivered(t, inbox(targets[0]), "f", data)

	// Without resume the damaged chunk is read, and caught.
	req.Resume, req.TransferId = false, "tr-6"
	s = sink{}
	if summary, err := newBackend(t, `{}`).Send(t.Context(), req, &s); err != nil || summary.GetFailed() != 1 {
		t.Fatalf("Send = %v, %v", summary, err)
	}
	if r := s.result("node_1"); !strings.Contains(r.GetError(), "chunk 2 ") {
		t.Errorf("result %v, want chunk 2 named", r)
	}
}

// A journal written for another version of the file is not trusted.
func TestResumeIgnoresJournalOfAnotherFile(t *testing.T) {
	path, data, sum := source(t, 8*chunk)
	targets := inboxes(t, 1)
	req := &sdk.SendRequest{TransferId: "tr-7", Targets: targets, File: fileSpec(path, data, sum, chunk, "f")}
	crash(t, req, 5)
	// Same name, other content: a new upload under the same transfer id.
	path2, data2, sum2 := source(t, 8*chunk)
	req.File, req.Resume = fileSpec(path2, data2, sum2, chunk, "f"), true
	var s sink
	if _, err := newBackend(t, `{}`).Send(t.Context(), req, &s); err != nil {
		t.Fatal(err)
	}
	if r := s.result("node_1"); r.GetBytesReused() != 0 || r.GetBytesSent() != uint64(len(data2)) {
		t.Errorf("result %v", r)
	}
	checkDelivered(t, inbox(targets[0]), "f", data2)
}
