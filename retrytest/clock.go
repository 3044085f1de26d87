package retrytest

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/deb4e658/retry"
)

// Epoch is the instant every clock made by [NewClock] starts at:
// 2025-01-01T00:00:00Z. Tests should treat it as a constant.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var _ retry.Clock = (*Clock)(nil)

// Clock is a fake [retry.Clock] for tests. Its time moves only when the
// test calls [Clock.Advance], [Clock.AdvanceToNext] or [Clock.Set], and
// every timer whose deadline is reached then fires before the call returns.
//
// Timers fire in deadline order; timers with the same deadline fire in the
// order they were made. A fired timer sees the time the clock was moved to,
// not its own deadline: the clock is moved first and the due timers are
// fired after. A NewTimer timer receives that time on its channel, which
// has room for one value, so firing never waits for a reader. An AfterFunc
// callback runs in the goroutine that moved the clock, after the clock's
// lock is released, so it may call the clock's methods and has finished by
// the time the call that moved the clock returns. A callback that stops a
// later timer due in the same move keeps that timer from firing.
//
// Use [NewClock] to make one. The zero Clock is also usable; it starts at
// the zero time.Time instead of [Epoch]. A Clock is safe for concurrent use
// and starts no goroutine of its own, except to run an AfterFunc callback
// whose duration is zero or less (see [Clock.AfterFunc]).
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64    // creation counter, breaks ties between deadlines
	pending timerHeap // earliest deadline first, then by seq
	waits   []time.Duration
	created chan struct{} // made by BlockUntil, closed when a timer is made
}

// NewClock returns a fake clock that reads [Epoch] and has no timers.
func NewClock() *Clock {
	return &Clock{now: Epoch}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.now
}

// NewTimer returns a timer that sends the clock's time on its channel once
// the clock has moved d past the current time. A d of zero or less fires at
// once: the value is on the channel when NewTimer returns.
func (c *Clock) NewTimer(d time.Duration) retry.Timer {
	t := &timer{c: make(chan time.Time, 1), index: -1}
	c.add(t, d)

	return t
}

// AfterFunc returns a timer that calls f once the clock has moved d past
// the current time. A callback fired by a move of the clock runs in the
// goroutine that moved it, before that call returns. A d of zero or less
// calls f at once in a new goroutine instead, as time.AfterFunc would, so
// that a caller holding its own lock does not deadlock; the returned timer
// has then already fired. A nil f makes a timer that fires doing nothing.
//
// The returned timer's C method returns nil.
func (c *Clock) AfterFunc(d time.Duration, f func()) retry.Timer {
	if f == nil {
		f = func() {}
	}
	t := &timer{f: f, index: -1}
	c.add(t, d)

	return t
}

// add records the wait d, then schedules t d past now, or fires it at once
// when d is zero or less.
func (c *Clock) add(t *timer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()

	t.clk = c
	t.seq = c.seq
	c.seq++
	c.waits = append(c.waits, d)

	if d <= 0 {
		if t.f != nil {
			go t.f()
		} else {
			t.c <- c.now // the channel is new and empty, so this cannot block
		}
		return
	}

	// The heap orders ties by seq, so they keep their creation order.
	t.when = c.now.Add(d)
	heap.Push(&c.pending, t)

	// Wake every BlockUntil waiting for the count to grow.
	if c.created != nil {
		close(c.created)
		c.created = nil
	}
}

// Advance moves the clock forward by d and fires, in deadline order, every
// timer whose deadline is at or before the new time. A d of zero or less
// does not move the clock.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}

	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()

	c.fireDue()
}

// AdvanceToNext moves the clock to the deadline of its earliest pending
// timer and fires every timer due by then. It returns how far the clock
// moved and true, or zero and false, without moving, when no timer is
// pending.
func (c *Clock) AdvanceToNext() (time.Duration, bool) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return 0, false
	}

	// A concurrent move may already have passed the deadline; never go back.
	d := max(c.pending[0].when.Sub(c.now), 0)
	c.now = c.now.Add(d)
	c.mu.Unlock()

	c.fireDue()

	return d, true
}

// Set moves the clock forward to t and fires every timer due by then, like
// Advance(t.Sub(c.Now())). A t at or before the current time is ignored:
// the clock never goes back, as a monotonic clock would not.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if !t.After(c.now) {
		c.mu.Unlock()
		return
	}
	c.now = t
	c.mu.Unlock()

	c.fireDue()
}

// fireDue fires the due timers one at a time, releasing the lock around
// each callback so that it may use the clock, for example to stop a later
// timer or to make a new one.
func (c *Clock) fireDue() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 || c.pending[0].when.After(c.now) {
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.pending).(*timer)

		// Send under the lock, so that once Stop has reported false the
		// value is already on the channel. A timer fires once, so its
		// buffer is empty; the select only makes sure Advance can never
		// block on a reader.
		if t.c != nil {
			select {
			case t.c <- c.now:
			default:
			}
		}
		c.mu.Unlock()

		if t.f != nil {
			t.f()
		}
	}
}

// Pending returns the number of timers made and neither fired nor stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()

	return len(c.pending)
}

// BlockUntil waits until at least n timers are pending, which is how a test
// learns that the code under test has reached its wait. It wakes each time
// a timer is made rather than polling, and returns nil once the count is
// reached, or context.Cause(ctx) if ctx ends first. An n of zero or less
// returns nil at once.
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.pending) >= n {
			c.mu.Unlock()
			return nil
		}
		if c.created == nil {
			c.created = make(chan struct{})
		}
		created := c.created
		c.mu.Unlock()

		select {
		case <-created:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Waits returns every duration passed to NewTimer and AfterFunc so far, in
// call order, including those of zero or less and of timers later stopped.
// The slice is a copy the caller may keep and change.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()

	return slices.Clone(c.waits)
}

// timer is the retry.Timer of a Clock. Exactly one of c and f is set.
type timer struct {
	clk   *Clock
	when  time.Time
	seq   uint64
	index int // in the clock's heap; -1 when not pending
	c     chan time.Time
	f     func()
}

// C returns the timer's channel, nil for a timer made by AfterFunc.
func (t *timer) C() <-chan time.Time {
	return t.c
}

// Stop removes the timer from its clock's pending timers. It reports true
// if the timer was pending, and false if it had fired or been stopped.
func (t *timer) Stop() bool {
	c := t.clk
	c.mu.Lock()
	defer c.mu.Unlock()

	if t.index < 0 {
		return false
	}
	heap.Remove(&c.pending, t.index)

	return true
}

// compareTimers orders timers by deadline, then by creation.
func compareTimers(a, b *timer) int {
	return cmp.Or(a.when.Compare(b.when), cmp.Compare(a.seq, b.seq))
}

// timerHeap is a container/heap of pending timers, so that making,
// stopping and firing a timer cost O(log n) even with many pending.
type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return compareTimers(h[i], h[j]) < 0 }

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}

// Run calls fn on a goroutine of its own and, until fn returns, moves the
// clock to each timer as soon as one is pending, so that a retry schedule
// runs in no real time; it returns fn's error. Clock.Waits then tells the
// schedule. Every pending timer is fired, so code under test must not keep
// a timer pending while it works (a policy's AttemptTimeout, say: turn it
// off with retry.Unlimited), or Run fires that one too.
func (c *Clock) Run(fn func() error) error {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := fn()
		stop()
		done <- err
	}()

	for c.BlockUntil(ctx, 1) == nil {
		c.AdvanceToNext()
	}
	return <-done
}
