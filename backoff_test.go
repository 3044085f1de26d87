package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestPolicyAsBackOff(t *testing.T) {
	p := &retry.Policy{MaxAttempts: 4, Jitter: retry.NoJitter}
	var b backoff.BackOff = p.NewBackOff()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, backoff.Stop}
	for _, w := range want {
		assert.Equal(t, w, b.NextBackOff())
	}
	b.Reset()
	assert.Equal(t, time.Second, b.NextBackOff())
}

// The BackOff runs cenkalti's own loop, with a timer on the fake clock.
func TestPolicyDrivesBackoffRetry(t *testing.T) {
	clk := retrytest.NewClock()
	p := &retry.Policy{MaxAttempts: 3, Jitter: retry.NoJitter}
	calls := 0
	op := func() error { calls++; return errTransient }
	done := make(chan error, 1)
	go func() {
		done <- backoff.RetryNotifyWithTimer(op, p.NewBackOff(), nil, &cenkaltiTimer{clk: clk})
	}()
	for range 2 {
		require.NoError(t, clk.BlockUntil(context.Background(), 1))
		clk.AdvanceToNext()
	}
	assert.ErrorIs(t, <-done, errTransient)
	assert.Equal(t, 3, calls)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clk.Waits())
}

func TestBackOffDrivesPolicy(t *testing.T) {
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 10,
		Backoff: func() backoff.BackOff {
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(3*time.Second), 2)
		}}
	calls := 0
	err := drive(t, clk, func() error {
		return p.Do(context.Background(), func(context.Context) error {
			calls++
			return retry.Retryable(errTransient)
		})
	})
	assert.ErrorIs(t, err, retry.ErrExhausted, "backoff.Stop ends the run")
	assert.Equal(t, 3, calls)
	assert.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, clk.Waits())
}

// cenkaltiTimer adapts the fake clock to backoff.Timer.
type cenkaltiTimer struct {
	clk *retrytest.Clock
	t   retry.Timer
}

func (c *cenkaltiTimer) Start(d time.Duration) { c.t = c.clk.NewTimer(d) }
func (c *cenkaltiTimer) Stop() {
	if c.t != nil {
		c.t.Stop()
	}
}
func (c *cenkaltiTimer) C() <-chan time.Time { return c.t.C() }
