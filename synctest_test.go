package retry_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
)

// Inside a synctest bubble the real clock is the bubble's fake time, so a
// policy with no Clock of its own runs its schedule in no real time, and
// context deadlines line up with it.

func TestSynctestDefaultSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := &retry.Policy{Jitter: retry.NoJitter}
		err := p.Do(t.Context(), func(context.Context) error {
			return retry.Retryable(errTransient)
		})
		assert.ErrorIs(t, err, retry.ErrExhausted)
		assert.Equal(t, 15*time.Second, time.Since(start))
	})
}

func TestSynctestWaitPastDeadlineIsNotStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		start := time.Now()
		calls := 0
		err := (&retry.Policy{Jitter: retry.NoJitter}).Do(ctx, func(context.Context) error {
			calls++
			return retry.Retryable(errTransient)
		})

		// Waits of 1s then 2s: the second would end at 3s, past the deadline.
		assert.Equal(t, 2, calls)
		assert.Equal(t, time.Second, time.Since(start), "returned without waiting")
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, errTransient)
	})
}

func TestSynctestCallerDeadlineDuringAttemptIsFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		calls := 0
		err := retry.Default().Do(ctx, func(ctx context.Context) error {
			calls++
			<-ctx.Done()
			return ctx.Err()
		})
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestSynctestAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := &retry.Policy{Jitter: retry.NoJitter, AttemptTimeout: 3 * time.Second}
		err := p.Do(t.Context(), func(ctx context.Context) error {
			if retry.AttemptFrom(ctx) < 3 {
				deadline, ok := ctx.Deadline()
				assert.True(t, ok)
				assert.Equal(t, time.Now().Add(3*time.Second), deadline)
				<-ctx.Done()
				assert.ErrorIs(t, context.Cause(ctx), retry.ErrAttemptTimeout)
				return ctx.Err()
			}
			return nil
		})
		require.NoError(t, err)
		// Two timed-out attempts of 3s, waits of 1s and 2s.
		assert.Equal(t, 9*time.Second, time.Since(start))
	})
}

func TestSynctestCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		time.AfterFunc(500*time.Millisecond, cancel)
		err := (&retry.Policy{Jitter: retry.NoJitter}).Do(ctx, func(context.Context) error {
			return retry.Retryable(errTransient)
		})
		assert.ErrorIs(t, err, retry.ErrCanceled)
		assert.Equal(t, 500*time.Millisecond, time.Since(start))
	})
}

func TestSynctestLimiterSpacesCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewRateLimiter(100*time.Millisecond, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim}
		start := time.Now()
		var at []time.Duration
		for range 5 {
			require.NoError(t, p.Do(t.Context(), func(context.Context) error {
				at = append(at, time.Since(start))
				return nil
			}))
		}
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond,
			300 * time.Millisecond, 400 * time.Millisecond}, at)
	})
}

func TestSynctestLimiterWaitPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewRateLimiter(time.Second, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim}
		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))

		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		called := false
		err = p.Do(ctx, func(context.Context) error { called = true; return nil })
		assert.False(t, called)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.Zero(t, time.Since(start), "refused at once")

		// The refused caller gave its slot back: the next one waits 1s, not 2s.
		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestSynctestLimiterSharedAcrossGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewRateLimiter(100*time.Millisecond, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim, InitialDelay: retry.NoDelay}
		start := time.Now()
		calls := make(chan time.Duration, 100)
		for range 10 {
			go func() {
				n := 0
				_ = p.Do(t.Context(), func(context.Context) error {
					calls <- time.Since(start)
					if n++; n < 3 {
						return retry.Retryable(errTransient) // retries wait too
					}
					return nil
				})
			}()
		}
		synctest.Wait()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		close(calls)

		seen := map[time.Duration]bool{}
		for at := range calls {
			assert.False(t, seen[at], "two calls at %v", at)
			seen[at] = true
		}
		assert.Len(t, seen, 30)
		assert.True(t, seen[2900*time.Millisecond], "the 30th call at 2.9s")
	})
}

func TestSynctestContextCauseIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cause := errors.New("deploy started")
		ctx, cancel := context.WithCancelCause(t.Context())
		time.AfterFunc(time.Second/2, func() { cancel(cause) })
		err := (&retry.Policy{}).Do(ctx, func(context.Context) error {
			return retry.Retryable(errTransient)
		})
		assert.ErrorIs(t, err, cause)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, errTransient)
		assert.Contains(t, err.Error(), "deploy started")
	})
}

// refusingLimiter is a Limiter whose backing store is down.
type refusingLimiter struct{ err error }

func (l refusingLimiter) Reserve(time.Time) (time.Duration, func(time.Time), error) {
	return 0, nil, l.err
}

func TestLimiterErrorStopsTheCall(t *testing.T) {
	down := errors.New("quota store unreachable")
	called := false
	err := (&retry.Policy{Limiter: refusingLimiter{down}}).Do(t.Context(),
		func(context.Context) error { called = true; return nil })
	assert.False(t, called)
	assert.ErrorIs(t, err, retry.ErrLimiter)
	assert.ErrorIs(t, err, down)
}

func TestSynctestLimiterWaitCanceledGivesSlotBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewRateLimiter(time.Second, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim}
		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))

		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		err = p.Do(ctx, func(context.Context) error { return nil })
		assert.ErrorIs(t, err, retry.ErrCanceled)
		assert.Equal(t, 200*time.Millisecond, time.Since(start))

		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))
		assert.Equal(t, time.Second, time.Since(start), "the canceled slot was reused")
	})
}

func TestSynctestLimiterWaitPastTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewRateLimiter(10*time.Second, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim, TimeLimit: 5 * time.Second,
			InitialDelay: retry.NoDelay}
		calls := 0
		err = p.Do(t.Context(), func(context.Context) error {
			calls++
			return retry.Retryable(errTransient)
		})
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, retry.ErrTimeLimit)
		assert.ErrorIs(t, err, errTransient)
	})
}
