package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"golang.org/x/time/rate"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// The pushback runs: pushWorkers goroutines make pushCalls successful calls
// in all through one library, against a server on 127.0.0.1 that admits
// pushRate requests a second and answers 429 to the rest. The ideal wall
// time is pushCalls/pushRate.
//
//	RETRY_PUSHBACK=1 go test -run Pushback -v -count=1 -timeout 60m .
const (
	pushRate    = 200
	pushCalls   = 1000
	pushWorkers = 32
	runLimit    = 60 * time.Second // per library and server; a run past it is a timeout
)

// admission decides, under the server's lock, whether a request arriving at
// now is admitted, and sets the headers of the answer.
type admission func(now time.Time, h http.Header) bool

type pushServerKind struct {
	name string
	new  func() admission
}

var pushServers = []pushServerKind{
	{"1_fixed_window", newFixedWindow},
	{"2_bucket_retry_after_ms", func() admission { return newBucket(hintMillis) }},
	{"3_bucket_retry_after_s", func() admission { return newBucket(hintSeconds) }},
	{"4_bucket_no_header", func() admission { return newBucket(nil) }},
}

// newFixedWindow admits pushRate requests in each second of Unix time, and
// tells the truth on every answer as GitHub does: X-RateLimit-Remaining
// after this request, X-RateLimit-Reset as the Unix second the window ends,
// and on a 429 Retry-After in whole seconds to that reset, rounded up.
func newFixedWindow() admission {
	window, used := int64(0), 0
	return func(now time.Time, h http.Header) bool {
		if w := now.Unix(); w != window {
			window, used = w, 0
		}
		ok := used < pushRate
		if ok {
			used++
		}
		h.Set("X-RateLimit-Limit", strconv.Itoa(pushRate))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(pushRate-used))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(window+1, 10))
		if !ok {
			left := time.Unix(window+1, 0).Sub(now)
			h.Set("Retry-After", strconv.FormatInt(max(ceilDiv(left, time.Second), 1), 10))
		}
		return ok
	}
}

// newBucket admits pushRate requests a second with a burst of a tenth of
// that. A 429 carries what hint writes about the time until the next token
// (nothing when hint is nil).
func newBucket(hint func(wait time.Duration, h http.Header)) admission {
	lim := rate.NewLimiter(pushRate, pushRate/10)
	return func(now time.Time, h http.Header) bool {
		if lim.AllowN(now, 1) {
			return true
		}
		missing := 1 - lim.TokensAt(now)
		wait := time.Duration(math.Ceil(missing / pushRate * float64(time.Second)))
		if hint != nil {
			hint(wait, h)
		}
		return false
	}
}

func hintMillis(wait time.Duration, h http.Header) {
	h.Set("Retry-After-Ms", strconv.FormatInt(max(ceilDiv(wait, time.Millisecond), 1), 10))
}

func hintSeconds(wait time.Duration, h http.Header) {
	h.Set("Retry-After", strconv.FormatInt(max(ceilDiv(wait, time.Second), 1), 10))
}

// ceilDiv returns d/unit rounded up, for d >= 0.
func ceilDiv(d, unit time.Duration) int64 { return int64((d + unit - 1) / unit) }

// pushServer counts the requests it answers and the 429s among them.
type pushServer struct {
	mu       sync.Mutex
	admit    admission
	requests int
	rejected int
}

func (s *pushServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ok := s.admit(time.Now(), w.Header())
	s.requests++
	if !ok {
		s.rejected++
	}
	s.mu.Unlock()

	if !ok {
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down")
		return
	}
	io.WriteString(w, "ok")
}

// pushLibrary makes, for one run, the function that performs one call until
// it succeeds. base is the run's own transport.
type pushLibrary struct {
	name string
	new  func(base *http.Transport, url string) func(ctx context.Context) error
}

// pushPolicy is our side of the settings every library gets, in its own
// terms (initialDelay doubling up to maxDelay, its default jitter, no limit
// on attempts). A library that does not read the server's delay itself is
// given it through the hook it offers; see each new… function.
func pushPolicy() *retry.Policy {
	p := &retry.Policy{MaxAttempts: retry.Unlimited, InitialDelay: initialDelay,
		MaxDelay: maxDelay, Multiplier: 2} // ±20% jitter, 30s attempt timeout
	if os.Getenv("RETRY_PUSHBACK_TRACE") == "1" {
		p.Hooks.OnRetry = waits.record
	}
	return p
}

