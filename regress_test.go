package retry_test

// Regression tests for what a first user found by attacking the library.

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestBodyReadAfterDoValueSaysWhy(t *testing.T) {
	big := strings.Repeat("x", 4<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, big)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	resp, err := retry.DoValue(context.Background(), retry.Default(),
		func(ctx context.Context) (*http.Response, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			return client.Do(req)
		})
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	require.Error(t, err, "the attempt's context ended when fn returned")
	assert.Contains(t, err.Error(), "read the body inside it, or use retryhttp")
}

func TestNoDelayStaysZeroForever(t *testing.T) {
	p := &retry.Policy{InitialDelay: retry.NoDelay, Jitter: retry.NoJitter}
	for _, n := range []int{2, 1025, 1026, 5000, math.MaxInt} {
		assert.Zero(t, p.DelayBefore(n, 0), "attempt %d", n)
	}
}

func TestServerDelayKeptWhateverEndsTheCall(t *testing.T) {
	fn := func(context.Context) error {
		return &retry.StatusError{StatusCode: 503, Header: http.Header{"Retry-After": {"30"}}}
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var rerr *retry.Error
		require.ErrorAs(t, retry.Default().Do(ctx, fn), &rerr)
		assert.ErrorIs(t, rerr, retry.ErrDeadline)
		assert.Equal(t, 30*time.Second, rerr.ServerDelay)

		require.ErrorAs(t, (&retry.Policy{TimeLimit: time.Second}).Do(t.Context(), fn), &rerr)
		assert.ErrorIs(t, rerr, retry.ErrTimeLimit)
		assert.Equal(t, 30*time.Second, rerr.ServerDelay)
	})
}

func TestZeroServerDelayReportedAsAsked(t *testing.T) {
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.InitialDelay = retry.NoDelay
	var events []retry.Event
	p.Hooks.OnRetry = func(_ context.Context, e retry.Event) { events = append(events, e) }
	fn, _ := flaky(1, &retry.StatusError{StatusCode: 429,
		Header: http.Header{"Retry-After": {"0"}}})
	require.NoError(t, drive(t, clk, func() error { return p.Do(context.Background(), fn) }))
	require.Len(t, events, 1)
	assert.Zero(t, events[0].ServerDelay, "what the server asked")
	assert.Equal(t, retry.MinServerDelay, events[0].Delay, "what the loop waited")
}

func TestPermanentWinsInJoinedErrors(t *testing.T) {
	for _, order := range []string{"retryable_first", "permanent_first"} {
		t.Run(order, func(t *testing.T) {
			a, b := retry.Retryable(errors.New("cache miss")),
				retry.Permanent(errors.New("bad credentials"))
			if order == "permanent_first" {
				a, b = b, a
			}
			calls := 0
			err := (&retry.Policy{InitialDelay: retry.NoDelay}).Do(context.Background(),
				func(context.Context) error { calls++; return errors.Join(a, b) })
			assert.Equal(t, 1, calls)
			assert.ErrorIs(t, err, retry.ErrNotRetryable)
		})
	}
}

func TestBadInputGivesErrorsNotPanics(t *testing.T) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }

	t.Run("typed_nil_status", func(t *testing.T) {
		check := func() *retry.StatusError { return nil }
		err := (&retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 2}).Do(ctx,
			func(context.Context) error { return check() })
		assert.ErrorIs(t, err, retry.ErrNotRetryable)
		assert.Contains(t, err.Error(), "nil *StatusError")
	})
	t.Run("nil_backoff", func(t *testing.T) {
		p := &retry.Policy{Backoff: func() backoff.BackOff { return nil }}
		err := p.Do(ctx, func(context.Context) error { return retry.Retryable(errTransient) })
		assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
		assert.ErrorIs(t, err, errTransient)
		assert.Contains(t, err.Error(), "Policy.Backoff returned a nil backoff.BackOff")
	})
	t.Run("nil_timer", func(t *testing.T) {
		p := &retry.Policy{Clock: nilTimerClock{}, AttemptTimeout: retry.Unlimited}
		err := p.Do(ctx, func(context.Context) error { return retry.Retryable(errTransient) })
		assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
		assert.Contains(t, err.Error(), "NewTimer returned a nil Timer")
	})
	t.Run("nil_context", func(t *testing.T) {
		//lint:ignore SA1012 a nil context is the point of the test
		err := retry.Default().Do(nil, ok) //nolint:staticcheck
		assert.EqualError(t, err, "retry: Do and DoValue need a non-nil context and function")
	})
	t.Run("nil_function", func(t *testing.T) {
		assert.Error(t, retry.Default().Do(ctx, nil))
	})
	t.Run("empty_error", func(t *testing.T) {
		assert.Equal(t, "retry: gave up after 0 attempts in 0s (no reason given)",
			(&retry.Error{}).Error())
		assert.Equal(t, "http status unknown (nil *StatusError)",
			(*retry.StatusError)(nil).Error())
	})
	t.Run("zero_rate_limiter", func(t *testing.T) {
		err := (&retry.Policy{Limiter: &retry.RateLimiter{}}).Do(ctx, ok)
		assert.ErrorIs(t, err, retry.ErrLimiter)
		assert.Contains(t, err.Error(), "not made by NewRateLimiter")
	})
	t.Run("huge_interval", func(t *testing.T) {
		_, err := retry.NewRateLimiter(math.MaxInt64, 1)
		assert.ErrorContains(t, err, "must be at most 8760h0m0s")
	})
}

type nilTimerClock struct{ retry.RealClock }

func (nilTimerClock) NewTimer(time.Duration) retry.Timer { return nil }

func TestFakeClockTimeoutLooksLikeDeadline(t *testing.T) {
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: time.Second, MaxAttempts: 1}
	done := make(chan error, 1)
	go func() {
		done <- p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	clk.Advance(time.Second)
	err := <-done
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, context.Canceled, "nobody canceled anything")
}

func TestSentinelsAreNotConfused(t *testing.T) {
	err := (&retry.Policy{InitialDelay: retry.Unlimited}).Validate()
	assert.ErrorContains(t, err, "InitialDelay -1ns must not be negative, except NoDelay")
	err = (&retry.Policy{AttemptTimeout: retry.NoDelay}).Validate()
	assert.ErrorContains(t, err, "AttemptTimeout -2ns must not be negative, except Unlimited")
}

func TestBackoffReplacesDelayFieldsInValidate(t *testing.T) {
	p := &retry.Policy{MaxDelay: 500 * time.Millisecond,
		Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} }}
	assert.NoError(t, p.Validate())
}

func TestDelayBeforeOnInvalidPolicyIsNotNegative(t *testing.T) {
	p := &retry.Policy{MaxDelay: -5, InitialDelay: -5}
	assert.Zero(t, p.DelayBefore(3, 0))
}
