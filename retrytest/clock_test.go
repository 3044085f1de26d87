package retrytest_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// safetyNet bounds a wait that should end at once, so that a broken test
// fails instead of hanging. It is the only use of real time in these tests.
func safetyNet(t *testing.T) context.Context {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)

	return ctx
}

// receive returns the value on ch, failing the test if the safety net ends
// first.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()

	select {
	case v := <-ch:
		return v
	case <-safetyNet(t).Done():
		require.FailNow(t, "nothing received before the safety net ended")
		var zero T
		return zero
	}
}

// assertEmpty fails the test if a value is waiting on ch.
func assertEmpty(t *testing.T, ch <-chan time.Time) {
	t.Helper()

	select {
	case v := <-ch:
		assert.Failf(t, "timer fired", "got %v", v)
	default:
	}
}

func TestNewClock(t *testing.T) {
	clk := retrytest.NewClock()

	assert.Equal(t, retrytest.Epoch, clk.Now())
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), clk.Now())
	assert.Zero(t, clk.Pending())
	assert.Empty(t, clk.Waits())
}

func TestZeroClock(t *testing.T) {
	var clk retrytest.Clock

	assert.True(t, clk.Now().IsZero())

	tm := clk.NewTimer(time.Second)
	clk.Advance(time.Second)
	assert.Equal(t, time.Time{}.Add(time.Second), receive(t, tm.C()))
}

func TestAdvanceFiresDueTimersInOrder(t *testing.T) {
	tests := []struct {
		name        string
		giveWaits   []time.Duration
		giveAdvance time.Duration
		wantFired   []int
		wantPending int
	}{
		{
			name:        "none_due",
			giveWaits:   []time.Duration{2 * time.Second, 3 * time.Second},
			giveAdvance: time.Second,
			wantPending: 2,
		},
		{
			name:        "exact_deadline",
			giveWaits:   []time.Duration{time.Second, time.Second + 1},
			giveAdvance: time.Second,
			wantFired:   []int{0},
			wantPending: 1,
		},
		{
			name:        "deadline_order",
			giveWaits:   []time.Duration{3 * time.Second, time.Second, 2 * time.Second},
			giveAdvance: 5 * time.Second,
			wantFired:   []int{1, 2, 0},
		},
		{
			name: "ties_in_creation_order",
			giveWaits: []time.Duration{
				2 * time.Second, time.Second, 2 * time.Second, 2 * time.Second,
			},
			giveAdvance: 2 * time.Second,
			wantFired:   []int{1, 0, 2, 3},
		},
		{
			name:        "zero_advance",
			giveWaits:   []time.Duration{time.Nanosecond},
			giveAdvance: 0,
			wantPending: 1,
		},
		{
			name:        "negative_advance",
			giveWaits:   []time.Duration{time.Nanosecond},
			giveAdvance: -time.Hour,
			wantPending: 1,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()

			// The callbacks run in this goroutine, so fired needs no lock.
			var fired []int
			for i, d := range tt.giveWaits {
				clk.AfterFunc(d, func() { fired = append(fired, i) })
			}
			clk.Advance(tt.giveAdvance)

			assert.Equal(t, tt.wantFired, fired)
			assert.Equal(t, tt.wantPending, clk.Pending())
			assert.Equal(t, retrytest.Epoch.Add(max(tt.giveAdvance, 0)), clk.Now())
		})
	}
}

func TestAdvanceSendsNewTime(t *testing.T) {
	clk := retrytest.NewClock()
	early := clk.NewTimer(time.Second)
	late := clk.NewTimer(3 * time.Second)

	// A timer passed by a longer move sees where the clock landed, not its
	// own deadline.
	clk.Advance(2 * time.Second)
	assert.Equal(t, retrytest.Epoch.Add(2*time.Second), receive(t, early.C()))
	assertEmpty(t, late.C())

	clk.Advance(5 * time.Second)
	assert.Equal(t, retrytest.Epoch.Add(7*time.Second), receive(t, late.C()))
	assertEmpty(t, early.C())
}

func TestAdvanceDoesNotBlockOnUnreadChannel(t *testing.T) {
	clk := retrytest.NewClock()
	tm := clk.NewTimer(time.Second)

	// Nobody reads the channel while the clock moves on and on.
	clk.Advance(time.Second)
	clk.Advance(time.Second)
	clk.Advance(time.Hour)

	assert.Equal(t, retrytest.Epoch.Add(time.Second), receive(t, tm.C()))
	assertEmpty(t, tm.C())
}

