package events

import (
	"encoding/json"
	"sync"
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

// Bus fans events out to subscribers. The zero value is not usable; call
// NewBus. A Bus is safe for concurrent use.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	// now is replaceable in tests.
	now func() time.Time
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{
		subs: make(map[*Subscription]struct{}),
		now:  time.Now,
	}
}

// Publish sends an event of type typ to every current subscriber, stamped
// with the current UTC time. It never blocks: a subscriber whose buffer is
// full is ended (its channel closed, Dropped reports true) and the event is
// not delivered to it. Every subscriber receives events in the order in which
// the Publish calls took effect.
func (b *Bus) Publish(typ string, data any) {
	ev := Event{Type: typ, TS: b.now().UTC(), Data: data, enc: &encoded{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			// Too slow: end it so that it can never hold up anyone else.
			s.dropped = true
			delete(b.subs, s)
			close(s.ch)
		}
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
	// Guarded by bus.mu. The channel is closed exactly when the
	// subscription leaves bus.subs, always under bus.mu, so Publish can
	// never send on a closed channel.
	dropped bool
	closed  bool
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
	if s.closed || s.dropped {
		return
	}
	s.closed = true
	delete(b.subs, s)
	close(s.ch)
}

// Dropped reports whether the subscription was ended by the bus because its
// buffer was full. It is false after a plain Close.
func (s *Subscription) Dropped() bool {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.dropped
}
