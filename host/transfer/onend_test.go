package transfer

import (
	"testing"
	"time"
)

type ended struct {
	rec Record
	ran []TargetRecord
}

// OnEnd hears of every run with the targets that run sent to, so that a
// retry counts only what it sent again; Running follows the runs.
func TestOnEndReportsEachRunsOwnTargets(t *testing.T) {
	runs := make(chan ended, 4)
	b := &backend{fail: map[string]bool{"a": true}, release: make(chan struct{})}
	e := setup(t, b, func(o *Options) {
		o.OnEnd = func(rec Record, ran []TargetRecord) { runs <- ended{rec, ran} }
	})
	if n := e.s.Running(); n != 0 {
		t.Fatalf("running before any transfer: %d", n)
	}
	rec, err := e.s.Start(Request{FileName: "f.txt", Mode: "broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.s, rec.ID, StateRunning)
	if n := e.s.Running(); n != 1 {
		t.Fatalf("running during a transfer: %d, want 1", n)
	}
	close(b.release)
	first := next(t, runs)
	if first.rec.State != StatePartial || first.rec.Backend != "local" || len(first.ran) != 2 {
		t.Fatalf("first run: %+v", first)
	}
	byNode := map[string]TargetRecord{}
	for _, tg := range first.ran {
		byNode[tg.NodeID] = tg
	}
	if byNode["a"].State != StateFailed || byNode["b"].State != StateCompleted || byNode["b"].BytesSent != 5 || byNode["b"].Backend != "local" {
		t.Fatalf("first run's targets: %+v", first.ran)
	}
	if n := e.s.Running(); n != 0 {
		t.Fatalf("running after the transfer ended: %d", n)
	}

	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	if _, err := e.s.Retry(rec.ID); err != nil {
		t.Fatal(err)
	}
	second := next(t, runs)
	if second.rec.State != StateCompleted || len(second.ran) != 1 || second.ran[0].NodeID != "a" || second.ran[0].State != StateCompleted {
		t.Fatalf("retry: %+v", second)
	}
}

func next(t *testing.T, ch <-chan ended) ended {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("OnEnd was not called")
		return ended{}
	}
}
