package retryhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
	"github.com/deb4e658/retry/retrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// script answers the n-th request (from 1) with the n-th handler, and the
// last handler for every request after that. It records each request body.
type script struct {
	mu       sync.Mutex
	handlers []http.HandlerFunc
	bodies   []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	h := s.handlers[min(len(s.bodies), len(s.handlers))-1]
	s.mu.Unlock()
	h(w, r)
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func status(code int, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "answer %d", code)
	}
}

// reset closes the connection with an RST instead of answering.
func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
}

// fixture is a server on 127.0.0.1, a client through a retrying transport
// on a fake clock that skips every wait at once, and the base transport.
type fixture struct {
	srv    *httptest.Server
	clk    *retrytest.Clock
	base   *http.Transport
	client *http.Client
}

func newFixture(t *testing.T, h http.Handler, p *retry.Policy, opts ...retryhttp.Option) *fixture {
	t.Helper()
	srv := httptest.NewServer(h)
	clk := retrytest.NewClock()
	base := &http.Transport{}
	if p == nil {
		p = &retry.Policy{}
	}
	p.Clock, p.Jitter, p.AttemptTimeout = clk, retry.NoJitter, retry.Unlimited
	client := &http.Client{Transport: retryhttp.NewTransport(base, p, opts...)}

	stop := driveClock(clk)
	t.Cleanup(func() {
		stop()
		base.CloseIdleConnections()
		srv.Close()
	})
	return &fixture{srv: srv, clk: clk, base: base, client: client}
}

// driveClock moves clk to the end of each wait as soon as one begins, until
// the function it returns is called; that function returns once the
// driving goroutine has ended.
func driveClock(clk *retrytest.Clock) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for clk.BlockUntil(ctx, 1) == nil {
			clk.AdvanceToNext()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

func TestRetriesUntilSuccess(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(503), status(500), reset, status(200)}}
	f := newFixture(t, s, nil)
	f.base.DisableKeepAlives = true // else net/http itself replays the reset GET

	resp, err := f.client.Get(f.srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "answer 200", readAll(t, resp))
	assert.Equal(t, 4, retryhttp.Attempts(resp))
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		f.clk.Waits())
}

func TestHonoursEveryHeaderFormat(t *testing.T) {
	epoch := func(d time.Duration) string {
		return strconv.FormatInt(retrytest.Epoch.Add(d).Unix(), 10)
	}
	date := func(d time.Duration) string { return retrytest.Epoch.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name        string
		giveHeaders []string
		wantWait    time.Duration
	}{
		{"retry_after_seconds", []string{"Retry-After", "3"}, 3 * time.Second},
		{"retry_after_date", []string{"Retry-After", date(4 * time.Second),
			"Date", date(0)}, 4 * time.Second},
		{"retry_after_ms", []string{"Retry-After-Ms", "2500"}, 2500 * time.Millisecond},
		{"x_ms_retry_after_ms", []string{"X-Ms-Retry-After-Ms", "1500"},
			1500 * time.Millisecond},
		{"github_reset", []string{"X-Ratelimit-Remaining", "0",
			"X-Ratelimit-Reset", epoch(6 * time.Second), "Date", date(0)}, 6 * time.Second},
		{"openai_reset", []string{"X-Ratelimit-Remaining-Requests", "0",
			"X-Ratelimit-Reset-Requests", "1.5s"}, 1500 * time.Millisecond},
		{"ietf_reset", []string{"Ratelimit-Remaining", "0", "Ratelimit-Reset", "5"},
			5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{handlers: []http.HandlerFunc{status(429, tt.giveHeaders...),
				status(200)}}
			f := newFixture(t, s, nil)
			resp, err := f.client.Get(f.srv.URL)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, []time.Duration{tt.wantWait}, f.clk.Waits())
		})
	}
}

// A server whose clock runs an hour ahead of the client's: the HTTP-date is
// measured against its own Date header, so the wait is what it meant.
func TestDateHintMeasuredAgainstServerClock(t *testing.T) {
	serverNow := retrytest.Epoch.Add(time.Hour)
	s := &script{handlers: []http.HandlerFunc{
		status(503, "Date", serverNow.Format(http.TimeFormat),
			"Retry-After", serverNow.Add(7*time.Second).Format(http.TimeFormat)),
		status(200)}}
	f := newFixture(t, s, nil)
	resp, err := f.client.Get(f.srv.URL)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, []time.Duration{7 * time.Second}, f.clk.Waits())
}

