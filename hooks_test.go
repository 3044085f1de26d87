package retry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestLogHooks(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.MaxAttempts = 3
	p.Hooks = retry.LogHooks(logger)
	h := http.Header{"Retry-After-Ms": {"1500"}}

	_ = drive(t, clk, func() error {
		return p.Do(context.Background(), func(context.Context) error {
			return &retry.StatusError{StatusCode: 429, Header: h}
		})
	})

	assert.Equal(t, `level=INFO msg="[Attempt 1/3] failed: http status 429 Too Many Requests;`+
		` retrying in 1.5s (server asked for 1.5s)" attempt=1 reason=transient delay=1.5s
level=INFO msg="[Attempt 2/3] failed: http status 429 Too Many Requests;`+
		` retrying in 2.0s (server asked for 1.5s)" attempt=2 reason=transient delay=2s
level=WARN msg="retry: gave up after 3 attempts in 3.5s (attempts exhausted):`+
		` http status 429 Too Many Requests" attempts=3 reason="attempts exhausted"
`, buf.String())
}

func TestLogHooksUnlimitedAndShortDelays(t *testing.T) {
	var buf bytes.Buffer
	clk := retrytest.NewClock()
	p := testPolicy(clk)
	p.MaxAttempts = retry.Unlimited
	p.InitialDelay = 250 * time.Millisecond
	p.Hooks = retry.LogHooks(slog.New(slog.NewTextHandler(&buf, nil)))
	fn, _ := flaky(1, retry.Retryable(errTransient))
	assert.NoError(t, drive(t, clk, func() error { return p.Do(context.Background(), fn) }))
	assert.Contains(t, buf.String(), "[Attempt 1] failed: transient failure; retrying in 250ms")
}

func TestLogHooksNilLoggerUsesDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)

	retry.LogHooks(nil).OnRetry(context.Background(), retry.Event{Attempt: 1, MaxAttempts: 2,
		Err:   errTransient,
		Delay: time.Second})
	assert.Contains(t, buf.String(), "[Attempt 1/2] failed: transient failure; retrying in 1.0s")
}

type ctxKey struct{}

func TestHooksSeeTheCallersContextAndEveryMoment(t *testing.T) {
	clk := retrytest.NewClock()
	lim, err := retry.NewRateLimiter(time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "job-7")
	var seen []string
	note := func(ctx context.Context, what string) {
		seen = append(seen, ctx.Value(ctxKey{}).(string)+" "+what)
	}
	p := testPolicy(clk)
	p.Limiter = lim
	p.Hooks = retry.Hooks{
		OnRetry: func(ctx context.Context, e retry.Event) {
			note(ctx, fmt.Sprintf("retry after attempt %d", e.Attempt))
		},
		OnLimiterWait: func(ctx context.Context, d time.Duration) {
			note(ctx, fmt.Sprintf("limiter %v", d))
		},
		OnSuccess: func(ctx context.Context, attempts int, elapsed time.Duration) {
			note(ctx, fmt.Sprintf("success after %d attempts in %v", attempts, elapsed))
		},
		OnGiveUp: func(ctx context.Context, err *retry.Error) { note(ctx, "give up") },
	}
	fn, _ := flaky(1, retry.Retryable(errTransient))
	assert.NoError(t, drive(t, clk, func() error { return p.Do(ctx, fn) }))
	// The wait of 1s after attempt 1 also covers the limiter's spacing.
	assert.Equal(t, []string{"job-7 retry after attempt 1",
		"job-7 success after 2 attempts in 1s"}, seen)

	seen = nil
	fn, _ = flaky(0, nil)
	assert.NoError(t, drive(t, clk, func() error { return p.Do(ctx, fn) }))
	assert.Equal(t, []string{"job-7 limiter 1s", "job-7 success after 1 attempts in 1s"}, seen)
}
