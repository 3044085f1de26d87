package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
)

// newTestClient returns a client of h, served on 127.0.0.1, with the fast
// configuration of the tests and hooks. Both are closed when the test ends.
func newTestClient(t *testing.T, h http.HandlerFunc, hooks retry.Hooks) *client {
	t.Helper()
	srv := httptest.NewServer(h)
	cfg := fastConfig()
	limiter, err := retry.NewRateLimiter(cfg.interval, 1)
	require.NoError(t, err)

	c := newClient(srv.URL, cfg, limiter, hooks)
	t.Cleanup(func() {
		c.close()
		srv.Close()
	})
	return c
}

// TestComplete_retried_with_key checks that a chat request whose connection
// is reset is sent again, that both attempts carry the same
// Idempotency-Key (without it the transport would not resend the POST),
// and that the retry hook learns whose retry it is.
func TestComplete_retried_with_key(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
	)
	h := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()

		if n == 1 {
			reset(w)
			return
		}
		writeJSON(w, map[string]any{"id": "chatcmpl-1", "choices": []map[string]any{
			{"message": chatMessage{Role: "assistant", Content: "fine"}}}})
	}
	var retried []string
	hooks := retry.Hooks{OnRetry: func(ctx context.Context, e retry.Event) {
		retried = append(retried, fmt.Sprintf("%s %d", jobFrom(ctx), e.Attempt))
	}}
	c := newTestClient(t, h, hooks)

	res, err := c.complete(t.Context(), "chat-01", "hello")
	require.NoError(t, err)
	assert.Equal(t, result{text: "fine", attempts: 2}, res)
	assert.Equal(t, int64(2), c.wire.sent.Load(), "requests sent")
	assert.Equal(t, []string{"chat-01 1"}, retried, "retries the hook saw")

	require.Len(t, keys, 2)
	assert.NotEmpty(t, keys[0])
	assert.Equal(t, keys[0], keys[1], "the same key on every attempt")
}

// TestRepo_gives_up checks that a job whose every answer is a 503 fails
// with the transport's reason for giving up and the status it gave up on.
func TestRepo_gives_up(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}, retry.Hooks{})

	res, err := c.repo(t.Context(), "repo-01")
	require.ErrorContains(t, err, "repo-01: retry: gave up after 6 attempts")
	assert.ErrorIs(t, err, retry.ErrExhausted)
	var status *retry.StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, http.StatusServiceUnavailable, status.StatusCode)

	assert.Equal(t, maxAttempts, res.attempts)
	assert.Equal(t, int64(maxAttempts), c.wire.sent.Load(), "requests sent")
}

// TestRepo_not_found checks that a final answer fails the job at once.
func TestRepo_not_found(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}, retry.Hooks{})

	res, err := c.repo(t.Context(), "repo-01")
	require.EqualError(t, err, "repo-01: http status 404 Not Found")
	assert.Equal(t, 1, res.attempts)
}

func TestCoolDownKey(t *testing.T) {
	tests := []struct {
		name    string
		giveURL string
		giveJob string
		want    string
	}{
		{"chat", "http://127.0.0.1:8080/v1/chat/completions", "chat-01",
			"127.0.0.1:8080/v1 chat-01"},
		{"repo", "http://127.0.0.1:8080/repos/demo-org/repo-01", "repo-01",
			"127.0.0.1:8080/repos repo-01"},
		{"no_job", "http://127.0.0.1:8080/", "", "127.0.0.1:8080/ ?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.giveJob != "" {
				ctx = withJob(ctx, tt.giveJob)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tt.giveURL, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.want, coolDownKey(req))
		})
	}
}