func TestNewTimerNotPositiveFiresAtOnce(t *testing.T) {
	tests := []struct {
		name string
		give time.Duration
	}{
		{name: "zero", give: 0},
		{name: "negative", give: -time.Second},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			tm := clk.NewTimer(tt.give)

			select {
			case v := <-tm.C():
				assert.Equal(t, retrytest.Epoch, v)
			default:
				assert.Fail(t, "no value on the channel")
			}
			assert.Zero(t, clk.Pending())
			assert.False(t, tm.Stop())
		})
	}
}

func TestAfterFuncNotPositiveRunsInNewGoroutine(t *testing.T) {
	tests := []struct {
		name string
		give time.Duration
	}{
		{name: "zero", give: 0},
		{name: "negative", give: -time.Second},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()

			// Holding mu while making the timer would deadlock if f ran in
			// this goroutine.
			var mu sync.Mutex
			done := make(chan struct{})
			mu.Lock()
			tm := clk.AfterFunc(tt.give, func() {
				mu.Lock()
				defer mu.Unlock()
				close(done)
			})
			mu.Unlock()

			receive(t, done)
			assert.Nil(t, tm.C())
			assert.False(t, tm.Stop())
			assert.Zero(t, clk.Pending())
		})
	}
}

func TestAfterFuncNil(t *testing.T) {
	clk := retrytest.NewClock()
	clk.AfterFunc(time.Second, nil)

	assert.Equal(t, 1, clk.Pending())
	assert.NotPanics(t, func() { clk.Advance(time.Second) })
	assert.Zero(t, clk.Pending())
}

func TestAfterFuncRunsInAdvance(t *testing.T) {
	clk := retrytest.NewClock()

	// No lock and no channel: the callbacks have run when Advance returns.
	var seen []time.Time
	var stopped bool
	var later retry.Timer
	clk.AfterFunc(time.Second, func() {
		seen = append(seen, clk.Now())
		stopped = later.Stop()
	})
	later = clk.AfterFunc(2*time.Second, func() {
		seen = append(seen, clk.Now())
	})
	clk.AfterFunc(3*time.Second, func() {
		seen = append(seen, clk.Now())

		// The clock has already moved, so a new timer is not due yet.
		clk.AfterFunc(time.Second, func() { seen = append(seen, clk.Now()) })
	})

	clk.Advance(3 * time.Second)
	assert.True(t, stopped, "a callback can stop a later timer due in the same move")
	assert.Equal(t, []time.Time{
		retrytest.Epoch.Add(3 * time.Second),
		retrytest.Epoch.Add(3 * time.Second),
	}, seen)
	assert.Equal(t, 1, clk.Pending())

	clk.Advance(time.Second)
	assert.Len(t, seen, 3)
	assert.Equal(t, retrytest.Epoch.Add(4*time.Second), seen[2])
}

func TestStop(t *testing.T) {
	tests := []struct {
		name        string
		giveAdvance time.Duration // how far to move before stopping
		giveStops   int
		wantStops   []bool
		wantFired   bool
	}{
		{
			name:      "before_fire",
			giveStops: 1,
			wantStops: []bool{true},
		},
		{
			name:        "after_fire",
			giveAdvance: time.Second,
			giveStops:   1,
			wantStops:   []bool{false},
			wantFired:   true,
		},
		{
			name:      "twice",
			giveStops: 2,
			wantStops: []bool{true, false},
		},
		{
			name:        "short_of_deadline",
			giveAdvance: time.Second - 1,
			giveStops:   1,
			wantStops:   []bool{true},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name+"/new_timer", func(t *testing.T) {
			clk := retrytest.NewClock()
			tm := clk.NewTimer(time.Second)

			clk.Advance(tt.giveAdvance)
			var stops []bool
			for range tt.giveStops {
				stops = append(stops, tm.Stop())
			}
			assert.Equal(t, tt.wantStops, stops)
			assert.Zero(t, clk.Pending())

			// A stopped timer stays silent however far the clock moves.
			clk.Advance(time.Hour)
			select {
			case <-tm.C():
				assert.True(t, tt.wantFired, "a stopped timer fired")
			default:
				assert.False(t, tt.wantFired, "the timer did not fire")
			}
		})

		t.Run(tt.name+"/after_func", func(t *testing.T) {
			clk := retrytest.NewClock()
			calls := 0
			tm := clk.AfterFunc(time.Second, func() { calls++ })

			clk.Advance(tt.giveAdvance)
			var stops []bool
			for range tt.giveStops {
				stops = append(stops, tm.Stop())
			}
			assert.Equal(t, tt.wantStops, stops)
			assert.Zero(t, clk.Pending())

			clk.Advance(time.Hour)
			wantCalls := 0
			if tt.wantFired {
				wantCalls = 1
			}
			assert.Equal(t, wantCalls, calls)
		})
	}
}

