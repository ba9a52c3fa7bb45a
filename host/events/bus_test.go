package events

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// drain reads everything currently buffered plus anything up to the channel
// closing or a quiet period.
func drainClosed(t *testing.T, s *Subscription) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("channel not closed after 5s (got %d events)", len(out))
		}
	}
}

// waitDropped waits, without reading its channel, until s is dropped.
func waitDropped(t *testing.T, s *Subscription) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !s.Dropped(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not dropped after 5s")
		}
	}
}

func TestFanOutOrderPerSubscriber(t *testing.T) {
	b := NewBus()
	const n = 1000
	subs := []*Subscription{b.Subscribe(n), b.Subscribe(n), b.Subscribe(n)}
	for i := 0; i < n; i++ {
		b.Publish(TypeTransferProgress, i)
	}
	for _, s := range subs {
		s.Close()
	}
	for si, s := range subs {
		got := drainClosed(t, s)
		if len(got) != n {
			t.Fatalf("sub %d: got %d events, want %d", si, len(got), n)
		}
		for i, ev := range got {
			if ev.Data.(int) != i || ev.Type != TypeTransferProgress {
				t.Fatalf("sub %d: event %d = %+v", si, i, ev)
			}
			if ev.TS.Location() != time.UTC || ev.TS.IsZero() {
				t.Fatalf("sub %d: event %d TS %v not a UTC stamp", si, i, ev.TS)
			}
		}
		if s.Dropped() {
			t.Fatalf("sub %d reported dropped after plain Close", si)
		}
	}
}

// Concurrent publishers: every subscriber must see the same total order.
func TestConcurrentPublishersSameOrderForAll(t *testing.T) {
	b := NewBus()
	const pubs, per = 8, 200
	a, c := b.Subscribe(pubs*per), b.Subscribe(pubs*per)
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				b.Publish("x", [2]int{p, i})
			}
		}(p)
	}
	wg.Wait()
	a.Close()
	c.Close()
	ga, gc := drainClosed(t, a), drainClosed(t, c)
	if len(ga) != pubs*per || len(gc) != pubs*per {
		t.Fatalf("got %d and %d events, want %d", len(ga), len(gc), pubs*per)
	}
	last := make(map[int]int)
	for i := range ga {
		if ga[i].Data != gc[i].Data {
			t.Fatalf("subscribers disagree at %d: %v vs %v", i, ga[i].Data, gc[i].Data)
		}
		d := ga[i].Data.([2]int)
		if prev, ok := last[d[0]]; ok && d[1] != prev+1 {
			t.Fatalf("publisher %d: %d after %d", d[0], d[1], prev)
		}
		last[d[0]] = d[1]
	}
}

func TestSlowSubscriberDroppedFastOneGetsEverything(t *testing.T) {
	b := NewBus()
	b.SetGrace(20 * time.Millisecond)
	slow := b.Subscribe(4) // never read
	fast := b.Subscribe(1)
	const n = 10000
	got := make(chan []Event)
	go func() {
		var evs []Event
		for ev := range fast.C() {
			evs = append(evs, ev)
			if len(evs) == n {
				break
			}
		}
		got <- evs
	}()
	for i := 0; i < n; i++ {
		// The fast reader has a buffer of one: give it the chance to keep up,
		// which is the point of the test (the slow one must not hold it up).
		for len(fast.ch) == cap(fast.ch) {
			runtime.Gosched()
		}
		b.Publish("tick", i)
	}
	evs := <-got
	for i, ev := range evs {
		if ev.Data.(int) != i {
			t.Fatalf("fast: event %d has data %v", i, ev.Data)
		}
	}
	if fast.Dropped() {
		t.Fatal("fast subscriber was dropped")
	}
	// The slow one is dropped once the grace period is over, and keeps what
	// its channel held.
	waitDropped(t, slow)
	sg := drainClosed(t, slow)
	if len(sg) != 4 {
		t.Fatalf("slow got %d buffered events, want 4", len(sg))
	}
	for i, ev := range sg {
		if ev.Data.(int) != i {
			t.Fatalf("slow: event %d has data %v", i, ev.Data)
		}
	}
	if b.Subscribers() != 1 {
		t.Fatalf("Subscribers() = %d, want 1", b.Subscribers())
	}
	slow.Close() // Close after drop: no panic, stays Dropped.
	if !slow.Dropped() {
		t.Fatal("Close after drop cleared Dropped")
	}
	fast.Close()
}

