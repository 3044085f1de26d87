package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v4"
	backoffv4 "github.com/cenkalti/backoff/v4"
	backoffv5 "github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/hashicorp/go-retryablehttp"
	goretry "github.com/sethvargo/go-retry"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// The functions retried below are package-level, so that no closure is made
// per call and every allocation reported belongs to the library. Each
// library gets the signature it asks for.

var bg = context.Background()

func succeed(context.Context) error                { return nil }
func succeedPlain() error                          { return nil }
func succeedValue() (struct{}, error)              { return struct{}{}, nil }
func succeedCtxValue(context.Context) (int, error) { return 7, nil }

// succeedFn is called by "direct" through a variable, as the libraries call
// their argument, so the compiler cannot inline the call away.
var succeedFn = succeed

// The failing function fails twice and then succeeds, counting on a package
// variable; the fail-twice benchmarks are sequential, so no lock is needed.
var (
	errTransient = errors.New("transient")
	errOurs      = retry.Retryable(errTransient)
	errGoRetry   = goretry.RetryableError(errTransient)
	calls        int
)

func flaky(err error) error {
	calls++
	if calls%3 != 0 {
		return err
	}
	return nil
}

func flakyOurs(context.Context) error    { return flaky(errOurs) }
func flakyPlain() error                  { return flaky(errTransient) }
func flakyValue() (struct{}, error)      { return struct{}{}, flaky(errTransient) }
func flakyGoRetry(context.Context) error { return flaky(errGoRetry) }
func flakyDirect(context.Context) error  { return flaky(errTransient) }

var flakyFn = flakyDirect

// The schedule every peer is given for the success cases: 10ms doubling to
// 1s, each library's default jitter, as in the pushback runs.
const (
	initialDelay = 10 * time.Millisecond
	maxDelay     = time.Second
)

func newBackoffV4() *backoffv4.ExponentialBackOff {
	return backoffv4.NewExponentialBackOff(backoffv4.WithInitialInterval(initialDelay),
		backoffv4.WithMaxInterval(maxDelay), backoffv4.WithMultiplier(2),
		backoffv4.WithMaxElapsedTime(0))
}

func newBackoffV5() *backoffv5.ExponentialBackOff {
	b := backoffv5.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier = initialDelay, maxDelay, 2
	return b
}

func newGoRetry() goretry.Backoff {
	return goretry.WithCappedDuration(maxDelay, goretry.NewExponential(initialDelay))
}

// zeroGoRetry is go-retry's least delay: NewConstant refuses 0, so a
// stateless function stands in; being stateless, it may be shared.
var zeroGoRetry = goretry.BackoffFunc(func() (time.Duration, bool) { return 0, false })

func check(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSuccess(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			check(b, succeedFn(bg))
		}
	})
	b.Run("ours", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		b.ReportAllocs()
		for b.Loop() {
			check(b, p.Do(bg, succeed))
		}
	})
	b.Run("ours-default", func(b *testing.B) {
		p := retry.Default() // with the 30s attempt timeout
		b.ReportAllocs()
		for b.Loop() {
			check(b, p.Do(bg, succeed))
		}
	})
	b.Run("ours-value", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		b.ReportAllocs()
		for b.Loop() {
			_, err := retry.DoValue(bg, p, succeedCtxValue)
			check(b, err)
		}
	})
	b.Run("backoff-v4", func(b *testing.B) {
		// Retry resets the backoff at its start, so sequential calls may share it.
		bo := newBackoffV4()
		b.ReportAllocs()
		for b.Loop() {
			check(b, backoffv4.Retry(succeedPlain, bo))
		}
	})
	b.Run("backoff-v5", func(b *testing.B) {
		// Retry resets the backoff at its start, so sequential calls may share it.
		opts := []backoffv5.RetryOption{backoffv5.WithBackOff(newBackoffV5())}
		b.ReportAllocs()
		for b.Loop() {
			_, err := backoffv5.Retry(bg, succeedValue, opts...)
			check(b, err)
		}
	})
	b.Run("retry-go", func(b *testing.B) {
		opts := []retrygo.Option{retrygo.Context(bg), retrygo.Delay(initialDelay),
			retrygo.MaxDelay(maxDelay)}
		b.ReportAllocs()
		for b.Loop() {
			check(b, retrygo.Do(succeedPlain, opts...))
		}
	})
	b.Run("go-retry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// go-retry's backoffs count attempts and have no reset: a user
			// must make one per call.
			check(b, goretry.Do(bg, newGoRetry(), succeed))
		}
	})
	b.Run("failsafe", func(b *testing.B) {
		exec := failsafe.With[any](retrypolicy.NewBuilder[any]().
			WithBackoff(initialDelay, maxDelay).Build())
		b.ReportAllocs()
		for b.Loop() {
			check(b, exec.Run(succeedPlain))
		}
	})
}

