package scan

import (
	"context"
	"sync"
	"time"
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

// bucket returns a token bucket on c.
func (c *FakeClock) bucket(rate float64, burst int) *bucket {
	b := newBucket(rate, burst)
	b.now, b.sleep = c.Now, c.Sleep
	b.last = b.now()
	return b
}

// UseFakeLimiterClock makes the rate limiter of s's Discover calls run on a
// new FakeClock, which it returns.
func UseFakeLimiterClock(s *Scanner) *FakeClock {
	c := newFakeClock()
	s.newLimiter = c.bucket
	return c
}