// waitTrace counts the waits our policy chooses, by size and by whether the
// server asked for one, when RETRY_PUSHBACK_TRACE=1: where our requests go.
type waitTrace struct {
	mu     sync.Mutex
	counts map[string]int
}

var waits waitTrace

var waitBuckets = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}

func (w *waitTrace) record(_ context.Context, e retry.Event) {
	bucket := "≥1s"
	for _, b := range waitBuckets {
		if e.Delay < b {
			bucket = "<" + b.String()
			break
		}
	}
	key := fmt.Sprintf("server %-5v wait %s", e.ServerDelay > 0, bucket)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[key]++
}

// take returns the counts so far, sorted, and starts again.
func (w *waitTrace) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for k, n := range w.counts {
		lines = append(lines, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(lines)
	w.counts = nil
	return strings.Join(lines, "\n")
}

var pushLibraries = []pushLibrary{
	{"reference", newReference},
	{"ours", newOurs},
	{"ours-transport", newOursTransport},
	{"backoff-v4", newPushBackoffV4},
	{"backoff-v5", newPushBackoffV5},
	{"retry-go", newPushRetryGo},
	{"go-retry", newPushGoRetry},
	{"failsafe", newPushFailsafe},
	{"retryablehttp", newPushRetryablehttp},
}

// newReference paces every request with a client-side limiter at exactly
// the server's rate, and sends a request again only after a 429 (which it
// should not get).
func newReference(base *http.Transport, url string) func(context.Context) error {
	lim := rate.NewLimiter(pushRate, 1)
	client := &http.Client{Transport: base}
	return func(ctx context.Context) error {
		for {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
			var th *throttled
			if err := fetch(ctx, client, url); !errors.As(err, &th) {
				return err
			}
		}
	}
}

// newOurs is retry.DoValue around a plain http.Client: the function turns
// an answer of 400 or more into a *retry.StatusError, whose headers the
// policy reads.
func newOurs(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	policy := pushPolicy()
	return func(ctx context.Context) error {
		_, err := retry.DoValue(ctx, policy, func(ctx context.Context) (struct{}, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return struct{}{}, retry.Permanent(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				return struct{}{}, err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return struct{}{}, retry.NewStatusError(resp)
		})
		return err
	}
}

// newOursTransport is an http.Client over retryhttp.NewTransport.
func newOursTransport(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: retryhttp.NewTransport(base, pushPolicy())}
	return func(ctx context.Context) error {
		return fetch(ctx, client, url)
	}
}

// throttled is the error fetch returns for a 429. It carries the delay the
// server asked for, if its headers said one the harness can read.
type throttled struct {
	delay  time.Duration
	hinted bool
}

func (e *throttled) Error() string {
	if e.hinted {
		return fmt.Sprintf("429 too many requests, retry after %v", e.delay)
	}
	return "429 too many requests"
}

// serverDelay reads the delay a 429 asks for, as a user of a library without
// a parser of its own would: Retry-After-Ms in milliseconds, else
// Retry-After in seconds. The HTTP-date form of Retry-After and the
// rate-limit reset headers are left out.
func serverDelay(h http.Header) (time.Duration, bool) {
	if ms, err := strconv.ParseInt(h.Get("Retry-After-Ms"), 10, 64); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond, true
	}
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}

// hintOf returns the server's delay carried by err, if any.
func hintOf(err error) (time.Duration, bool) {
	var th *throttled
	if errors.As(err, &th) && th.hinted {
		return th.delay, true
	}
	return 0, false
}

// fetch sends one GET and reads the answer: nil for a success, a *throttled
// for a 429, an error for any other status of 400 or more.
func fetch(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d, ok := serverDelay(resp.Header)
		return &throttled{delay: d, hinted: ok}
	case resp.StatusCode >= 400:
		return errors.New(resp.Status)
	}
	return err
}

// serverFirstV4 is a backoff v4 schedule that waits what the server asked
// for after an answer that said, and the inner schedule's delay otherwise.
// The operation sets *server after every attempt. v4 has no other way to
// change a wait.
type serverFirstV4 struct {
	backoffv4.BackOff
	server *time.Duration
}