func TestBodyReplayedExactly(t *testing.T) {
	payload := strings.Repeat("0123456789", 1000)
	tests := []struct {
		name    string
		newBody func() io.Reader
	}{
		{"get_body", func() io.Reader { return bytes.NewReader([]byte(payload)) }},
		{"buffered", func() io.Reader { return struct{ io.Reader }{strings.NewReader(payload)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{handlers: []http.HandlerFunc{status(503), status(502), status(200)}}
			f := newFixture(t, s, nil)
			req, err := http.NewRequest(http.MethodPut, f.srv.URL, tt.newBody())
			require.NoError(t, err)
			resp, err := f.client.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, []string{payload, payload, payload}, s.bodies)
		})
	}
}

func TestBodyOverLimitIsSentOnce(t *testing.T) {
	payload := strings.Repeat("x", 100)
	newReq := func(url string) *http.Request {
		// No GetBody: the body can only be read once.
		req, err := http.NewRequest(http.MethodPut, url,
			struct{ io.Reader }{strings.NewReader(payload)})
		require.NoError(t, err)
		return req
	}

	t.Run("status_returned", func(t *testing.T) {
		s := &script{handlers: []http.HandlerFunc{status(503), status(200)}}
		f := newFixture(t, s, nil, retryhttp.WithMaxBufferedBody(10))
		resp, err := f.client.Do(newReq(f.srv.URL))
		require.NoError(t, err)
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "answer 503", readAll(t, resp))
		assert.Equal(t, []string{payload}, s.bodies)
	})
	t.Run("error_explains", func(t *testing.T) {
		s := &script{handlers: []http.HandlerFunc{reset, status(200)}}
		f := newFixture(t, s, nil, retryhttp.WithMaxBufferedBody(10))
		_, err := f.client.Do(newReq(f.srv.URL))
		require.Error(t, err)
		assert.ErrorIs(t, err, retryhttp.ErrBodyNotReplayable)
		assert.ErrorIs(t, err, retry.ErrNotRetryable)
		assert.Contains(t, err.Error(), "over 10 bytes and has no GetBody")
		assert.Equal(t, 1, s.requests())
	})
}

func TestIdempotencyRules(t *testing.T) {
	tests := []struct {
		name         string
		giveMethod   string
		giveHeader   string
		giveOpts     []retryhttp.Option
		giveFirst    http.HandlerFunc
		wantRequests int
	}{
		{"get_503", http.MethodGet, "", nil, status(503), 2},
		{"delete_503", http.MethodDelete, "", nil, status(503), 2},
		{"post_503", http.MethodPost, "", nil, status(503), 1},
		{"patch_500", http.MethodPatch, "", nil, status(500), 1},
		{"post_reset", http.MethodPost, "", nil, reset, 1},
		{"post_429", http.MethodPost, "", nil, status(429), 2},
		{"post_403_rate_limited", http.MethodPost, "", nil,
			status(403, "X-Ratelimit-Remaining", "0"), 2},
		{"post_idempotency_key", http.MethodPost, "Idempotency-Key", nil, status(503), 2},
		{"post_x_idempotency_key", http.MethodPost, "X-Idempotency-Key", nil, reset, 2},
		{"post_opt_in", http.MethodPost, "", []retryhttp.Option{retryhttp.WithNonIdempotent()},
			status(503), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{handlers: []http.HandlerFunc{tt.giveFirst, status(200)}}
			f := newFixture(t, s, nil, tt.giveOpts...)
			req, err := http.NewRequest(tt.giveMethod, f.srv.URL, strings.NewReader("{}"))
			require.NoError(t, err)
			if tt.giveHeader != "" {
				req.Header.Set(tt.giveHeader, "key-123")
			}
			resp, err := f.client.Do(req)
			if err == nil {
				readAll(t, resp)
			}
			assert.Equal(t, tt.wantRequests, s.requests())
		})
	}
}

