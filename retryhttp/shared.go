package retryhttp

import "time"

// SharedPauses keeps the pauses that hosts ask for where several processes
// see them, so that a rate-limit answer seen by one replica of a service
// holds back every replica, not only the callers in its own process.
// redislimit.Pauses keeps them in Redis. Implementations must be safe for
// concurrent use, measure time on one clock that every process shares, and
// return promptly when their store is slow or down (holding nothing back
// then is the safe answer: each process still keeps its own pauses).
type SharedPauses interface {
	// Pause closes key for d from now, unless it is closed for longer
	// already.
	Pause(key string, d time.Duration)

	// PausedFor returns how long key stays closed from now: 0 when open.
	PausedFor(key string) time.Duration
}

// WithSharedPauses makes the transport share its per-host pauses through
// p: before each attempt it asks p whether another process was told to
// hold back from the host, and it tells p of every pause a host asks for (a
// rate-limit or 503 answer with a server delay, or a remaining count of
// zero). The release of callers held back is spread in each process as
// for its own pauses. Learned pacing (for hosts that do not state their
// quota) stays per process: each learns the share of the rate it gets.
func WithSharedPauses(p SharedPauses) Option {
	return func(t *Transport) { t.shared = p }
}