func TestPending(t *testing.T) {
	clk := retrytest.NewClock()
	assert.Zero(t, clk.Pending())

	a := clk.NewTimer(time.Second)
	clk.AfterFunc(2*time.Second, func() {})
	clk.NewTimer(3 * time.Second)
	clk.NewTimer(0)
	assert.Equal(t, 3, clk.Pending(), "a timer of zero fired at once")

	a.Stop()
	assert.Equal(t, 2, clk.Pending())

	clk.Advance(2 * time.Second)
	assert.Equal(t, 1, clk.Pending())

	clk.Advance(time.Second)
	assert.Zero(t, clk.Pending())
}

func TestBlockUntilWakesWhenTimerMade(t *testing.T) {
	ctx := safetyNet(t)
	clk := retrytest.NewClock()

	done := make(chan time.Time)
	go func() {
		tm := clk.NewTimer(time.Second)
		done <- <-tm.C()
	}()

	require.NoError(t, clk.BlockUntil(ctx, 1))
	clk.Advance(time.Second)
	assert.Equal(t, retrytest.Epoch.Add(time.Second), receive(t, done))
}

func TestBlockUntilCountsSeveral(t *testing.T) {
	ctx := safetyNet(t)
	clk := retrytest.NewClock()

	const workers = 3
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			tm := clk.NewTimer(time.Duration(i+1) * time.Second)
			<-tm.C()
		})
	}

	require.NoError(t, clk.BlockUntil(ctx, workers))
	assert.Equal(t, workers, clk.Pending())

	clk.Advance(workers * time.Second)
	wg.Wait()
	assert.Zero(t, clk.Pending())
}

func TestBlockUntilAlreadyReached(t *testing.T) {
	clk := retrytest.NewClock()
	clk.NewTimer(time.Second)

	// The count is checked first, so even an ended context does not matter.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	assert.NoError(t, clk.BlockUntil(ctx, 0))
	assert.NoError(t, clk.BlockUntil(ctx, -1))
	assert.NoError(t, clk.BlockUntil(ctx, 1))
}

func TestBlockUntilContextEnds(t *testing.T) {
	errGaveUp := errors.New("gave up")

	tests := []struct {
		name      string
		giveEarly bool // cancel before BlockUntil is called
	}{
		{name: "ended_before", giveEarly: true},
		{name: "ends_while_waiting"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			clk.NewTimer(time.Second)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)

			if tt.giveEarly {
				cancel(errGaveUp)
			}
			result := make(chan error)
			go func() { result <- clk.BlockUntil(ctx, 2) }()
			if !tt.giveEarly {
				cancel(errGaveUp)
			}

			assert.ErrorIs(t, receive(t, result), errGaveUp)
		})
	}
}

func TestBlockUntilDeadline(t *testing.T) {
	clk := retrytest.NewClock()
	ctx, cancel := context.WithDeadline(context.Background(), time.Time{})
	defer cancel()

	assert.ErrorIs(t, clk.BlockUntil(ctx, 1), context.DeadlineExceeded)
}

func TestAdvanceToNext(t *testing.T) {
	clk := retrytest.NewClock()

	d, ok := clk.AdvanceToNext()
	assert.False(t, ok)
	assert.Zero(t, d)
	assert.Equal(t, retrytest.Epoch, clk.Now())

	first := clk.NewTimer(2 * time.Second)
	second := clk.NewTimer(5 * time.Second)
	third := clk.NewTimer(5 * time.Second)

	tests := []struct {
		name      string
		wantMoved time.Duration
		wantOK    bool
		wantFired []retry.Timer
	}{
		{name: "first", wantMoved: 2 * time.Second, wantOK: true, wantFired: []retry.Timer{first}},
		{
			name:      "tie",
			wantMoved: 3 * time.Second,
			wantOK:    true,
			wantFired: []retry.Timer{second, third},
		},
		{name: "none_left"},
	}

	// The steps share one clock, so they run in order and not as subtests.
	now := retrytest.Epoch
	for _, tt := range tests {
		d, ok := clk.AdvanceToNext()
		assert.Equal(t, tt.wantMoved, d, tt.name)
		assert.Equal(t, tt.wantOK, ok, tt.name)

		now = now.Add(d)
		assert.Equal(t, now, clk.Now(), tt.name)
		for _, tm := range tt.wantFired {
			assert.Equal(t, now, receive(t, tm.C()), tt.name)
		}
	}
}