// failDial is a base transport whose first call fails to connect.
type failDial struct {
	base  http.RoundTripper
	calls atomic.Int32
}

func (f *failDial) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.calls.Add(1) == 1 {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp",
			Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	}
	return f.base.RoundTrip(req)
}

func TestPostRetriedAfterDialError(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(200)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	p := &retry.Policy{InitialDelay: retry.NoDelay}
	client := &http.Client{Transport: retryhttp.NewTransport(&failDial{base: base}, p)}

	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, 2, retryhttp.Attempts(resp))
	assert.Equal(t, []string{`{"a":1}`}, s.bodies, "sent once, after the failed dial")
}

func TestExhaustedReturnsLastResponse(t *testing.T) {
	big := strings.Repeat("b", 200<<10) // larger than what is buffered
	tests := []struct {
		name     string
		giveBody string
	}{
		{"small_body", "try later"},
		{"large_body", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Attempt", strconv.Itoa(int(n.Add(1))))
				w.WriteHeader(503)
				io.WriteString(w, tt.giveBody)
			})
			f := newFixture(t, h, &retry.Policy{MaxAttempts: 3})
			resp, err := f.client.Get(f.srv.URL)
			require.NoError(t, err)
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, "3", resp.Header.Get("X-Attempt"))
			assert.Equal(t, tt.giveBody, readAll(t, resp))
			assert.Equal(t, 3, retryhttp.Attempts(resp))
		})
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var newConns atomic.Int32
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%3 != 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			io.WriteString(w, strings.Repeat("slow down ", 100))
			return
		}
		io.WriteString(w, "ok")
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	f := newFixture(t, http.NotFoundHandler(), nil)

	for range 20 {
		resp, err := f.client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "ok", readAll(t, resp))
	}
	assert.Equal(t, int32(60), calls.Load())
	assert.Equal(t, int32(1), newConns.Load(), "every retry reused the one connection")
}

func TestAttemptTimeoutAndReadableBody(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(arrived)
			<-r.Context().Done() // hang until the client gives up
			return
		}
		io.WriteString(w, "head ")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "tail")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, Jitter: retry.NoJitter, AttemptTimeout: 10 * time.Second}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		done <- result{resp, err}
	}()
	ctx := context.Background()
	require.NoError(t, clk.BlockUntil(ctx, 1)) // attempt 1's timeout
	<-arrived
	clk.Advance(10 * time.Second)
	require.NoError(t, clk.BlockUntil(ctx, 1)) // the wait before attempt 2
	clk.AdvanceToNext()
	r := <-done
	require.NoError(t, r.err)

	// Long after attempt 2's timeout, the body can still be read.
	clk.Advance(time.Minute)
	close(release)
	assert.Equal(t, "head tail", readAll(t, r.resp))
	assert.Equal(t, 2, retryhttp.Attempts(r.resp))
}

func TestSharedCoolDownHoldsFirstAttempts(t *testing.T) {
	var clk *retrytest.Clock
	var mu sync.Mutex
	var arrivals []time.Duration
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
		mu.Unlock()
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "ok")
	})
	f := newFixture(t, h, nil)
	clk = f.clk

	resp, err := f.client.Get(f.srv.URL + "/a") // 429, waits 5s, succeeds
	require.NoError(t, err)
	readAll(t, resp)
	f.clk.Set(retrytest.Epoch.Add(time.Second)) // no effect: already past
	mu.Lock()
	arrivals = arrivals[:0]
	mu.Unlock()

	// A fresh request to the same host after the pause has ended goes at once.
	resp, err = f.client.Get(f.srv.URL + "/b")
	require.NoError(t, err)
	readAll(t, resp)
	assert.Len(t, arrivals, 1)
}

func TestCoolDownPausesOtherCallers(t *testing.T) {
	clk := retrytest.NewClock()
	var mu sync.Mutex
	var arrivals []time.Duration
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
		mu.Unlock()
		if r.URL.Path == "/limited" {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	resp, err := client.Get(srv.URL + "/limited") // one attempt: the 429 comes back
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, 429, resp.StatusCode)

	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(srv.URL + "/other") // same host: must wait
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}()
	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	waited, _ := clk.AdvanceToNext()
	require.NoError(t, <-done)

	assert.GreaterOrEqual(t, waited, 5*time.Second)
	assert.LessOrEqual(t, waited, 6*time.Second, "released within the spread")
	assert.Equal(t, []time.Duration{0, waited}, arrivals)
}

