package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/castray/castray/host/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fixedClock advances one second per call, so timestamps are known.
func fixedClock() func() time.Time {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
}

type event struct {
	typ  string
	data ReceivedEvent
}

func text(id, s string) Message {
	raw, _ := json.Marshal(s)
	return Message{ID: id, CastType: "multicast", MessageType: "text", Content: raw, Sender: "node_1"}
}

func storedKeys(t *testing.T, st *store.Store) []string {
	t.Helper()
	var keys []string
	if err := st.List(Bucket, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// A message is listed on each recipient (received) and on the sender node
// (sent), newest first, with one message_received event per recipient.
func TestRecordListsOnEveryRecipientAndEmits(t *testing.T) {
	st := openStore(t)
	var evs []event
	l := New(Options{Store: st, Now: fixedClock(), Emit: func(typ string, d any) { evs = append(evs, event{typ, d.(ReceivedEvent)}) }})
	if _, err := l.Record(text("m1", "hello"), []string{"node_2", "node_3"}, "node_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(text("m2", "again"), []string{"node_2"}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent("node_2", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Message.ID != "m2" || got[1].Message.ID != "m1" || got[0].Direction != DirectionReceived {
		t.Fatalf("node_2 entries = %+v, want m2 then m1, received", got)
	}
	if string(got[1].Message.Content) != `"hello"` || got[1].From != "node_1" || got[1].Message.Timestamp == 0 {
		t.Errorf("m1 on node_2 = %+v", got[1])
	}
	sent, _ := l.Recent("node_1", 0)
	if len(sent) != 1 || sent[0].Direction != DirectionSent || !slices.Equal(sent[0].Recipients, []string{"node_2", "node_3"}) {
		t.Errorf("node_1 entries = %+v, want one sent entry naming both recipients", sent)
	}
	if len(evs) != 3 {
		t.Fatalf("events = %+v, want 3 message_received", evs)
	}
	for i, want := range []string{"node_2", "node_3", "node_2"} {
		if evs[i].typ != EventMessageReceived || evs[i].data.NodeID != want {
			t.Errorf("event %d = %+v, want message_received for %s", i, evs[i], want)
		}
	}
	if d := evs[0].data; d.MessageID != "m1" || d.CastType != "multicast" || d.Sender != "node_1" || string(d.Content) != `"hello"` {
		t.Errorf("event data = %+v", d)
	}
	// One record per send, whatever the number of recipients.
	if keys := storedKeys(t, st); len(keys) != 2 {
		t.Errorf("store keys = %q, want one per send", keys)
	}
}

// Each node keeps its last MaxPerNode entries; a record no node lists any
// more is deleted from the store; the bound and the index survive a reload.
func TestBoundPerNodeAndReload(t *testing.T) {
	st := openStore(t)
	l := New(Options{Store: st, MaxPerNode: 3, Now: fixedClock()})
	for i := 1; i <= 5; i++ {
		if _, err := l.Record(text(fmt.Sprintf("a%d", i), "x"), []string{"a"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Record(text("both", "x"), []string{"a", "b"}, ""); err != nil {
		t.Fatal(err)
	}
	ids := func(l *Log, node string) []string {
		t.Helper()
		es, err := l.Recent(node, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Message.ID)
		}
		return out
	}
	if got := ids(l, "a"); !slices.Equal(got, []string{"both", "a5", "a4"}) {
		t.Errorf("a = %q, want the last three, newest first", got)
	}
	if got := ids(l, "b"); !slices.Equal(got, []string{"both"}) {
		t.Errorf("b = %q", got)
	}
	if keys := storedKeys(t, st); len(keys) != 3 {
		t.Errorf("store keeps %d records (%q), want 3: the evicted ones are deleted", len(keys), keys)
	}
	if got := ids(l, "a")[:2]; !slices.Equal(got, []string{"both", "a5"}) {
		t.Errorf("count is not applied: %q", got)
	}
	if es, _ := l.Recent("a", 2); len(es) != 2 || es[0].Message.ID != "both" {
		t.Errorf("Recent(a, 2) = %+v", es)
	}

	// A smaller bound on reload trims and deletes what no node keeps.
	l2 := New(Options{Store: st, MaxPerNode: 1})
	if err := l2.Load(); err != nil {
		t.Fatal(err)
	}
	if got := ids(l2, "a"); !slices.Equal(got, []string{"both"}) {
		t.Errorf("after reload a = %q", got)
	}
	if keys := storedKeys(t, st); len(keys) != 1 {
		t.Errorf("after reload the store keeps %q, want only the shared record", keys)
	}
	// New records continue the sequence.
	if _, err := l2.Record(text("next", "x"), []string{"b"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := ids(l2, "b"); !slices.Equal(got, []string{"next"}) {
		t.Errorf("b after a new record = %q", got)
	}
}

type failingStore struct{ *store.Store }

func (failingStore) Put(string, string, any) error { return errors.New("disk full") }

// A store failure records nothing and publishes nothing.
func TestRecordFailureChangesNothing(t *testing.T) {
	emitted := 0
	l := New(Options{Store: failingStore{openStore(t)}, Emit: func(string, any) { emitted++ }})
	if _, err := l.Record(text("m", "x"), []string{"a"}, "s"); err == nil {
		t.Fatal("Record succeeded with a failing store")
	}
	if l.Count("a") != 0 || l.Count("s") != 0 || emitted != 0 {
		t.Errorf("after a failure: a=%d s=%d events=%d, want nothing", l.Count("a"), l.Count("s"), emitted)
	}
	if _, err := l.Record(text("m", "x"), nil, ""); err == nil {
		t.Error("Record without recipients succeeded")
	}
}
