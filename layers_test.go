package retry_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
)

// threeLayers runs the example of the docs: a job of 5 attempts calls a tool
// of 3 attempts, which calls a request of 5 attempts, against a service that
// always fails. It returns how many requests reached the service.
func threeLayers(t *testing.T, retryInner bool) int {
	var calls atomic.Int32
	layer := func(attempts int) *retry.Policy {
		return &retry.Policy{MaxAttempts: attempts, InitialDelay: time.Millisecond,
			Jitter: retry.NoJitter, RetryInnerGiveUps: retryInner}
	}
	job, tool, request := layer(5), layer(3), layer(5)
	synctest.Test(t, func(t *testing.T) {
		err := job.Do(t.Context(), func(ctx context.Context) error {
			return tool.Do(ctx, func(ctx context.Context) error {
				return request.Do(ctx, func(ctx context.Context) error {
					calls.Add(1)
					return &retry.StatusError{StatusCode: 503}
				})
			})
		})
		assert.ErrorIs(t, err, retry.ErrExhausted)
	})
	return int(calls.Load())
}

func TestNestedLoopsDoNotMultiply(t *testing.T) {
	assert.Equal(t, 5, threeLayers(t, false), "only the innermost layer retries")
	assert.Equal(t, 75, threeLayers(t, true), "5 × 3 × 5 when every layer retries")
}

func TestNestedLoopsSeeDepthAndAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []string
		var depths []int
		hooks := retry.Hooks{OnRetry: func(_ context.Context, e retry.Event) {
			depths = append(depths, e.Depth)
		}}
		outer := &retry.Policy{MaxAttempts: 2, Hooks: hooks, RetryInnerGiveUps: true}
		inner := &retry.Policy{MaxAttempts: 2, Hooks: hooks}
		assert.Equal(t, 0, retry.DepthFrom(t.Context()))
		_ = outer.Do(t.Context(), func(ctx context.Context) error {
			outerAttempt := retry.AttemptFrom(ctx)
			return inner.Do(ctx, func(ctx context.Context) error {
				seen = append(seen, fmt.Sprintf("outer %d inner %d depth %d", outerAttempt,
					retry.AttemptFrom(ctx), retry.DepthFrom(ctx)))
				return retry.Retryable(errTransient)
			})
		})
		assert.Equal(t, []string{"outer 1 inner 1 depth 2", "outer 1 inner 2 depth 2",
			"outer 2 inner 1 depth 2", "outer 2 inner 2 depth 2"}, seen)
		assert.Equal(t, []int{2, 1, 2}, depths)
	})
}

func TestInnerLoopHonoursOuterTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		outer := &retry.Policy{TimeLimit: 10 * time.Second, Jitter: retry.NoJitter}
		inner := &retry.Policy{MaxAttempts: retry.Unlimited, Jitter: retry.NoJitter}
		innerCalls := 0
		err := outer.Do(t.Context(), func(ctx context.Context) error {
			return inner.Do(ctx, func(context.Context) error {
				innerCalls++
				return retry.Retryable(errTransient)
			})
		})
		// Inner waits 1+2+4 = 7s; the next (8s) would pass the outer limit.
		assert.Equal(t, 4, innerCalls)
		assert.Equal(t, 7*time.Second, time.Since(start))
		assert.ErrorIs(t, err, retry.ErrTimeLimit)
	})
}

func TestOuterHonoursInnerServerDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		outer := &retry.Policy{MaxServerDelay: time.Hour, Jitter: retry.NoJitter}
		inner := &retry.Policy{MaxServerDelay: time.Second}
		calls := 0
		err := outer.Do(t.Context(), func(ctx context.Context) error {
			return inner.Do(ctx, func(context.Context) error {
				if calls++; calls == 1 {
					return retry.RetryAfter(errTransient, 30*time.Second)
				}
				return nil
			})
		})
		require.NoError(t, err)
		assert.Equal(t, 30*time.Second, time.Since(start), "the outer loop waited for it")
	})
}

func TestOverloadedStopsEveryLayer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		p := &retry.Policy{RetryInnerGiveUps: true}
		err := p.Do(t.Context(), func(ctx context.Context) error {
			return p.Do(ctx, func(context.Context) error {
				calls++
				return fmt.Errorf("shedding load: %w", retry.ErrOverloaded)
			})
		})
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, retry.ErrOverloaded)
		assert.NotErrorIs(t, err, retry.ErrRetryBudget, "the server said so, not the budget")
	})
}

func TestBudgetCapsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget, err := retry.NewBudget(0.1, 0.5) // floor: 5 retries per 10s
		require.NoError(t, err)
		p := &retry.Policy{Budget: budget, InitialDelay: retry.NoDelay, MaxAttempts: 3}
		ok := func(context.Context) error { return nil }
		down := func(context.Context) error { return &retry.StatusError{StatusCode: 503} }

		// 20 successes earn 2 retries on top of the floor of 5.
		for range 20 {
			require.NoError(t, p.Do(t.Context(), ok))
		}
		assert.Equal(t, 7, budget.Available(time.Now()))

		var calls int
		counting := func(ctx context.Context) error { calls++; return down(ctx) }
		err1 := p.Do(t.Context(), counting) // 3 calls, 2 retries
		err2 := p.Do(t.Context(), counting) // 3 calls, 2 retries
		err3 := p.Do(t.Context(), counting) // 3 calls, 2 retries
		err4 := p.Do(t.Context(), counting) // 2 calls: 1 retry left
		err5 := p.Do(t.Context(), counting) // 1 call: none left
		assert.Equal(t, 12, calls)
		assert.ErrorIs(t, err3, retry.ErrExhausted)
		assert.ErrorIs(t, err4, retry.ErrRetryBudget)
		assert.ErrorIs(t, err5, retry.ErrRetryBudget)
		assert.ErrorIs(t, err5, retry.ErrOverloaded, "outer layers stop too")
		assert.Contains(t, err5.Error(), "retry budget spent, client side")
		assert.NotErrorIs(t, err1, retry.ErrRetryBudget)
		assert.NotErrorIs(t, err2, retry.ErrRetryBudget)

		// Ten seconds on, the window has forgotten: the floor is back.
		time.Sleep(10 * time.Second)
		assert.Equal(t, 5, budget.Available(time.Now()))
	})
}

func TestNewBudgetRefusesBadArguments(t *testing.T) {
	for _, tt := range []struct {
		name               string
		giveRatio, giveMin float64
		wantErr            string
	}{
		{"negative_ratio", -0.1, 1, "retry: budget ratio -0.1"},
		{"nan_ratio", nanFloat(), 1, "budget ratio NaN"},
		{"negative_floor", 0.1, -1, "budget minPerSecond -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := retry.NewBudget(tt.giveRatio, tt.giveMin)
			assert.Nil(t, b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func nanFloat() float64 { var z float64; return z / z }

func TestAdaptiveLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := retry.NewAdaptiveLimiter(1, 100, 1)
		require.NoError(t, err)
		p := &retry.Policy{Limiter: lim, InitialDelay: retry.NoDelay, MaxAttempts: 2}
		throttled := func(context.Context) error { return &retry.StatusError{StatusCode: 429} }
		told := func(context.Context) error {
			return &retry.StatusError{StatusCode: 429,
				Header: map[string][]string{"Retry-After": {"1"}}}
		}

		// Two throttles 20ms apart tell of one overload: 100 → 50, once.
		_ = p.Do(t.Context(), throttled)
		assert.Equal(t, 50.0, lim.Rate())
		time.Sleep(time.Second)
		_ = p.Do(t.Context(), told) // the server said how long: rate stays
		assert.Equal(t, 50.0, lim.Rate())
		for range 10 {
			require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))
		}
		assert.InDelta(t, 50+10*99.0/50, lim.Rate(), 1e-9, "climbs back by steps")
		for range 10 {
			time.Sleep(5 * time.Second) // separate overloads: each halves
			_ = p.Do(t.Context(), throttled)
		}
		assert.Equal(t, 1.0, lim.Rate(), "never below the floor")

		// At 1 call a second, the limiter spaces the calls that far apart.
		start := time.Now()
		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))
		require.NoError(t, p.Do(t.Context(), func(context.Context) error { return nil }))
		assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	})
}

func TestNewAdaptiveLimiterRefusesBadArguments(t *testing.T) {
	for _, tt := range []struct {
		name             string
		giveMin, giveMax float64
		giveBurst        int
		wantErr          string
	}{
		{"zero_min", 0, 10, 1, "minPerSecond 0 must be positive"},
		{"inf_max", 1, 1 / nanFloat(), 1, "maxPerSecond NaN"},
		{"min_above_max", 5, 1, 1, "minPerSecond 5 is above maxPerSecond 1"},
		{"zero_burst", 1, 5, 0, "burst 0 must be at least 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := retry.NewAdaptiveLimiter(tt.giveMin, tt.giveMax, tt.giveBurst)
			assert.Nil(t, lim)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestInnerGiveUpWithoutNesting(t *testing.T) {
	// An *Error from an earlier, separate call is still a give-up.
	earlier := (&retry.Policy{MaxAttempts: 1}).Do(context.Background(),
		func(context.Context) error { return retry.Retryable(errTransient) })
	require.ErrorIs(t, earlier, retry.ErrExhausted)
	calls := 0
	err := (&retry.Policy{}).Do(context.Background(), func(context.Context) error {
		calls++
		return errors.Join(errors.New("tool failed"), earlier)
	})
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, retry.ErrNotRetryable)
}

// denyAll is a RetryBudget kept elsewhere (a shared store, say) that is
// spent.
type denyAll struct{ deposits int }

func (d *denyAll) Deposit(time.Time)       { d.deposits++ }
func (d *denyAll) Withdraw(time.Time) bool { return false }

func TestAnyRetryBudgetCanServe(t *testing.T) {
	budget := &denyAll{}
	p := &retry.Policy{Budget: budget, InitialDelay: retry.NoDelay}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.Retryable(errTransient)
	})
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, retry.ErrRetryBudget)
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Equal(t, 1, budget.deposits)

	var none *retry.Budget // a nil *Budget in the field allows every retry
	p = &retry.Policy{Budget: none, InitialDelay: retry.NoDelay, MaxAttempts: 3}
	calls = 0
	_ = p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.Retryable(errTransient)
	})
	assert.Equal(t, 3, calls)
}