func TestProactivePacing(t *testing.T) {
	clk := retrytest.NewClock()
	var mu sync.Mutex
	var arrivals []time.Duration
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
		mu.Unlock()
		now := clk.Now()
		w.Header().Set("Date", now.Format(http.TimeFormat))
		w.Header().Set("X-Ratelimit-Remaining", "0")
		w.Header().Set("X-Ratelimit-Reset", strconv.FormatInt(now.Add(3*time.Second).Unix(), 10))
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, Rand: zeroSource{}}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	resp, err := client.Get(srv.URL) // 200, but the quota is spent for 3s
	require.NoError(t, err)
	readAll(t, resp)
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}()
	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	clk.AdvanceToNext()
	require.NoError(t, <-done)
	assert.Equal(t, []time.Duration{0, 3 * time.Second}, arrivals, "no request spent to learn")
}

// Callers of a host that states how many requests it has left send no
// more than that while earlier requests await their answers; a caller held
// so sends anyway after a second, so that requests that hang hold no one.
func TestInFlightKeepToStatedLeft(t *testing.T) {
	clk := retrytest.NewClock()
	const quota = 5
	var mu sync.Mutex
	used, arrived := 0, 0
	arrivals := make(chan time.Duration, 16)
	release := make(chan struct{})
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		arrived++
		mu.Unlock()
		arrivals <- clk.Now().Sub(retrytest.Epoch)
		<-release

		mu.Lock()
		defer mu.Unlock()
		code := http.StatusOK
		if used < quota {
			used++
		} else {
			code = http.StatusTooManyRequests
		}
		h := http.Header{}
		h.Set("X-RateLimit-Remaining", strconv.Itoa(quota-used))
		h.Set("X-RateLimit-Reset", "4102444800") // 2100: beyond MaxServerDelay
		return &http.Response{StatusCode: code, Header: h, Request: r,
			Body: io.NopCloser(strings.NewReader("ok"))}, nil
	})
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}
	get := func(codes chan<- int) {
		resp, err := client.Get("http://api.test/")
		if !assert.NoError(t, err) {
			codes <- 0
			return
		}
		readAll(t, resp)
		codes <- resp.StatusCode
	}

	codes := make(chan int, 8)
	go get(codes)
	<-arrivals
	release <- struct{}{}
	require.Equal(t, http.StatusOK, <-codes) // 4 left

	for range 6 {
		go get(codes)
	}
	for range 4 {
		assert.Zero(t, <-arrivals)
	}
	bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(bound, 2), "two callers wait for an answer")
	mu.Lock()
	assert.Equal(t, 5, arrived, "no more requests in flight than are left")
	mu.Unlock()

	clk.Advance(time.Second)
	for range 2 {
		assert.Equal(t, time.Second, <-arrivals, "held a second at most")
	}
	close(release)
	got := map[int]int{}
	for range 6 {
		got[<-codes]++
	}
	assert.Equal(t, map[int]int{200: 4, 429: 2}, got)
}

// zeroSource makes every random release offset zero.
type zeroSource struct{}

func (zeroSource) Uint64() uint64 { return 0 }

func TestCancelDuringWait(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(503, "Retry-After", "30")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, retry.ErrCanceled)
	assert.Equal(t, retrytest.Epoch, clk.Now(), "returned without waiting")
	assert.Equal(t, 0, clk.Pending())
}

func TestBadSettingsReportedByRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		givePol   *retry.Policy
		giveOpts  []retryhttp.Option
		wantError string
	}{
		{"bad_policy", &retry.Policy{Multiplier: 0.1}, nil, "Multiplier 0.1"},
		{"negative_buffer", nil, []retryhttp.Option{retryhttp.WithMaxBufferedBody(-1)},
			"retryhttp: max buffered body -1 must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := retryhttp.NewTransport(http.DefaultTransport, tt.givePol, tt.giveOpts...)
			body := &closeRecorder{Reader: strings.NewReader("x")}
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)
			_, err := tr.RoundTrip(req)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantError)
			assert.True(t, body.closed, "the request body is closed")
		})
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestAttemptsOfForeignResponse(t *testing.T) {
	assert.Equal(t, 0, retryhttp.Attempts(nil))
	assert.Equal(t, 0, retryhttp.Attempts(&http.Response{}))
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	assert.Equal(t, 0, retryhttp.Attempts(&http.Response{Request: req}))
}