func BenchmarkSuccessParallel(b *testing.B) {
	parallel := func(b *testing.B, call func() error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}

	b.Run("direct", func(b *testing.B) {
		parallel(b, func() error { return succeedFn(bg) })
	})
	b.Run("ours", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		parallel(b, func() error { return p.Do(bg, succeed) })
	})
	b.Run("ours-default", func(b *testing.B) {
		p := retry.Default()
		parallel(b, func() error { return p.Do(bg, succeed) })
	})
	b.Run("backoff-v4", func(b *testing.B) {
		// An ExponentialBackOff is not safe for concurrent use (Retry resets
		// it): one per call, as its users must.
		parallel(b, func() error { return backoffv4.Retry(succeedPlain, newBackoffV4()) })
	})
	b.Run("backoff-v5", func(b *testing.B) {
		// As for v4: one ExponentialBackOff per call.
		parallel(b, func() error {
			_, err := backoffv5.Retry(bg, succeedValue, backoffv5.WithBackOff(newBackoffV5()))
			return err
		})
	})
	b.Run("retry-go", func(b *testing.B) {
		// The options only fill a config that Do makes per call: shared.
		opts := []retrygo.Option{retrygo.Context(bg), retrygo.Delay(initialDelay),
			retrygo.MaxDelay(maxDelay)}
		parallel(b, func() error { return retrygo.Do(succeedPlain, opts...) })
	})
	b.Run("go-retry", func(b *testing.B) {
		// A go-retry backoff counts attempts: one per call.
		parallel(b, func() error { return goretry.Do(bg, newGoRetry(), succeed) })
	})
	b.Run("failsafe", func(b *testing.B) {
		// A RetryPolicy makes its per-execution state itself: shared.
		exec := failsafe.With[any](retrypolicy.NewBuilder[any]().
			WithBackoff(initialDelay, maxDelay).Build())
		parallel(b, func() error { return exec.Run(succeedPlain) })
	})
}

// failTwice runs call in the benchmark loop and checks that every call made
// exactly three attempts.
func failTwice(b *testing.B, call func() error) {
	calls = 0
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		check(b, call())
		n++
	}
	if calls != 3*n {
		b.Fatalf("%d attempts for %d calls, want %d", calls, n, 3*n)
	}
}

func BenchmarkFailTwice(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		failTwice(b, func() error {
			for {
				if err := flakyFn(bg); err == nil {
					return nil
				}
			}
		})
	})
	b.Run("ours", func(b *testing.B) {
		p := &retry.Policy{InitialDelay: retry.NoDelay, AttemptTimeout: retry.Unlimited,
			Jitter: retry.NoJitter}
		failTwice(b, func() error { return p.Do(bg, flakyOurs) })
	})
	b.Run("ours-classifier", func(b *testing.B) {
		p := &retry.Policy{InitialDelay: retry.NoDelay, AttemptTimeout: retry.Unlimited,
			Jitter: retry.NoJitter, Classifier: transient}
		failTwice(b, func() error { return p.Do(bg, flakyDirect) })
	})
	b.Run("backoff-v4", func(b *testing.B) {
		zero := &backoffv4.ZeroBackOff{}
		failTwice(b, func() error { return backoffv4.Retry(flakyPlain, zero) })
	})
	b.Run("backoff-v5", func(b *testing.B) {
		opts := []backoffv5.RetryOption{backoffv5.WithBackOff(&backoffv5.ZeroBackOff{})}
		failTwice(b, func() error {
			_, err := backoffv5.Retry(bg, flakyValue, opts...)
			return err
		})
	})
	b.Run("retry-go", func(b *testing.B) {
		// RandomDelay panics with no jitter, so the delay is a fixed 0.
		opts := []retrygo.Option{retrygo.Context(bg), retrygo.Delay(0),
			retrygo.DelayType(retrygo.FixedDelay)}
		failTwice(b, func() error { return retrygo.Do(flakyPlain, opts...) })
	})
	b.Run("go-retry", func(b *testing.B) {
		failTwice(b, func() error { return goretry.Do(bg, zeroGoRetry, flakyGoRetry) })
	})
	b.Run("failsafe", func(b *testing.B) {
		exec := failsafe.With[any](retrypolicy.NewBuilder[any]().Build()) // 2 retries, no delay
		failTwice(b, func() error { return exec.Run(flakyPlain) })
	})
}

