package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
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

var errTransient = errors.New("transient failure")

// flaky returns a function that fails with err on its first n calls and
// then succeeds, and records the attempt number each call saw.
func flaky(n int, err error) (func(context.Context) error, *[]int) {
	var seen []int
	return func(ctx context.Context) error {
		seen = append(seen, retry.AttemptFrom(ctx))
		if len(seen) <= n {
			return err
		}
		return nil
	}, &seen
}

// drive runs do while the fake clock skips every wait it makes.
func drive(t *testing.T, clk *retrytest.Clock, do func() error) error {
	t.Helper()
	return clk.Run(do)
}

// testPolicy is the default schedule without jitter on a fake clock.
func testPolicy(clk *retrytest.Clock) *retry.Policy {
	return &retry.Policy{Clock: clk, Jitter: retry.NoJitter, AttemptTimeout: retry.Unlimited}
}

func TestDoSucceedsFirstTime(t *testing.T) {
	clk := retrytest.NewClock()
	fn, seen := flaky(0, nil)
	require.NoError(t, testPolicy(clk).Do(context.Background(), fn))
	assert.Equal(t, []int{1}, *seen)
	assert.Empty(t, clk.Waits())
}

func TestDoRetriesTransientErrors(t *testing.T) {
	clk := retrytest.NewClock()
	fn, seen := flaky(2, retry.Retryable(errTransient))
	err := drive(t, clk, func() error { return testPolicy(clk).Do(context.Background(), fn) })
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, *seen)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clk.Waits())
}

func TestDoGivesUpAfterMaxAttempts(t *testing.T) {
	clk := retrytest.NewClock()
	last := &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
	calls := 0
	err := drive(t, clk, func() error {
		return testPolicy(clk).Do(context.Background(), func(context.Context) error {
			calls++
			return fmt.Errorf("calling service: %w", last)
		})
	})

	var rerr *retry.Error
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, 5, calls)
	assert.Equal(t, 5, rerr.Attempts)
	assert.Equal(t, 15*time.Second, rerr.Elapsed)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.ErrorIs(t, err, last)
	var status *retry.StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, 503, status.StatusCode)
	assert.Equal(t, "retry: gave up after 5 attempts in 15s (attempts exhausted): "+
		"calling service: http status 503 Service Unavailable", err.Error())
	// No wait follows the last attempt.
	assert.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second}, clk.Waits())
}

func TestDoStopsOnFinalError(t *testing.T) {
	clk := retrytest.NewClock()
	final := errors.New("bad request")
	fn, seen := flaky(10, final)
	err := testPolicy(clk).Do(context.Background(), fn)
	assert.ErrorIs(t, err, retry.ErrNotRetryable)
	assert.ErrorIs(t, err, final)
	assert.Equal(t, []int{1}, *seen)
	assert.Empty(t, clk.Waits())
}

func TestMarksWorkBehindWrapping(t *testing.T) {
	base := errors.New("base")
	tests := []struct {
		name      string
		giveErr   error
		wantCalls int
	}{
		{"permanent", retry.Permanent(errTransient), 1},
		{"permanent_wrapped", fmt.Errorf("op: %w", retry.Permanent(errTransient)), 1},
		{"permanent_joined", errors.Join(base, retry.Permanent(base)), 1},
		{"permanent_beats_status", retry.Permanent(&retry.StatusError{StatusCode: 503}), 1},
		{"retryable", retry.Retryable(base), 3},
		{"retryable_wrapped", fmt.Errorf("op: %w", retry.Retryable(base)), 3},
		{"retryable_joined", errors.Join(errors.New("x"), retry.Retryable(base)), 3},
		{"retryable_beats_classifier", retry.Retryable(&retry.StatusError{StatusCode: 400}),
			3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			p := testPolicy(clk)
			p.MaxAttempts = 3
			calls := 0
			err := drive(t, clk, func() error {
				return p.Do(context.Background(), func(context.Context) error {
					calls++
					return tt.giveErr
				})
			})
			assert.Equal(t, tt.wantCalls, calls)
			assert.Error(t, err)
		})
	}
}

func TestMarksNilIsNil(t *testing.T) {
	assert.NoError(t, retry.Permanent(nil))
	assert.NoError(t, retry.Retryable(nil))
	assert.NoError(t, retry.RetryAfter(nil, time.Second))
}

