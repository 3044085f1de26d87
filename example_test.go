package retry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

// A flaky call succeeds on its third attempt. NoDelay keeps the example
// instant; real code keeps the default delays.
func Example() {
	p := &retry.Policy{InitialDelay: retry.NoDelay}
	err := p.Do(context.Background(), func(ctx context.Context) error {
		n := retry.AttemptFrom(ctx)
		fmt.Println("attempt", n)
		if n < 3 {
			return &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
		}
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// error: <nil>
}

func ExampleDoValue() {
	p := &retry.Policy{InitialDelay: retry.NoDelay}
	body, err := retry.DoValue(context.Background(), p,
		func(ctx context.Context) (string, error) {
			if retry.AttemptFrom(ctx) == 1 {
				return "", retry.Retryable(errors.New("connection dropped"))
			}
			return `{"ok":true}`, nil
		})
	fmt.Println(body, err)
	// Output: {"ok":true} <nil>
}

func ExamplePolicy_DelayBefore() {
	p := &retry.Policy{Jitter: retry.NoJitter, MaxDelay: 5 * time.Second}
	for n := 1; n <= 6; n++ {
		fmt.Printf("before attempt %d: %v\n", n, p.DelayBefore(n, 0))
	}
	// Output:
	// before attempt 1: 0s
	// before attempt 2: 1s
	// before attempt 3: 2s
	// before attempt 4: 4s
	// before attempt 5: 5s
	// before attempt 6: 5s
}

// The reason a call gave up, the last error and the attempt count are all
// in the returned error.
func ExampleError() {
	p := &retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 3}
	err := p.Do(context.Background(), func(context.Context) error {
		return &retry.StatusError{StatusCode: http.StatusBadGateway}
	})

	var rerr *retry.Error
	if errors.As(err, &rerr) {
		fmt.Println("attempts:", rerr.Attempts)
	}
	fmt.Println("exhausted:", errors.Is(err, retry.ErrExhausted))
	var status *retry.StatusError
	if errors.As(err, &status) {
		fmt.Println("last status:", status.StatusCode)
	}
	// Output:
	// attempts: 3
	// exhausted: true
	// last status: 502
}

func ExamplePermanent() {
	p := retry.Default()
	p.Clock = retrytest.NewClock() // so the elapsed time printed is exactly 0s
	err := p.Do(context.Background(), func(context.Context) error {
		return retry.Permanent(errors.New("invalid API key"))
	})
	fmt.Println(errors.Is(err, retry.ErrNotRetryable))
	fmt.Println(err)
	// Output:
	// true
	// retry: gave up after 1 attempt in 0s (error not retryable): invalid API key
}

// A test drives the policy's waits with the fake clock: no real time passes.
func ExampleRetryAfter() {
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited}
	done := make(chan error)
	go func() {
		done <- p.Do(context.Background(), func(ctx context.Context) error {
			if retry.AttemptFrom(ctx) == 1 {
				return retry.RetryAfter(errors.New("busy"), 30*time.Second)
			}
			return nil
		})
	}()

	_ = clk.BlockUntil(context.Background(), 1) // Do is waiting
	waited, _ := clk.AdvanceToNext()
	fmt.Println("waited", waited, "error:", <-done)
	// Output: waited 30s error: <nil>
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, h := range []http.Header{
		{"Retry-After": {"120"}},
		{"Retry-After": {"Fri, 02 Jan 2026 15:04:35 GMT"}},
		{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}},
		{"X-Ratelimit-Reset": {"1767366305"}}, // Unix time, as GitHub sends it
		{"X-Ratelimit-Reset-Requests": {"6m0s"}},
		{"Retry-After": {"soon"}},
	} {
		fmt.Println(retry.ParseRetryAfter(h, now))
	}
	// Output:
	// 2m0s true
	// 30s true
	// 1.5s true
	// 1m0s true
	// 6m0s true
	// 0s false
}

func ExampleNewRateLimiter() {
	// One limiter per service, shared by every goroutine that calls it.
	lim, err := retry.NewRateLimiter(100*time.Millisecond, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := &retry.Policy{Limiter: lim}
	_ = p.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(lim)

	_, err = retry.NewRateLimiter(100*time.Millisecond, 0)
	fmt.Println(err)
	// Output:
	// 1 call every 100ms, burst 1
	// retry: rate limiter burst 0 must be at least 1
}

func ExampleChain() {
	// This service answers 404 while a new object propagates; retry it.
	propagating := func(err error) retry.Class {
		var s *retry.StatusError
		if errors.As(err, &s) && s.StatusCode == http.StatusNotFound {
			return retry.Transient
		}
		return retry.Unknown // let the next classifier decide
	}
	c := retry.Chain(propagating, retry.DefaultClassifier)
	fmt.Println(c(&retry.StatusError{StatusCode: 404}), c(&retry.StatusError{StatusCode: 400}))
	// Output: transient final
}

func ExampleLogHooks() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		}}))
	p := &retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 2,
		Hooks: retry.LogHooks(logger), Clock: retrytest.NewClock()}
	_ = p.Do(context.Background(), func(context.Context) error {
		return &retry.StatusError{StatusCode: http.StatusTooManyRequests}
	})
	// Output:
	// msg="[Attempt 1/2] failed: http status 429 Too Many Requests; retrying in 0s" attempt=1 reason=transient delay=0s
	// msg="retry: gave up after 2 attempts in 0s (attempts exhausted): http status 429 Too Many Requests" attempts=2 reason="attempts exhausted"
}

func ExamplePolicy_NewBackOff() {
	p := &retry.Policy{MaxAttempts: 3, Jitter: retry.NoJitter}
	b := p.NewBackOff()
	fmt.Println(b.NextBackOff(), b.NextBackOff(), b.NextBackOff() == backoff.Stop)
	// Output: 1s 2s true
}
