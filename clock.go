package retry

import "time"

// Clock is the source of time for a [Policy] and a [RateLimiter]. Every
// wait the library makes goes through it, so a test can replace real time
// with the fake clock in package retrytest.
//
// The methods mirror the time package. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time

	// NewTimer returns a timer that sends the time on its channel once d
	// has passed. A d of zero or less fires at once.
	NewTimer(d time.Duration) Timer

	// AfterFunc calls f in its own goroutine once d has passed, unless the
	// returned timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a single pending event of a [Clock], as made by NewTimer or
// AfterFunc.
type Timer interface {
	// C returns the channel the fire time is sent on. It is nil for a timer
	// made by AfterFunc.
	C() <-chan time.Time

	// Stop prevents the timer from firing. It reports whether it stopped
	// the timer, false meaning it had already fired or been stopped.
	Stop() bool
}

// RealClock is the [Clock] backed by the time package. It is the clock of
// a Policy whose Clock field is nil. Under testing/synctest it follows the
// bubble's fake time, as the time package does.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a timer backed by time.NewTimer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// AfterFunc returns a timer backed by time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