func TestPermanentStopsOnlyItsOwnLoop(t *testing.T) {
	clk := retrytest.NewClock()
	inner := testPolicy(clk)
	outer := testPolicy(clk)
	outer.MaxAttempts = 3
	// The outer layer retries what the inner layer could not fix.
	outer.Classifier = func(err error) retry.Class {
		if errors.Is(err, errTransient) {
			return retry.Transient
		}
		return retry.Unknown
	}

	innerCalls := 0
	err := drive(t, clk, func() error {
		return outer.Do(context.Background(), func(ctx context.Context) error {
			return inner.Do(ctx, func(context.Context) error {
				innerCalls++
				return retry.Permanent(errTransient)
			})
		})
	})

	assert.Equal(t, 3, innerCalls, "each outer attempt ran the inner loop once")
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.ErrorIs(t, err, errTransient)
	var rerr *retry.Error
	require.ErrorAs(t, err, &rerr)
	assert.NotContains(t, fmt.Sprintf("%T", rerr.Last), "mark")
}

func TestRetryAfterMark(t *testing.T) {
	tests := []struct {
		name      string
		giveDelay time.Duration
		giveInit  time.Duration
		wantWait  time.Duration
	}{
		{"server_longer", 5 * time.Second, time.Second, 5 * time.Second},
		{"backoff_longer", 100 * time.Millisecond, time.Second, time.Second},
		{"zero_has_floor", 0, retry.NoDelay, retry.MinServerDelay},
		{"negative_has_floor", -time.Hour, retry.NoDelay, retry.MinServerDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			p := testPolicy(clk)
			p.InitialDelay = tt.giveInit
			fn, _ := flaky(1, retry.RetryAfter(errTransient, tt.giveDelay))
			require.NoError(t, drive(t, clk, func() error {
				return p.Do(context.Background(), fn)
			}))
			assert.Equal(t, []time.Duration{tt.wantWait}, clk.Waits())
		})
	}
}

func TestServerDelayTooLongStopsAtOnce(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.MaxServerDelay = time.Minute
	fn, seen := flaky(5, retry.RetryAfter(errTransient, 10*time.Minute))

	err := p.Do(context.Background(), fn)
	var rerr *retry.Error
	require.ErrorAs(t, err, &rerr)
	assert.ErrorIs(t, err, retry.ErrServerDelay)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, 10*time.Minute, rerr.ServerDelay)
	assert.Equal(t, []int{1}, *seen)
	assert.Empty(t, clk.Waits())
	assert.Contains(t, err.Error(), "asked for 10m0s")
}

func TestStatusErrorRetryAfterHeader(t *testing.T) {
	clk := retrytest.NewClock()
	h := http.Header{}
	h.Set("Retry-After", "7")
	fn, _ := flaky(1, &retry.StatusError{StatusCode: 429, Header: h})
	require.NoError(t, drive(t, clk, func() error {
		return testPolicy(clk).Do(context.Background(), fn)
	}))
	assert.Equal(t, []time.Duration{7 * time.Second}, clk.Waits())
}

func TestStatusErrorRetryAfterDate(t *testing.T) {
	clk := retrytest.NewClock()
	h := http.Header{}
	h.Set("Retry-After", clk.Now().Add(3*time.Second).Format(http.TimeFormat))
	fn, _ := flaky(1, &retry.StatusError{StatusCode: 503, Header: h})
	require.NoError(t, drive(t, clk, func() error {
		return testPolicy(clk).Do(context.Background(), fn)
	}))
	assert.Equal(t, []time.Duration{3 * time.Second}, clk.Waits())
}

func TestContextDoneBeforeFirstAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fn, seen := flaky(0, nil)
	err := testPolicy(retrytest.NewClock()).Do(ctx, fn)
	assert.Empty(t, *seen)
	assert.ErrorIs(t, err, retry.ErrCanceled)
	assert.ErrorIs(t, err, context.Canceled)
	var rerr *retry.Error
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, 0, rerr.Attempts)
	assert.NoError(t, rerr.Last)
}

func TestCancelDuringWaitReturnsAtOnce(t *testing.T) {
	clk := retrytest.NewClock()
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- testPolicy(clk).Do(ctx, func(context.Context) error {
			return retry.Retryable(errTransient)
		})
	}()

	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	cancel(cause)
	err := <-done

	assert.ErrorIs(t, err, retry.ErrCanceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, retrytest.Epoch, clk.Now(), "no time passed")
	assert.Equal(t, 0, clk.Pending(), "the wait's timer was stopped")
}

