package scan

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FakeClock is a clock for the rate limiter that never waits: a sleep
// moves the clock forward at once. Slept is the total of the sleeps.
type FakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func newFakeClock() *FakeClock { return &FakeClock{now: time.Unix(1_000_000, 0)} }

func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

// Slept is how long the limiter has waited in all.
func (c *FakeClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// limiter returns a rate limiter on c.
func (c *FakeClock) limiter(r float64, burst int) *limiter {
	return &limiter{lim: rate.NewLimiter(rate.Limit(r), burst), clock: c}
}

// UseFakeLimiterClock makes the rate limiter of s's Discover calls run on a
// new FakeClock, which it returns.
func UseFakeLimiterClock(s *Scanner) *FakeClock {
	c := newFakeClock()
	s.clock = c
	return c
}