func (b serverFirstV4) NextBackOff() time.Duration {
	d := b.BackOff.NextBackOff()
	if d != backoffv4.Stop && *b.server > 0 {
		return *b.server
	}
	return d
}

// newPushBackoffV4: an ExponentialBackOff per call (it is stateful), its
// default ±50% jitter, no elapsed-time limit, and the server's delay through
// serverFirstV4.
func newPushBackoffV4(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	return func(ctx context.Context) error {
		var server time.Duration
		b := backoffv4.WithContext(serverFirstV4{newBackoffV4(), &server}, ctx)
		return backoffv4.Retry(func() error {
			err := fetch(ctx, client, url)
			server, _ = hintOf(err)
			return err
		}, b)
	}
}

// newPushBackoffV5: an ExponentialBackOff per call, its default ±50%
// jitter, no elapsed-time or tries limit, and the server's delay returned as
// a *backoff.RetryAfterError, which v5 waits instead of its schedule.
func newPushBackoffV5(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	return func(ctx context.Context) error {
		_, err := backoffv5.Retry(ctx, func() (struct{}, error) {
			err := fetch(ctx, client, url)
			if d, ok := hintOf(err); ok {
				return struct{}{}, &backoffv5.RetryAfterError{Duration: d}
			}
			return struct{}{}, err
		}, backoffv5.WithBackOff(newBackoffV5()), backoffv5.WithMaxElapsedTime(0))
		return err
	}
}

// newPushRetryGo: retry-go's default delay (exponential plus up to 100ms of
// random jitter), capped at 1s, until success; its DelayType sees the error,
// so it returns the server's delay when the 429 gave one.
func newPushRetryGo(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	schedule := retrygo.CombineDelay(retrygo.BackOffDelay, retrygo.RandomDelay)
	delay := func(n uint, err error, c *retrygo.Config) time.Duration {
		if d, ok := hintOf(err); ok {
			return d
		}
		return schedule(n, err, c)
	}
	return func(ctx context.Context) error {
		return retrygo.Do(func() error { return fetch(ctx, client, url) },
			retrygo.Context(ctx), retrygo.UntilSucceeded(), retrygo.Delay(initialDelay),
			retrygo.MaxDelay(maxDelay), retrygo.DelayType(delay), retrygo.LastErrorOnly(true))
	}
}

// newPushGoRetry: go-retry's exponential schedule (no jitter by default)
// capped at 1s, made per call since it counts attempts; a Backoff wrapper
// waits the server's delay instead when the 429 gave one.
func newPushGoRetry(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	return func(ctx context.Context) error {
		var server time.Duration
		schedule := newGoRetry()
		b := goretry.BackoffFunc(func() (time.Duration, bool) {
			d, stop := schedule.Next()
			if server > 0 {
				d = server
			}
			return d, stop
		})
		return goretry.Do(ctx, b, func(ctx context.Context) error {
			err := fetch(ctx, client, url)
			server, _ = hintOf(err)
			return goretry.RetryableError(err)
		})
	}
}

// newPushFailsafe: a RetryPolicy with backoff 10ms to 1s (factor 2, no
// jitter by default) and no retry limit, shared by the run; its DelayFunc
// returns the server's delay when the 429 gave one, else -1 for the backoff.
func newPushFailsafe(base *http.Transport, url string) func(context.Context) error {
	client := &http.Client{Transport: base}
	policy := retrypolicy.NewBuilder[any]().
		WithMaxRetries(-1).
		WithBackoff(initialDelay, maxDelay).
		WithDelayFunc(func(exec failsafe.ExecutionAttempt[any]) time.Duration {
			if d, ok := hintOf(exec.LastError()); ok {
				return d
			}
			return -1
		}).
		Build()
	executor := failsafe.With[any](policy)
	return func(ctx context.Context) error {
		return executor.WithContext(ctx).Run(func() error { return fetch(ctx, client, url) })
	}
}