func TestDoneContextWinsOverReadyTimer(t *testing.T) {
	for range 50 {
		clk := retrytest.NewClock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- testPolicy(clk).Do(ctx, func(context.Context) error {
				return retry.Retryable(errTransient)
			})
		}()
		require.NoError(t, clk.BlockUntil(context.Background(), 1))
		cancel()
		clk.Advance(time.Second) // the timer is ready too
		require.ErrorIs(t, <-done, retry.ErrCanceled)
	}
}

func TestTimeLimits(t *testing.T) {
	tests := []struct {
		name         string
		givePolicy   retry.Policy
		wantAttempts int
		wantWaits    []time.Duration
	}{
		// The first attempt takes 10s; after it the waits are 1s, 2s, 4s.
		{"time_limit_counts_from_call", retry.Policy{TimeLimit: 12 * time.Second}, 2,
			[]time.Duration{time.Second}},
		{"failure_limit_counts_from_failure", retry.Policy{FailureTimeLimit: 4 * time.Second},
			3, []time.Duration{time.Second, 2 * time.Second}},
		{"both_first_wins", retry.Policy{TimeLimit: 11 * time.Second,
			FailureTimeLimit: time.Hour}, 2, []time.Duration{time.Second}},
		{"time_limit_exact_fit", retry.Policy{TimeLimit: 13 * time.Second}, 3,
			[]time.Duration{time.Second, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			p := tt.givePolicy
			p.Clock, p.Jitter, p.AttemptTimeout = clk, retry.NoJitter, retry.Unlimited
			p.MaxAttempts = retry.Unlimited
			calls := 0
			err := drive(t, clk, func() error {
				return p.Do(context.Background(), func(context.Context) error {
					if calls++; calls == 1 {
						clk.Advance(10 * time.Second) // a slow first attempt
					}
					return retry.Retryable(errTransient)
				})
			})
			assert.ErrorIs(t, err, retry.ErrTimeLimit)
			assert.ErrorIs(t, err, errTransient)
			assert.Equal(t, tt.wantAttempts, calls)
			assert.Equal(t, tt.wantWaits, clk.Waits())
		})
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, Jitter: retry.NoJitter, AttemptTimeout: 5 * time.Second}
	var causes []error
	done := make(chan error, 1)
	go func() {
		done <- p.Do(context.Background(), func(ctx context.Context) error {
			if retry.AttemptFrom(ctx) == 1 {
				<-ctx.Done() // hang until the attempt times out
				causes = append(causes, context.Cause(ctx))
				return ctx.Err()
			}
			return nil
		})
	}()

	require.NoError(t, clk.BlockUntil(context.Background(), 1)) // attempt timeout
	clk.Advance(5 * time.Second)
	require.NoError(t, clk.BlockUntil(context.Background(), 1)) // backoff wait
	clk.Advance(time.Second)

	require.NoError(t, <-done)
	assert.Equal(t, []error{retry.ErrAttemptTimeout}, causes)
}

func TestHooks(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.MaxAttempts = 3
	var events []retry.Event
	var gaveUp []*retry.Error
	p.Hooks = retry.Hooks{
		OnRetry:  func(_ context.Context, e retry.Event) { events = append(events, e) },
		OnGiveUp: func(_ context.Context, e *retry.Error) { gaveUp = append(gaveUp, e) },
	}
	h := http.Header{"Retry-After": {"3"}}
	status := &retry.StatusError{StatusCode: 429, Header: h}

	err := drive(t, clk, func() error {
		return p.Do(context.Background(), func(context.Context) error { return status })
	})

	require.Len(t, events, 2)
	assert.Equal(t, retry.Event{Attempt: 1, MaxAttempts: 3, Depth: 1, Err: status,
		Reason: "transient", Delay: 3 * time.Second, ServerDelay: 3 * time.Second},
		events[0])
	assert.Equal(t, retry.Event{Attempt: 2, MaxAttempts: 3, Depth: 1, Err: status,
		Reason: "transient", Delay: 3 * time.Second, ServerDelay: 3 * time.Second,
		Elapsed: 3 * time.Second}, events[1])
	require.Len(t, gaveUp, 1)
	assert.Same(t, gaveUp[0], err)
}