func TestSet(t *testing.T) {
	clk := retrytest.NewClock()
	tm := clk.NewTimer(time.Minute)

	// Going back is ignored.
	clk.Set(retrytest.Epoch.Add(-time.Hour))
	assert.Equal(t, retrytest.Epoch, clk.Now())
	clk.Set(retrytest.Epoch)
	assert.Equal(t, retrytest.Epoch, clk.Now())
	assert.Equal(t, 1, clk.Pending())

	target := retrytest.Epoch.Add(time.Hour)
	clk.Set(target)
	assert.Equal(t, target, clk.Now())
	assert.Equal(t, target, receive(t, tm.C()))
}

func TestWaits(t *testing.T) {
	clk := retrytest.NewClock()

	clk.NewTimer(time.Second)
	clk.AfterFunc(2*time.Second, func() {})
	clk.NewTimer(0).Stop()
	clk.NewTimer(-time.Second)
	clk.NewTimer(4 * time.Second).Stop()
	clk.Advance(time.Hour)

	want := []time.Duration{time.Second, 2 * time.Second, 0, -time.Second, 4 * time.Second}
	got := clk.Waits()
	assert.Equal(t, want, got)

	// The result is a copy.
	got[0] = time.Hour
	assert.Equal(t, want, clk.Waits())
}

// TestConcurrent makes, stops and waits on timers from several goroutines
// while the test moves the clock, then checks that every timer fired
// exactly when it was not stopped. It is meant for -race.
func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		rounds  = 50
	)
	ctx := safetyNet(t)
	clk := retrytest.NewClock()

	type outcome struct {
		tm      retry.Timer
		stopped bool
		calls   *atomic.Int32 // nil for a NewTimer timer
	}
	results := make([][]outcome, workers)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				d := time.Duration(1+(w+i)%5) * time.Millisecond

				// Every third round waits on its timer, so the moving
				// clock is what lets the worker go on.
				if i%3 == 0 {
					<-clk.NewTimer(d).C()
					continue
				}

				o := outcome{}
				if i%2 == 0 {
					o.tm = clk.NewTimer(d)
				} else {
					calls := new(atomic.Int32)
					o.calls = calls
					o.tm = clk.AfterFunc(d, func() { calls.Add(1) })
				}
				if i%4 == 1 {
					o.stopped = o.tm.Stop()
				}
				_ = clk.Pending()
				_ = clk.Now()
				results[w] = append(results[w], o)
			}
		})
	}

	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()

	// Move time until every worker is done, then far enough to fire every
	// timer still pending.
	for running := true; running; {
		select {
		case <-finished:
			running = false
		case <-ctx.Done():
			require.FailNow(t, "workers did not finish")
		default:
			clk.Advance(time.Millisecond)
		}
	}
	clk.Advance(time.Hour)
	require.Zero(t, clk.Pending())
	assert.Len(t, clk.Waits(), workers*rounds)

	for _, rs := range results {
		for _, o := range rs {
			fired := 0
			if o.calls != nil {
				fired = int(o.calls.Load())
			} else if len(o.tm.C()) == 1 {
				fired = 1
			}

			want := 1
			if o.stopped {
				want = 0
			}
			assert.Equal(t, want, fired)
		}
	}
}

func TestManyTimersFireInOrderAfterStops(t *testing.T) {
	clk := retrytest.NewClock()
	var fired []int
	timers := make([]interface{ Stop() bool }, 0, 1000)
	for i := range 1000 {
		d := time.Duration((i*7919)%1000+1) * time.Millisecond // a shuffled order
		timers = append(timers, clk.AfterFunc(d, func() { fired = append(fired, i) }))
	}
	for i := 0; i < 1000; i += 2 {
		if !timers[i].Stop() {
			t.Fatalf("timer %d was not pending", i)
		}
	}
	clk.Advance(time.Second)

	if len(fired) != 500 {
		t.Fatalf("fired %d timers, want 500", len(fired))
	}
	for k := 1; k < len(fired); k++ {
		prev, cur := (fired[k-1]*7919)%1000, (fired[k]*7919)%1000
		if prev >= cur || fired[k]%2 == 0 {
			t.Fatalf("timer %d fired after %d, out of order or stopped", fired[k], fired[k-1])
		}
	}
}

func TestRunSkipsEveryWait(t *testing.T) {
	clk := retrytest.NewClock()
	err := clk.Run(func() error {
		for _, d := range []time.Duration{time.Second, time.Minute, time.Hour} {
			<-clk.NewTimer(d).C()
		}
		return errors.New("done waiting")
	})
	if err == nil || err.Error() != "done waiting" {
		t.Fatalf("Run returned %v, want fn's error", err)
	}
	if got, want := clk.Now().Sub(retrytest.Epoch), time.Hour+time.Minute+time.Second; got != want {
		t.Fatalf("the clock moved %v, want %v", got, want)
	}
}
