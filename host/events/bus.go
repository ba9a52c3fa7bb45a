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

// DefaultGrace is how long a subscriber whose channel is full may take no
// event before it is dropped.
const DefaultGrace = time.Second

// MaxBacklog bounds the events queued for one subscriber beyond its
// channel: one that falls this far behind is dropped at once. It holds a
// 10,000-node sync's burst (the events' Data is shared, an entry costs
// about 64 bytes).
const MaxBacklog = 1 << 15

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

// SetGrace sets how long a subscriber whose channel is full may take no
// event before it is dropped (for subscriptions made after the call); 0
// drops it at the first event its channel cannot hold.
func (b *Bus) SetGrace(d time.Duration) {
	b.mu.Lock()
	b.grace = max(d, 0)
	b.mu.Unlock()
}

// Publish sends an event of type typ to every current subscriber, stamped
// with the current UTC time, and never waits for one. An event that finds
// a subscriber's channel full joins that subscriber's backlog, which a
// goroutine of the subscription feeds into the channel as it is read: a
// consumer that keeps reading but is behind after a burst (a sync that
// changed 10,000 nodes publishes 10,000 events at once) misses nothing. A
// subscriber whose channel stays full for the grace period (SetGrace)
// while it has a backlog, or whose backlog reaches MaxBacklog, is dropped:
// its channel is closed after what it holds, Dropped reports true, and its
// backlog is discarded. Every subscriber receives events in the order in
// which the Publish calls took effect.
func (b *Bus) Publish(typ string, data any) {
	ev := Event{Type: typ, TS: b.now().UTC(), Data: data, enc: &encoded{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.offer(ev)
	}
}

// offer hands ev to s without waiting. b.mu is held.
func (s *Subscription) offer(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.backlog) == 0 {
		select {
		case s.ch <- ev:
			return
		default:
		}
	}
	if len(s.backlog) >= MaxBacklog {
		s.endLocked(true)
		return
	}
	s.backlog = append(s.backlog, ev)
	if !s.pumping {
		s.pumping = true
		go s.pump()
	}
}

// pump moves s's backlog into its channel as the consumer reads, and drops
// s when the channel stays full for the grace period. It runs while s has
// a backlog.
func (s *Subscription) pump() {
	var t *time.Timer
	for {
		s.mu.Lock()
		if s.ended || len(s.backlog) == 0 {
			s.backlog, s.pumping = nil, false
			if s.closeCh {
				close(s.ch)
			}
			s.mu.Unlock()
			return
		}
		ev := s.backlog[0]
		s.mu.Unlock()

		sent := false
		select {
		case s.ch <- ev:
			sent = true
		default:
			if t == nil {
				t = time.NewTimer(s.grace)
				defer t.Stop()
			} else {
				t.Reset(s.grace)
			}
			select {
			case s.ch <- ev:
				sent = true
			case <-s.quit:
			case <-t.C:
			}
		}
		if sent {
			s.mu.Lock()
			if !s.ended {
				s.backlog[0] = Event{}
				s.backlog = s.backlog[1:]
			}
			s.mu.Unlock()
			continue
		}
		// Ended (Close, or dropped by Publish), or took nothing for the
		// grace period: drop it so that it holds nothing any longer.
		s.bus.mu.Lock()
		s.mu.Lock()
		s.endLocked(true)
		s.mu.Unlock()
		s.bus.mu.Unlock()
	}
}

// endLocked ends s: it leaves the bus, its backlog is discarded and its
// channel is closed (by the pump when one runs, as it may be sending).
// dropped says why (fell behind, or Close). s.bus.mu and s.mu are held.
func (s *Subscription) endLocked(dropped bool) {
	if s.ended {
		return
	}
	s.ended = true
	if dropped {
		s.dropped.Store(true)
	}
	delete(s.bus.subs, s)
	s.backlog = nil
	close(s.quit)
	if s.pumping {
		s.closeCh = true
		return
	}
	close(s.ch)
}

// Subscribe registers a new subscriber whose channel holds up to buffer
// undelivered events (DefaultBuffer if buffer < 1). The subscriber receives
// events published after Subscribe returns. Call Close when done.
func (b *Bus) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{bus: b, ch: make(chan Event, buffer), quit: make(chan struct{}), grace: b.grace}
	b.subs[s] = struct{}{}
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
	bus   *Bus
	ch    chan Event
	grace time.Duration
	quit  chan struct{} // closed when the subscription ends

	// mu guards the rest. The channel is sent on by offer (under mu, only
	// while there is no backlog) and by pump (which owns the backlog's
	// head), and closed exactly once: by endLocked when no pump runs, else
	// by the pump on its way out, so nothing ever sends on it closed.
	mu      sync.Mutex
	backlog []Event
	pumping bool
	ended   bool
	closeCh bool // the pump closes ch when it stops
	// dropped is set before the close; read without a lock (a consumer
	// asks after every event).
	dropped atomic.Bool
}

// C returns the channel events arrive on. It is closed when the
// subscription ends, either by Close or because it fell behind; what it
// holds then can still be read.
func (s *Subscription) C() <-chan Event { return s.ch }

// Close ends the subscription and closes its channel. Events still buffered
// in the channel can be drained after Close. Close is idempotent and safe to
// call concurrently with Publish.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(false)
}

// Dropped reports whether the subscription was ended because it fell
// behind (as opposed to Close).
func (s *Subscription) Dropped() bool { return s.dropped.Load() }