func TestUnlimitedNumbersAttemptsTheSameWay(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.MaxAttempts = retry.Unlimited
	var events []retry.Event
	p.Hooks.OnRetry = func(_ context.Context, e retry.Event) { events = append(events, e) }
	fn, seen := flaky(7, retry.Retryable(errTransient))
	require.NoError(t, drive(t, clk, func() error { return p.Do(context.Background(), fn) }))
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, *seen)
	require.Len(t, events, 7)
	for i, e := range events {
		assert.Equal(t, i+1, e.Attempt)
		assert.Equal(t, retry.Unlimited, e.MaxAttempts)
	}
}

func TestInvalidPolicyMakesNoCall(t *testing.T) {
	fn, seen := flaky(0, nil)
	err := (&retry.Policy{Multiplier: 0.5}).Do(context.Background(), fn)
	assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
	assert.Contains(t, err.Error(), "Multiplier 0.5")
	assert.Empty(t, *seen)
}

func TestDoValue(t *testing.T) {
	clk := retrytest.NewClock()
	calls := 0
	var got string
	err := drive(t, clk, func() error {
		var err error
		got, err = retry.DoValue(context.Background(), testPolicy(clk),
			func(ctx context.Context) (string, error) {
				if calls++; calls < 3 {
					return "partial", io.ErrUnexpectedEOF
				}
				return fmt.Sprintf("ok on attempt %d", retry.AttemptFrom(ctx)), nil
			})
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, "ok on attempt 3", got)

	got, err = retry.DoValue(context.Background(), testPolicy(clk),
		func(context.Context) (string, error) { return "partial", errors.New("final") })
	assert.Error(t, err)
	assert.Equal(t, "", got, "a failed call returns the zero value")
}

func TestNilPolicyDo(t *testing.T) {
	var p *retry.Policy
	fn, seen := flaky(0, nil)
	require.NoError(t, p.Do(context.Background(), fn))
	assert.Equal(t, []int{1}, *seen)
}

func TestClassifierRunsBeforeDefault(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.Classifier = func(err error) retry.Class {
		var s *retry.StatusError
		if errors.As(err, &s) && s.StatusCode == 503 {
			return retry.Final // this service's 503 means "gone for good"
		}
		return retry.Unknown
	}
	calls := 0
	err := drive(t, clk, func() error {
		return p.Do(context.Background(), func(context.Context) error {
			if calls++; calls == 1 {
				return &retry.StatusError{StatusCode: 429} // default: transient
			}
			return &retry.StatusError{StatusCode: 503}
		})
	})
	assert.ErrorIs(t, err, retry.ErrNotRetryable)
	assert.Equal(t, 2, calls)
}

func TestConcurrentCallsShareOnePolicy(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.InitialDelay = retry.NoDelay
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn, seen := flaky(3, retry.Retryable(errTransient))
			assert.NoError(t, p.Do(context.Background(), fn))
			assert.Equal(t, []int{1, 2, 3, 4}, *seen)
		}()
	}
	wg.Wait()
}

func TestErrorMessageForOneAttempt(t *testing.T) {
	err := testPolicy(retrytest.NewClock()).Do(context.Background(),
		func(context.Context) error { return errors.New("nope") })
	assert.True(t, strings.HasPrefix(err.Error(), "retry: gave up after 1 attempt in 0s"),
		err.Error())
}

func TestErrorMessage(t *testing.T) {
	last := errors.New("http status 429")
	tests := []struct {
		name     string
		giveErr  *retry.Error
		wantText string
	}{
		{"rounds_seconds", &retry.Error{Reason: retry.ErrExhausted, Attempts: 3,
			Elapsed: 1234567891, Last: last},
			"retry: gave up after 3 attempts in 1.23s (attempts exhausted): http status 429"},
		{"rounds_millis", &retry.Error{Reason: retry.ErrExhausted, Attempts: 2,
			Elapsed: 300533867, Last: last},
			"retry: gave up after 2 attempts in 300.5ms (attempts exhausted): http status 429"},
		{"standard_cause_not_repeated", &retry.Error{Reason: retry.ErrDeadline, Attempts: 2,
			Cause: context.DeadlineExceeded, Last: last},
			"retry: gave up after 2 attempts in 0s (context deadline): http status 429"},
		{"own_cause_printed", &retry.Error{Reason: retry.ErrCanceled, Attempts: 1,
			Cause: errors.New("shutting down"), Last: last},
			"retry: gave up after 1 attempt in 0s (context canceled): shutting down: " +
				"http status 429"},
		{"no_attempt", &retry.Error{Reason: retry.ErrCanceled, Cause: context.Canceled},
			"retry: gave up after 0 attempts in 0s (context canceled)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantText, tt.giveErr.Error())
		})
	}
}