func TestCloseIdempotentAndPublishAfterClose(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(8)
	b.Publish("a", 1)
	s.Close()
	s.Close()
	b.Publish("b", 2) // must not panic (send on closed channel) or block
	got := drainClosed(t, s)
	if len(got) != 1 || got[0].Type != "a" {
		t.Fatalf("got %+v, want just the event published before Close", got)
	}
	if s.Dropped() {
		t.Fatal("Dropped after Close")
	}
	if b.Subscribers() != 0 {
		t.Fatalf("Subscribers() = %d after Close", b.Subscribers())
	}
	// Concurrent Close and Publish.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		s := b.Subscribe(1)
		wg.Add(3)
		go func() { defer wg.Done(); s.Close() }()
		go func() { defer wg.Done(); s.Close() }()
		go func() { defer wg.Done(); b.Publish("c", nil); b.Publish("c", nil) }()
	}
	wg.Wait()
}

func TestDefaultBuffer(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(0)
	defer s.Close()
	if cap(s.ch) != DefaultBuffer {
		t.Fatalf("cap = %d, want %d", cap(s.ch), DefaultBuffer)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	b := NewBus()
	var subs []*Subscription
	for i := 0; i < 100; i++ {
		subs = append(subs, b.Subscribe(2))
	}
	for i := 0; i < 10; i++ {
		b.Publish("x", i) // drops every subscriber after the 2nd event
	}
	for _, s := range subs {
		s.Close()
	}
	s := b.Subscribe(1)
	s.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestEventJSON(t *testing.T) {
	ev := Event{Type: TypeNodeAdded, TS: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Data: map[string]string{"id": "n1"}}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"node_added","ts":"2025-01-02T03:04:05Z","data":{"id":"n1"}}`
	if string(raw) != want {
		t.Fatalf("got %s, want %s", raw, want)
	}
}

// BenchmarkPublish100Subscribers measures Publish fanning out to 100 live
// subscribers whose readers keep up. Publishing is done in batches smaller
// than the subscriber buffers and the timer is stopped while the readers
// catch up, so no subscriber is dropped and every timed Publish really
// delivers to 100 channels.
func BenchmarkPublish100Subscribers(b *testing.B) {
	const nsubs, buffer, batch = 100, 1024, 512
	bus := NewBus()
	var wg sync.WaitGroup
	subs := make([]*Subscription, nsubs)
	for i := range subs {
		subs[i] = bus.Subscribe(buffer)
		wg.Add(1)
		go func(s *Subscription) {
			defer wg.Done()
			for range s.C() {
			}
		}(subs[i])
	}
	payload := map[string]any{"id": "node_1", "bytes": 4096}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		for i := 0; i < n; i++ {
			bus.Publish(TypeTransferProgress, payload)
		}
		done += n
		b.StopTimer()
		for _, s := range subs {
			for len(s.ch) > 0 {
				runtime.Gosched()
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	for _, s := range subs {
		if s.Dropped() {
			b.Fatal("a subscriber was dropped; the benchmark did not measure full fan-out")
		}
		s.Close()
	}
	wg.Wait()
}

func ExampleBus() {
	bus := NewBus()
	sub := bus.Subscribe(16)
	bus.Publish(TypeNodeAdded, "node_1")
	sub.Close()
	for ev := range sub.C() {
		fmt.Println(ev.Type, ev.Data)
	}
	// Output: node_added node_1
}

// Every subscriber gets the same JSON bytes of an event, encoded once, and
// they are what json.Marshal makes of the event.
func TestEventJSONEncodedOnceForAll(t *testing.T) {
	b := NewBus()
	s1, s2 := b.Subscribe(1), b.Subscribe(1)
	defer s1.Close()
	defer s2.Close()
	b.Publish(TypeNodeAdded, map[string]string{"id": "n1"})
	e1, e2 := <-s1.C(), <-s2.C()
	j1, err := e1.JSON()
	if err != nil {
		t.Fatal(err)
	}
	j2, _ := e2.JSON()
	if &j1[0] != &j2[0] {
		t.Fatal("two subscribers got two encodings of one event")
	}
	want, _ := json.Marshal(Event{Type: e1.Type, TS: e1.TS, Data: e1.Data})
	if string(j1) != string(want) {
		t.Fatalf("JSON() = %s, want %s", j1, want)
	}
	// An Event not made by Publish is encoded on each call.
	if raw, err := (Event{Type: "x"}).JSON(); err != nil || !strings.Contains(string(raw), `"type":"x"`) {
		t.Fatalf("plain Event: %s %v", raw, err)
	}
}

// A burst far larger than the buffers (a sync that changed 10,000 nodes)
// published in a tight loop: subscribers that keep reading are behind for a
// while but keep taking events, so none is dropped and each gets every
// event in order. Before the grace period each of them was dropped at the
// first event that found its buffer full.
func TestBurstLargerThanBufferKeepsReadingSubscribers(t *testing.T) {
	b := NewBus()
	b.SetGrace(10 * time.Second) // bounds a broken run; readers that keep up never wait this long
	const n, subs = 10000, 4
	got := make(chan []int, subs)
	var all []*Subscription
	for range subs {
		s := b.Subscribe(8)
		all = append(all, s)
		go func() {
			var seen []int
			for ev := range s.C() {
				if seen = append(seen, ev.Data.(int)); len(seen) == n {
					break
				}
			}
			got <- seen
		}()
	}
	for i := range n {
		b.Publish("node_dead", i)
	}
	for range subs {
		seen := <-got
		if len(seen) != n {
			t.Fatalf("a reader got %d of %d events", len(seen), n)
		}
		for i, v := range seen {
			if v != i {
				t.Fatalf("event %d has data %d", i, v)
			}
		}
	}
	for _, s := range all {
		if s.Dropped() {
			t.Fatal("a subscriber that kept reading was dropped")
		}
		s.Close()
	}
}

// A subscriber that never reads is dropped once its channel has stayed full
// for the grace period, and the others still get everything.
func TestStoppedSubscriberDroppedAfterGrace(t *testing.T) {
	b := NewBus()
	b.SetGrace(50 * time.Millisecond)
	stopped := b.Subscribe(4)
	reader := b.Subscribe(4)
	done := make(chan int)
	go func() {
		k := 0
		for range reader.C() {
			k++
		}
		done <- k
	}()
	for i := range 100 {
		b.Publish("x", i)
	}
	waitDropped(t, stopped)
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers left, want the reader", n)
	}
	if evs := drainClosed(t, stopped); len(evs) != 4 {
		t.Fatalf("the stopped subscriber kept %d events, want its 4 buffered", len(evs))
	}
	reader.Close()
	if k := <-done; k != 100 || reader.Dropped() {
		t.Fatalf("reader got %d of 100 events, dropped %v", k, reader.Dropped())
	}
}

// Publish never waits for a subscriber: with one that never reads and a
// grace period longer than any test, a burst far larger than its channel
// returns, and a backlog of MaxBacklog drops it at once.
func TestPublishNeverWaits(t *testing.T) {
	b := NewBus()
	b.SetGrace(time.Hour)
	stopped := b.Subscribe(4)
	for i := range MaxBacklog + 4 {
		b.Publish("x", i)
	}
	if stopped.Dropped() {
		t.Fatal("dropped with a full backlog, before it overflowed")
	}
	b.Publish("x", "overflow")
	if !stopped.Dropped() || b.Subscribers() != 0 {
		t.Fatalf("after MaxBacklog more events: dropped %v, %d subscribers", stopped.Dropped(), b.Subscribers())
	}
	evs := drainClosed(t, stopped)
	if len(evs) != 4 || evs[3].Data.(int) != 3 {
		t.Fatalf("the dropped subscriber holds %d events, want its channel's 4", len(evs))
	}
}