// newPushRetryablehttp: its Client with waits from 10ms to 1s and no
// practical retry limit. Its DefaultBackoff honours Retry-After in seconds
// (not Retry-After-Ms) on a 429 by itself, and has no jitter.
func newPushRetryablehttp(base *http.Transport, url string) func(context.Context) error {
	client := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: base},
		RetryWaitMin: initialDelay,
		RetryWaitMax: maxDelay,
		RetryMax:     math.MaxInt32,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
	}
	return func(ctx context.Context) error {
		req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return readAnswer(resp)
	}
}

// pushResult is what one run measured.
type pushResult struct {
	server, library string
	wall            time.Duration
	done, failed    int
	requests        int // answered by the server
	rejected        int // 429s among them
	p50, p99        time.Duration
	timedOut        bool
	firstErr        error
}

func (r pushResult) ideal() time.Duration { return pushCalls * time.Second / pushRate }

func (r pushResult) row() string {
	status := "ok"
	switch {
	case r.timedOut:
		status = fmt.Sprintf("TIMEOUT at %v, %d/%d done", runLimit, r.done, pushCalls)
	case r.failed > 0:
		status = fmt.Sprintf("%d failed: %v", r.failed, r.firstErr)
	}
	return fmt.Sprintf("| %s | %s | %.2f | %.3f | %d | %v | %v | %s |", r.server, r.library,
		r.wall.Seconds()/r.ideal().Seconds(), float64(r.requests)/float64(max(r.done, 1)),
		r.rejected, r.p99.Round(time.Millisecond), r.p50.Round(time.Millisecond), status)
}

// runPushback has pushWorkers goroutines make pushCalls calls through lib
// against a fresh server of kind k, within runLimit.
func runPushback(k pushServerKind, lib pushLibrary) pushResult {
	ps := &pushServer{admit: k.new()}
	srv := httptest.NewServer(ps) // listens on 127.0.0.1
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	call := lib.new(base, srv.URL)

	// Start just after a second of Unix time begins, so every run meets the
	// fixed window in the same phase.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 5*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()

	var (
		tickets atomic.Int64
		mu      sync.Mutex
		res     = pushResult{server: k.name, library: lib.name}
		lat     []time.Duration
		wg      sync.WaitGroup
	)
	began := time.Now()
	for range pushWorkers {
		wg.Go(func() {
			var mine []time.Duration
			failed := 0
			var firstErr error
			hitLimit := false
			for !hitLimit && tickets.Add(1) <= pushCalls {
				start := time.Now()
				err := call(ctx)
				switch {
				case err == nil:
					mine = append(mine, time.Since(start))
				case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
					// The run's limit ended the call, or a wait was refused
					// because it would have passed the limit.
					hitLimit = true
				default:
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			res.failed += failed
			res.timedOut = res.timedOut || hitLimit
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(began)

	ps.mu.Lock()
	res.requests, res.rejected = ps.requests, ps.rejected
	ps.mu.Unlock()
	res.done = len(lat)
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return res
}

// percentile returns the value below which a share q of the sorted ds lie.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(math.Ceil(q*float64(len(ds))))-1]
}

const pushHeader = "| server | library | wall / ideal | requests / call | 429s | p99 | p50 " +
	"| status |\n|---|---|---|---|---|---|---|---|"

func TestPushback(t *testing.T) {
	if os.Getenv("RETRY_PUSHBACK") != "1" {
		t.Skip("pushback runs take minutes of real time; set RETRY_PUSHBACK=1 to run them")
	}
	only := os.Getenv("RETRY_PUSHBACK_ONLY") // a comma-separated list of libraries, if set

	var rows []string
	for _, k := range pushServers {
		t.Run(k.name, func(t *testing.T) {
			for _, lib := range pushLibraries {
				if only != "" && !slices.Contains(strings.Split(only, ","), lib.name) {
					continue
				}
				t.Run(lib.name, func(t *testing.T) {
					r := runPushback(k, lib)
					t.Log(r.row())
					if trace := waits.take(); trace != "" {
						t.Logf("waits chosen by our policy:\n%s", trace)
					}
					rows = append(rows, r.row())
				})
			}
		})
	}
	t.Logf("calls %d, workers %d, server rate %d/s, ideal %v\n%s\n%s", pushCalls,
		pushWorkers, pushRate, pushCalls*time.Second/pushRate, pushHeader,
		strings.Join(rows, "\n"))
}
