package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

// TestRetryLog checks that the retry hook names the call whose request it
// reports on: the transport hands the request's context to the policy's
// hooks.
func TestRetryLog(t *testing.T) {
	var out bytes.Buffer
	log := &logger{out: &out, start: time.Now()}
	w := &wire{log: log}
	rec := &retries{log: log}

	h := http.Header{}
	h.Set("Retry-After", "1")
	ctx := w.begin(context.Background(), "acme token")
	rec.hooks().OnRetry(ctx, retry.Event{Attempt: 1, MaxAttempts: 6, Delay: time.Second,
		Err: &retry.StatusError{StatusCode: http.StatusTooManyRequests, Header: h}})

	assert.Contains(t, out.String(),
		"[acme token, attempt 1/6] 429 secondary limit, Retry-After: 1; retrying in 1.0s\n")
	n, waited := rec.counts()
	assert.Equal(t, 1, n)
	assert.Equal(t, time.Second, waited)
}
