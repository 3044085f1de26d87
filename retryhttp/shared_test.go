package retryhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
	"github.com/deb4e658/retry/retrytest"
)

// memoryPauses is a SharedPauses in memory, on the test's fake clock: what
// redislimit.Pauses keeps in Redis for a fleet.
type memoryPauses struct {
	clk   *retrytest.Clock
	mu    sync.Mutex
	until map[string]time.Time
}

func (m *memoryPauses) Pause(key string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := m.clk.Now().Add(d); end.After(m.until[key]) {
		m.until[key] = end
	}
}

func (m *memoryPauses) PausedFor(key string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(m.until[key].Sub(m.clk.Now()), 0)
}

// TestSharedPausesHoldOtherProcesses plays two replicas, each with a
// transport of its own: a hold-back answer to one must hold back the
// other's first attempt, which has never seen the host turn it away.
func TestSharedPausesHoldOtherProcesses(t *testing.T) {
	tests := []struct {
		name      string
		giveLimit http.HandlerFunc
		wantPause time.Duration
	}{
		{"429_retry_after", status(429, "Retry-After", "5"), 5 * time.Second},
		{"quota_spent", status(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "3"),
			3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			var mu sync.Mutex
			var arrivals []time.Duration
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
				mu.Unlock()
				if r.URL.Path == "/limited" {
					tt.giveLimit(w, r)
					return
				}
				io.WriteString(w, "ok")
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			shared := &memoryPauses{clk: clk, until: map[string]time.Time{}}
			replica := func() *http.Client {
				base := &http.Transport{}
				t.Cleanup(base.CloseIdleConnections)
				p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1}
				return &http.Client{Transport: retryhttp.NewTransport(base, p,
					retryhttp.WithSharedPauses(shared))}
			}
			first, second := replica(), replica()

			resp, err := first.Get(srv.URL + "/limited")
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tt.wantPause, shared.PausedFor(srv.Listener.Addr().String()),
				"the pause is shared under the host's key")

			done := make(chan error, 1)
			go func() {
				resp, err := second.Get(srv.URL + "/other")
				if err == nil {
					readAll(t, resp)
				}
				done <- err
			}()
			// The second replica must wait on the clock; if it sent at
			// once, nothing waits, and the bound turns a hang into a failure.
			bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, clk.BlockUntil(bound, 1), "the second replica did not wait")
			waited, _ := clk.AdvanceToNext()
			require.NoError(t, <-done)

			assert.GreaterOrEqual(t, waited, tt.wantPause, "held back until the reset")
			assert.LessOrEqual(t, waited, tt.wantPause+tt.wantPause/2, "within the spread")
			assert.Equal(t, []time.Duration{0, waited}, arrivals)
		})
	}
}

// TestSharedPausesAnswerNothing checks that a store with nothing in it (or
// one that is down, which answers the same) holds no one back.
func TestSharedPausesAnswerNothing(t *testing.T) {
	clk := retrytest.NewClock()
	var calls int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	shared := &memoryPauses{clk: clk, until: map[string]time.Time{}}
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p,
		retryhttp.WithSharedPauses(shared))}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Equal(t, 1, calls)
	assert.Empty(t, shared.until, "a success pauses nothing")
}

// TestSharedPauseDuringLimiterWait checks that a caller the limiter held
// back asks the shared pauses again before it sends: another process was
// told to hold back while it waited.
func TestSharedPauseDuringLimiterWait(t *testing.T) {
	clk := retrytest.NewClock()
	var mu sync.Mutex
	var arrivals []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, clk.Now().Sub(retrytest.Epoch))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	shared := &memoryPauses{clk: clk, until: map[string]time.Time{}}
	lim, err := retry.NewRateLimiter(time.Second, 1)
	require.NoError(t, err)
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, Limiter: lim}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p,
		retryhttp.WithSharedPauses(shared))}

	resp, err := client.Get(srv.URL) // takes the limiter's one token
	require.NoError(t, err)
	readAll(t, resp)

	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(srv.URL) // waits 1s for the limiter
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}()
	bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(bound, 1))
	shared.Pause(srv.Listener.Addr().String(), 5*time.Second) // another replica's 429
	waited, _ := clk.AdvanceToNext()
	assert.Equal(t, time.Second, waited, "the limiter's wait")
	require.NoError(t, clk.BlockUntil(bound, 1), "the caller sent during the shared pause")
	clk.AdvanceToNext()
	require.NoError(t, <-done)

	require.Len(t, arrivals, 2)
	assert.GreaterOrEqual(t, arrivals[1], 5*time.Second, "held back until the shared pause ends")
	assert.LessOrEqual(t, arrivals[1], 5*time.Second+2*time.Second, "within the spread")
}

// TestSharedPausesAskedAfterEachWait: a caller that sleeps through a pause
// of its own process must ask the shared store again before it sends: a
// breaker saw replicas send while another's pause still had 900ms to run.
func TestSharedPausesAskedAfterEachWait(t *testing.T) {
	clk := retrytest.NewClock()
	release, firstArrived := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			close(firstArrived)
			<-release
			w.Header().Set("Retry-After", "2")
			w.Header().Set("X-RateLimit-Remaining", "0") // the pause alone, no pacing
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
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
	shared := &memoryPauses{clk: clk, until: map[string]time.Time{}}
	lim, err := retry.NewRateLimiter(time.Second, 1)
	require.NoError(t, err)
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited, MaxAttempts: 1,
		Limiter: lim, Rand: zeroSource{}}
	client := &http.Client{Transport: retryhttp.NewTransport(spy, p,
		retryhttp.WithSharedPauses(shared))}
	get := func(path string, done chan<- error) {
		resp, err := client.Get(srv.URL + path)
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}

	// The first request takes the limiter's token; the second waits 1s.
	first, second := make(chan error, 1), make(chan error, 1)
	go get("/first", first)
	<-firstArrived
	go get("/next", second)
	bound, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(bound, 1))

	// The 429 pauses this process (and the store) until 2s.
	close(release)
	require.NoError(t, <-first)

	// At 1s the second wakes and sleeps through the pause to 2s; meanwhile
	// another replica is told to hold back until 5s.
	clk.AdvanceToNext()
	require.NoError(t, clk.BlockUntil(bound, 1))
	shared.Pause(srv.Listener.Addr().String(), 4*time.Second)

	stop := driveClock(clk)
	require.NoError(t, <-second)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sent, 1)
	assert.GreaterOrEqual(t, sent[0], 5*time.Second, "sent during the other replica's pause")
}
