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

// processStart anchors the cheap readings of the real clock in callStart.
var processStart = time.Now()

// callStart is when a call started, read as cheaply as its clock allows: on
// RealClock it reads only the monotonic clock, which costs half what
// time.Now does (and a call that succeeds at once reads the clock only
// here), and turns the reading into a time.Time only when asked.
type callStart struct {
	real  bool
	since time.Duration // since processStart, on RealClock
	at    time.Time     // on any other clock
}

func readStart(clock Clock) callStart {
	if _, real := clock.(RealClock); real {
		return callStart{real: true, since: time.Since(processStart)}
	}
	return callStart{at: clock.Now()}
}

// now reads the clock of the call: on RealClock, as cheaply as readStart
// does (see callStart.time for what that costs in wall time).
func (c *call) now() time.Time {
	if c.start.real {
		return processStart.Add(time.Since(processStart))
	}
	return c.clock.Now()
}

// time returns the start. On RealClock its wall time is processStart's
// plus the monotonic time since, which strays from the system's wall clock
// if that was set since. That is harmless: the start and the other
// readings of call.now are compared with, or subtracted from, readings of
// the same clock, which Go does on the monotonic clock; the budget's
// seconds are all counted on this wall time alike; and ParseRetryAfter,
// which reads dates against the wall clock, gets the clock's own reading.
func (s callStart) time() time.Time {
	if s.real {
		return processStart.Add(s.since)
	}
	return s.at
}
