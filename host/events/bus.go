package events

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBuffer is the channel capacity used when Subscribe is given a
// buffer smaller than 1.
const DefaultBuffer = 256

// Event is one published event. Data is shared by every subscriber that
// receives the event: publishers must not modify it after Publish, and
// subscribers must treat it as read-only.
type Event struct {
	Type string    `json:"type"`
	TS   time.Time `json:"ts"`
	Data any       `json:"data"`

	// enc is shared by every copy of a published event: its JSON is
	// encoded once, by the first subscriber that asks, for all of them.
	enc *encoded
}

type encoded struct {
	once sync.Once
	b    []byte
	err  error
}

// JSON is the event encoded as JSON ({"type","ts","data"}). For an event
// that came from Publish it is encoded once and the same bytes are handed
// to every subscriber (a thousand WebSocket clients do not encode it a
// thousand times); callers must not modify them.
func (e Event) JSON() ([]byte, error) {
	if e.enc == nil {
		return json.Marshal(e)
	}
	e.enc.once.Do(func() {
		plain := e
		plain.enc = nil
		e.enc.b, e.enc.err = json.Marshal(plain)
	})
	return e.enc.b, e.enc.err
}

// DefaultGrace is how long Publish waits, at most, for one subscriber whose
// buffer is full to take an event before it drops it; one Publish waits at
// most maxGraces times that for all of them together.
const DefaultGrace = time.Second

// maxGraces bounds one Publish's waiting: grace periods in all.
const maxGraces = 4

// Bus fans events out to subscribers. The zero value is not usable; call
// NewBus. A Bus is safe for concurrent use.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	// grace: see SetGrace.
	grace time.Duration
	// now is replaceable in tests.
	now func() time.Time
}

// NewBus returns an empty bus with DefaultGrace.
func NewBus() *Bus {
	return &Bus{
		subs:  make(map[*Subscription]struct{}),
		grace: DefaultGrace,
		now:   time.Now,
	}
}

// SetGrace sets how long one Publish waits, at most, for each subscriber
// whose buffer is full to make room (and at most 4 times that for all of
// them together); 0 drops them at once.
func (b *Bus) SetGrace(d time.Duration) {
	b.mu.Lock()
	b.grace = max(d, 0)
	b.mu.Unlock()
}

// Publish sends an event of type typ to every current subscriber, stamped
// with the current UTC time. A subscriber whose buffer is full gets a
// grace period (SetGrace) to take an event off it: a reader that keeps
// reading but is behind after a burst (a sync that changed 10,000 nodes
// publishes 10,000 events at once) makes room and misses nothing; one that
// takes nothing in that time is ended (its channel closed, Dropped reports
// true) and the event is not delivered to it. So a subscriber that stopped
// reading is dropped at the first event that finds its buffer full, having
// held the publishers up for one grace period, once: when one full
// subscriber has let a grace period pass, the others still full are
// dropped without more waiting. Publish blocks at most 4 grace periods in
// all. Every subscriber receives events in the order in which the Publish
// calls took effect.
func (b *Bus) Publish(typ string, data any) {
	ev := Event{Type: typ, TS: b.now().UTC(), Data: data, enc: &encoded{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	var full []*Subscription
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			full = append(full, s)
		}
	}
	if len(full) == 0 {
		return
	}
	var t *time.Timer
	var over <-chan time.Time // all the waiting one Publish may do
	if b.grace > 0 {
		t = time.NewTimer(b.grace)
		defer t.Stop()
		total := time.NewTimer(maxGraces * b.grace)
		defer total.Stop()
		over = total.C
	}
	waiting := t != nil
	for _, s := range full {
		if waiting {
			t.Reset(b.grace)
			select {
			case s.ch <- ev:
				continue
			case <-t.C: // the others had this grace period too
				waiting = false
			case <-over:
				waiting = false
			}
		}
		select {
		case s.ch <- ev:
			continue
		default:
		}
		// Too slow: end it so that it can never hold up anyone else again.
		s.dropped.Store(true)
		delete(b.subs, s)
		close(s.ch)
	}
}

// Subscribe registers a new subscriber whose channel holds up to buffer
// undelivered events (DefaultBuffer if buffer < 1). The subscriber receives
// events published after Subscribe returns. Call Close when done.
func (b *Bus) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	s := &Subscription{bus: b, ch: make(chan Event, buffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscribers returns the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Subscription is one subscriber's view of a Bus.
type Subscription struct {
	bus *Bus
	ch  chan Event
	// The channel is closed exactly when the subscription leaves bus.subs,
	// always under bus.mu, so Publish can never send on a closed channel.
	// dropped is set (before the close) under bus.mu too, but read without
	// it: a consumer asks after every event, and must not wait for a
	// Publish that is waiting for it.
	dropped atomic.Bool
	closed  bool // guarded by bus.mu
}

// C returns the channel events arrive on. It is closed when the
// subscription ends, either by Close or because it fell behind.
func (s *Subscription) C() <-chan Event { return s.ch }

// Close ends the subscription and closes its channel. Events still buffered
// in the channel can be drained after Close. Close is idempotent and safe to
// call concurrently with Publish.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed || s.dropped.Load() {
		return
	}
	s.closed = true
	delete(b.subs, s)
	close(s.ch)
}

// Dropped reports whether the subscription was ended by the bus because its
// buffer was full. It is false after a plain Close.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }
