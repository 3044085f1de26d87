package redislimit_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/redislimit"
	"github.com/deb4e658/retry/retryhttp"
)

func TestNewPauses(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = client.Close() })
	tests := []struct {
		name       string
		giveClient redis.UniversalClient
		givePrefix string
		giveOpts   []redislimit.Option
		wantErr    string
	}{
		{name: "ok", giveClient: client, givePrefix: "pause:"},
		{name: "nil_client", givePrefix: "pause:", wantErr: "retry: redis pauses client is nil"},
		{name: "typed_nil_client", giveClient: (*redis.ClusterClient)(nil), givePrefix: "p:",
			wantErr: "retry: redis pauses client is nil"},
		{name: "empty_prefix", giveClient: client,
			wantErr: "retry: redis pauses prefix is empty"},
		{name: "fallback_given", giveClient: client, givePrefix: "pause:",
			giveOpts: []redislimit.Option{redislimit.WithFallback(time.Second, 1)},
			wantErr:  "retry: redis pauses: WithFallback applies to a Limiter, not to Pauses"},
		{name: "zero_timeout", giveClient: client, givePrefix: "pause:",
			giveOpts: []redislimit.Option{redislimit.WithTimeout(0)},
			wantErr:  "retry: redislimit WithTimeout 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := redislimit.NewPauses(tt.giveClient, tt.givePrefix, tt.giveOpts...)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, `pauses shared in Redis keys "pause:*"`, p.String())
		})
	}
}

func TestNilPauses(t *testing.T) {
	var p *redislimit.Pauses
	p.Pause("host", time.Second)
	assert.Zero(t, p.PausedFor("host"))
	assert.Equal(t, "no shared pauses", p.String())
}

// newPauses returns n Pauses on one fresh prefix, each with a client of its
// own, as n processes would have.
func newPauses(t *testing.T, n int) []*redislimit.Pauses {
	t.Helper()
	prefix := uniqueKey(t, newClient(t)) + ":"
	ps := make([]*redislimit.Pauses, n)
	for i := range ps {
		client := newClient(t)
		p, err := redislimit.NewPauses(client, prefix, redislimit.WithTimeout(time.Second))
		require.NoError(t, err)
		ps[i] = p
		t.Cleanup(func() {
			_ = client.Del(context.Background(), prefix+"host", prefix+"long").Err()
		})
	}
	return ps
}

// TestPausesShared checks that a pause set by one process is seen by the
// others, that a shorter pause never cuts a longer one short, and that
// hosts are kept apart.
func TestPausesShared(t *testing.T) {
	ps := newPauses(t, 2)
	a, b := ps[0], ps[1]
	assert.Zero(t, b.PausedFor("host"), "nothing paused yet")

	a.Pause("host", 2*time.Second)
	left := b.PausedFor("host")
	assert.LessOrEqual(t, left, 2*time.Second)
	assert.Greater(t, left, time.Second, "the other process sees the pause")

	b.Pause("host", 100*time.Millisecond)
	assert.Greater(t, a.PausedFor("host"), time.Second, "a shorter pause keeps the longer")
	b.Pause("host", 5*time.Second)
	assert.Greater(t, a.PausedFor("host"), 4*time.Second, "a longer pause extends it")

	a.Pause("long", math.MaxInt64) // a server's 292 years must not overflow
	assert.Greater(t, b.PausedFor("long"), 290*365*24*time.Hour, "the longest pause is shared")

	assert.Zero(t, a.PausedFor("other"), "another host is not paused")
	a.Pause("other", 0)
	a.Pause("other", -time.Second)
	assert.Zero(t, b.PausedFor("other"), "a pause of zero or less does nothing")
}

// TestPausesHoldTheFleet runs two transports, as two replicas would, against
// one server on 127.0.0.1: the first is told to hold back 300ms, and the
// second, which has never been turned away, must not reach the server
// before that pause ends.
func TestPausesHoldTheFleet(t *testing.T) {
	const pause = 300 * time.Millisecond
	var (
		mu       sync.Mutex
		arrivals []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		first := len(arrivals) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After-Ms", "300")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	ps := newPauses(t, 2)
	replica := func(p *redislimit.Pauses) *http.Client {
		base := &http.Transport{}
		t.Cleanup(base.CloseIdleConnections)
		policy := &retry.Policy{MaxAttempts: 1}
		return &http.Client{Transport: retryhttp.NewTransport(base, policy,
			retryhttp.WithSharedPauses(p), retryhttp.WithCoolDownKey(
				func(*http.Request) string { return "host" }))}
	}
	first, second := replica(ps[0]), replica(ps[1])

	resp, err := first.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)

	resp, err = second.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, arrivals, 2)
	// The pause began when the first answer arrived, after the first
	// request did; a millisecond is what Redis rounds the pause to.
	assert.GreaterOrEqual(t, arrivals[1].Sub(arrivals[0]), pause-time.Millisecond,
		"the second replica called before the pause ended")
}

// TestPausesFallBack kills Redis mid-run: PausedFor answers 0 at once and
// Pause keeps nothing, each hook fires once, and a pause set after the
// restart is shared again.
func TestPausesFallBack(t *testing.T) {
	const (
		timeout = 50 * time.Millisecond
		probe   = 100 * time.Millisecond
	)
	srv := startServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), DialTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })

	var fellBack, recovered atomic.Int32
	p, err := redislimit.NewPauses(client, "retrytest:pauses:",
		redislimit.WithTimeout(timeout), redislimit.WithProbeInterval(probe),
		redislimit.WithOnFallback(func(error) { fellBack.Add(1) }),
		redislimit.WithOnRecover(func() { recovered.Add(1) }))
	require.NoError(t, err)
	pausedFor := func() time.Duration {
		t.Helper()
		start := time.Now()
		d := p.PausedFor("host")
		assert.Less(t, time.Since(start), timeout+100*time.Millisecond, "PausedFor took too long")
		return d
	}

	p.Pause("host", time.Minute)
	assert.Greater(t, pausedFor(), 50*time.Second)
	srv.stop()

	for end := time.Now().Add(3 * probe); time.Now().Before(end); {
		assert.Zero(t, pausedFor(), "a Redis that is down holds nothing back")
		p.Pause("host", time.Minute)
		time.Sleep(time.Millisecond)
	}
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	assert.Zero(t, recovered.Load(), "recover hook calls")

	srv.start()
	require.Eventually(t, func() bool {
		pausedFor()
		return recovered.Load() > 0
	}, 5*time.Second, time.Millisecond, "recover hook did not fire")
	p.Pause("host", time.Minute)
	assert.Greater(t, pausedFor(), 50*time.Second, "pauses are shared again")
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
}