func TestResponseErrorTellsEnclosingLoops(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(503)}}
	f := newFixture(t, s, &retry.Policy{MaxAttempts: 5})
	tool := &retry.Policy{MaxAttempts: 3, Clock: f.clk, AttemptTimeout: retry.Unlimited}

	toolCalls := 0
	err := tool.Do(context.Background(), func(ctx context.Context) error {
		toolCalls++
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL, nil)
		resp, err := f.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return retryhttp.ResponseError(resp)
	})

	assert.Equal(t, 1, toolCalls, "the transport already retried: the tool does not")
	assert.Equal(t, 5, s.requests())
	assert.ErrorIs(t, err, retry.ErrExhausted)
	var status *retry.StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, 503, status.StatusCode)
}

func TestResponseError(t *testing.T) {
	assert.NoError(t, retryhttp.ResponseError(nil))
	assert.NoError(t, retryhttp.ResponseError(&http.Response{StatusCode: 204}))
	err := retryhttp.ResponseError(&http.Response{StatusCode: 404})
	var status *retry.StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, 404, status.StatusCode)
}

func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	base := &idleCounter{}
	(&http.Client{Transport: retryhttp.NewTransport(base, nil)}).CloseIdleConnections()
	assert.Equal(t, 1, base.closed)
}

type idleCounter struct {
	http.RoundTripper
	closed int
}

func (c *idleCounter) CloseIdleConnections() { c.closed++ }

func TestCoolDownWaitRespectsTimeLimit(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(429, "Retry-After", "3"), status(200)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1,
		TimeLimit: 500 * time.Millisecond}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	resp, err := client.Get(srv.URL) // the 429 closes the gate for 3s
	require.NoError(t, err)
	readAll(t, resp)
	_, err = client.Get(srv.URL) // would wait 3s: past its 500ms limit
	assert.ErrorIs(t, err, retry.ErrTimeLimit)
	assert.Equal(t, retrytest.Epoch, clk.Now(), "refused without waiting")
	assert.Equal(t, 1, s.requests())
}

func TestLimiterSpacingHoldsAfterCoolDown(t *testing.T) {
	clk := retrytest.NewClock()
	arrived := make(chan time.Time, 10)
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- clk.Now()
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	lim, err := retry.NewRateLimiter(100*time.Millisecond, 1)
	require.NoError(t, err)
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1,
		Limiter: lim}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	resp, err := client.Get(srv.URL) // a 429 that closes the gate for 1s
	require.NoError(t, err)
	readAll(t, resp)
	<-arrived

	// Four callers arrive during the pause; each waits for the gate and then
	// for its own limiter slot.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL)
			if assert.NoError(t, err) {
				readAll(t, resp)
			}
		})
	}
	require.NoError(t, clk.BlockUntil(context.Background(), 4))
	var at []time.Time
	for len(at) < 4 {
		// Fire the next timer; then either a request arrives or its caller
		// makes a new timer (the limiter's slot), and only then move on, so
		// no time passes while a request is on its way.
		n := clk.Pending()
		clk.AdvanceToNext()
		ctx, cancel := context.WithCancel(context.Background())
		timerMade := make(chan struct{})
		go func() {
			if clk.BlockUntil(ctx, n) == nil {
				close(timerMade)
			}
		}()
		select {
		case a := <-arrived:
			at = append(at, a)
		case <-timerMade:
		}
		cancel()
	}
	wg.Wait()

	assert.False(t, at[0].Before(retrytest.Epoch.Add(time.Second)), "not before the pause ends")
	for i := 1; i < len(at); i++ {
		// x/time/rate computes in float64 seconds, which can land a
		// nanosecond short of the interval.
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), 100*time.Millisecond-time.Microsecond,
			"request %d came too soon after the one before", i)
	}
}