func transient(error) retry.Class { return retry.Transient }

// The HTTP cases call a local server: /ok answers 200, /flaky answers 503
// (with no Retry-After) twice and then 200, in turn.

func newHTTPServer(b *testing.B) *httptest.Server {
	var flakyHits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flaky" && flakyHits.Add(1)%3 != 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "busy")
			return
		}
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// get sends one GET through client and reads the answer; a status of 400 or
// more is an error.
func get(client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(bg, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	return readAnswer(resp)
}

func readAnswer(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode >= 400 {
		err = errors.New(resp.Status)
	}
	return err
}

func retryableGet(client *retryablehttp.Client, url string) error {
	req, err := retryablehttp.NewRequestWithContext(bg, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	return readAnswer(resp)
}

// The HTTP clients of each library, over one base transport.

func oursClient(base http.RoundTripper, p *retry.Policy) *http.Client {
	return &http.Client{Transport: retryhttp.NewTransport(base, p)}
}

func retryableClient(base http.RoundTripper,
	waitMin, waitMax time.Duration) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: base},
		RetryWaitMin: waitMin,
		RetryWaitMax: waitMax,
		RetryMax:     4,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
	}
}

func BenchmarkHTTPSuccess(b *testing.B) {
	run := func(b *testing.B, call func(url string) error) {
		srv := newHTTPServer(b)
		url := srv.URL + "/ok"
		b.ReportAllocs()
		for b.Loop() {
			check(b, call(url))
		}
	}
	httpCases(b, run)
}

func BenchmarkHTTPSuccessParallel(b *testing.B) {
	run := func(b *testing.B, call func(url string) error) {
		srv := newHTTPServer(b)
		url := srv.URL + "/ok"
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(url); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	httpCases(b, run)
}

// httpCases runs the success cases, each with its own transport; run starts
// the server and loops over call.
func httpCases(b *testing.B, run func(b *testing.B, call func(url string) error)) {
	base := func(b *testing.B) *http.Transport {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		b.Cleanup(t.CloseIdleConnections)
		return t
	}
	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: base(b)}
		run(b, func(url string) error { return get(client, url) })
	})
	b.Run("ours", func(b *testing.B) {
		client := oursClient(base(b), &retry.Policy{AttemptTimeout: retry.Unlimited})
		run(b, func(url string) error { return get(client, url) })
	})
	b.Run("ours-default", func(b *testing.B) {
		client := oursClient(base(b), retry.Default())
		run(b, func(url string) error { return get(client, url) })
	})
	b.Run("retryablehttp", func(b *testing.B) {
		client := retryableClient(base(b), initialDelay, maxDelay)
		run(b, func(url string) error { return retryableGet(client, url) })
	})
}

func BenchmarkHTTPFailTwice(b *testing.B) {
	run := func(b *testing.B, call func(url string) error) {
		srv := newHTTPServer(b)
		url := srv.URL + "/flaky"
		b.ReportAllocs()
		for b.Loop() {
			check(b, call(url))
		}
	}
	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.Cleanup(client.CloseIdleConnections)
		run(b, func(url string) error {
			for {
				if err := get(client, url); err == nil {
					return nil
				}
			}
		})
	})
	b.Run("ours", func(b *testing.B) {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		b.Cleanup(t.CloseIdleConnections)
		client := oursClient(t, &retry.Policy{InitialDelay: retry.NoDelay,
			AttemptTimeout: retry.Unlimited, Jitter: retry.NoJitter})
		run(b, func(url string) error { return get(client, url) })
	})
	b.Run("retryablehttp", func(b *testing.B) {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		b.Cleanup(t.CloseIdleConnections)
		client := retryableClient(t, 0, 0) // DefaultBackoff then waits 0
		run(b, func(url string) error { return retryableGet(client, url) })
	})
}
