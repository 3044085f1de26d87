package retryhttp_test

// Regression tests for what a first user found by attacking the transport.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
	"github.com/deb4e658/retry/retrytest"
)

// A POST without an idempotency key is sent once, however many loops
// enclose the transport, whatever the failure.
func TestUnsafePostSentOnceThroughLayers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		giveFirst http.HandlerFunc
	}{
		{"status_503", status(503)},
		{"status_500", status(500)},
		{"reset", reset},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{handlers: []http.HandlerFunc{tt.giveFirst}}
			f := newFixture(t, s, nil)
			tool := &retry.Policy{MaxAttempts: 3, Clock: f.clk,
				AttemptTimeout: retry.Unlimited}
			err := tool.Do(context.Background(), func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/charge",
					strings.NewReader("amount=100"))
				resp, err := f.client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				return retryhttp.ResponseError(resp)
			})
			assert.Equal(t, 1, s.requests())
			assert.ErrorIs(t, err, retry.ErrUnsafeRetry)
			assert.ErrorContains(t, err, "POST")
			assert.ErrorContains(t, err, "Idempotency-Key")
		})
	}
}

// An answer to be retried whose body stalls is cut off, and the retry made.
func TestStalledBodyOfRetriedAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the real-time drain bound")
	}
	var calls atomic.Int32
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(503)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			select { // stall until the test ends
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	})
	f := newFixture(t, h, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := f.client.Get(f.srv.URL)
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the transport hung on a stalled body")
	}
	assert.Equal(t, int32(2), calls.Load())
}

// A host asking for a longer pause than MaxServerDelay does not freeze the
// other calls to it: they are sent, and end with ErrServerDelay.
func TestLongCoolDownDoesNotFreezeHost(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(429, "Retry-After", "3600")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	for range 2 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, 429, resp.StatusCode)
		gaveUp := retryhttp.ResponseError(resp)
		assert.ErrorIs(t, gaveUp, retry.ErrServerDelay)
		var rerr *retry.Error
		require.ErrorAs(t, gaveUp, &rerr)
		assert.Equal(t, time.Hour, rerr.ServerDelay)
	}
	assert.Equal(t, retrytest.Epoch, clk.Now(), "nobody waited an hour")
	assert.Equal(t, 2, s.requests())
}

// oddBase answers as some test fakes do.
type oddBase struct{ resp *http.Response }

func (b oddBase) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

func TestOddBaseAnswers(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	tr := retryhttp.NewTransport(oddBase{&http.Response{StatusCode: 200}}, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	assert.Empty(t, b, "a nil body reads as empty")

	tr = retryhttp.NewTransport(oddBase{nil}, &retry.Policy{MaxAttempts: 1})
	_, err = tr.RoundTrip(req)
	assert.ErrorContains(t, err, "returned neither a response nor an error")
}

func TestGetBodyFailureReturnsLastAnswer(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(503)}}
	f := newFixture(t, s, nil)
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL, strings.NewReader("x"))
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("spool gone") }
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "answer 503", readAll(t, resp))
	assert.Equal(t, 1, retryhttp.Attempts(resp))
	assert.ErrorIs(t, retryhttp.ResponseError(resp), retryhttp.ErrBodyNotReplayable)
}

// countingBase answers 200 to any host without touching the network.
type countingBase struct{ calls atomic.Int32 }

