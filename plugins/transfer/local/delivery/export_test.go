package delivery

import "time"

// Test hooks. Set them before the first Send.

// SetClock replaces the clock of the progress interval and idle timeout.
func SetClock(b *Backend, c interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}) {
	b.clock = c
}

// SetBeforeWrite installs a function that runs before every chunk write,
// inside the time the idle timeout counts as writing.
func SetBeforeWrite(b *Backend, f func(nodeID string, chunk uint64)) { b.hooks.beforeWrite = f }

// SetMaxBatch sets the number of targets open at once.
func SetMaxBatch(b *Backend, n int) { b.hooks.maxBatch = n }

// WaitDetached waits for the goroutines the idle timeout abandoned.
func WaitDetached(b *Backend) { b.detached.Wait() }
