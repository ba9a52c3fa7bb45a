package delivery

import "time"

// clock is the time source of the progress interval and the idle timeout;
// tests inject a fake one (export_test.go).
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