func (b *countingBase) RoundTrip(*http.Request) (*http.Response, error) {
	b.calls.Add(1)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestManyHostsDoNotPileUp(t *testing.T) {
	base := &countingBase{}
	tr := retryhttp.NewTransport(base, nil)
	for i := range 5000 {
		req, _ := http.NewRequest(http.MethodGet, "http://host-"+itoa(i)+".invalid/", nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Less(t, retryhttp.GatesForTest(tr), 200, "idle gates are forgotten")
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestTurnsTakenBeforePauseAreRetaken: callers that took their limiter
// slots one after another, and then found the host paused, must not all
// send when the pause ends (a breaker saw a fleet exceed its limiter so).
func TestTurnsTakenBeforePauseAreRetaken(t *testing.T) {
	clk := retrytest.NewClock()
	release, limitedArrived := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var arrivals []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			close(limitedArrived)
			<-release
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	// The time a request is sent is taken as the transport hands it on:
	// the server may see it after the clock has moved on.
	sent := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path != "/limited" {
			mu.Lock()
			arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
			mu.Unlock()
		}
		return base.RoundTrip(r)
	})
	lim, err := retry.NewRateLimiter(time.Second, 1)
	require.NoError(t, err)
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1,
		Limiter: lim}
	client := &http.Client{Transport: retryhttp.NewTransport(sent, p)}
	get := func(path string, done chan<- error) {
		resp, err := client.Get(srv.URL + path)
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}

	// The first request takes the limiter's token; its answer is held.
	first := make(chan error, 1)
	go get("/limited", first)
	bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	<-limitedArrived

	// Two more take slots at 1s and 2s, then the 429 pauses the host to 5s.
	others := make(chan error, 2)
	go get("/a", others)
	require.NoError(t, clk.BlockUntil(bound, 1))
	go get("/b", others)
	require.NoError(t, clk.BlockUntil(bound, 2))
	close(release)
	require.NoError(t, <-first)

	// One step at a time: /a wakes at 1s and meets the pause, /b at 2s.
	for range 2 {
		clk.AdvanceToNext()
		require.NoError(t, clk.BlockUntil(bound, 2))
	}

	// Both wake at 5s. The clock stands still until one has sent and the
	// other sent too or waits; then it jumps to each wait's end.
	clk.AdvanceToNext()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals) == 2 || (len(arrivals) == 1 && clk.Pending() == 1)
	}, 5*time.Second, time.Millisecond)
	stop := driveClock(clk)
	require.NoError(t, <-others)
	require.NoError(t, <-others)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, arrivals, 2)
	assert.GreaterOrEqual(t, arrivals[0], 5*time.Second, "held by the pause")
	assert.GreaterOrEqual(t, arrivals[1]-arrivals[0], time.Second,
		"the limiter's spacing holds after the pause")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPauseDuringSlotWaitHolds: a caller that sleeps for its limiter slot
// must look at the gate again before it sends; a breaker saw requests go
// out during a pause that began while they slept.
func TestPauseDuringSlotWaitHolds(t *testing.T) {
	clk := retrytest.NewClock()
	var limited atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/first":
			w.Header().Set("Retry-After", "2")
		case limited.Add(1) == 1:
			w.Header().Set("Retry-After", "5")
		default:
			io.WriteString(w, "ok")
			return
		}
		// A remaining count of zero: the pause alone, no learned pacing.
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	var mu sync.Mutex
	var sent []time.Duration
	spy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path != "/first" {
			mu.Lock()
			sent = append(sent, clk.Now().Sub(retrytest.Epoch))
			mu.Unlock()
		}
		return base.RoundTrip(r)
	})
	lim, err := retry.NewRateLimiter(time.Second, 1)
	require.NoError(t, err)
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1,
		Limiter: lim, Rand: zeroSource{}}
	client := &http.Client{Transport: retryhttp.NewTransport(spy, p)}

	resp, err := client.Get(srv.URL + "/first") // closes the gate until 2s
	require.NoError(t, err)
	readAll(t, resp)

	done := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := client.Get(srv.URL + "/next")
			if err == nil {
				readAll(t, resp)
			}
			done <- err
		}()
	}
	bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(bound, 2), "both wait for the gate")

	// At 2s one takes the limiter's token and sends; its 429 pauses the
	// host until 7s while the other sleeps for its slot at 3s.
	clk.AdvanceToNext()
	require.NoError(t, <-done)
	require.NoError(t, clk.BlockUntil(bound, 1))

	stop := driveClock(clk)
	require.NoError(t, <-done)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sent, 2)
	assert.Equal(t, 2*time.Second, sent[0])
	assert.GreaterOrEqual(t, sent[1], 7*time.Second, "sent during the pause")
}
