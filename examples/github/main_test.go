package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun runs the example against its own host, in real time, and checks
// that the client ran into both rate limits and still made every call.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()

	var out bytes.Buffer
	sum, err := run(ctx, &out, defaultConfig())
	require.NoError(t, err, out.String())

	// Every call made and none failed: a token and four pages each.
	assert.Equal(t, 5*len(installations), sum.calls, "calls")
	assert.Zero(t, sum.failed, "calls failed")

	// The secondary limit was hit and each refusal retried; the quota was
	// never overspent: the transport kept the requests in flight within
	// what the host said was left, and waited for the reset.
	assert.Zero(t, sum.host.primary, "403s for a spent quota")
	assert.Positive(t, sum.host.secondary, "429s for the secondary limit")
	assert.Equal(t, sum.host.primary, sum.wire.statuses[http.StatusForbidden], "403s seen")
	assert.Equal(t, sum.host.secondary, sum.wire.statuses[http.StatusTooManyRequests],
		"429s seen")
	assert.Equal(t, sum.host.primary+sum.host.secondary, sum.retries, "retries")

	// The host saw each request the client sent, one per call and retry.
	assert.Equal(t, int64(sum.host.requests), sum.wire.sent, "requests seen")
	assert.Equal(t, int64(sum.calls+sum.retries), sum.wire.sent, "requests sent")

	// The answers that said the quota was spent held calls back.
	assert.Positive(t, sum.wire.spent, "answers that said no requests remain")
	assert.Less(t, sum.wall, 15*time.Second, "wall time")
	assert.Contains(t, out.String(), "outcome: ok")
}

// TestRun_deadline checks that a run whose context ends early reports the
// calls that failed and leaves nothing running.
func TestRun_deadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()

	var out bytes.Buffer
	sum, err := run(ctx, &out, defaultConfig())
	require.ErrorContains(t, err, "calls failed", out.String())

	assert.Positive(t, sum.failed, "calls failed")
	assert.Less(t, sum.wall, 2*time.Second, "wall time")
	assert.Contains(t, out.String(), "outcome: FAILED")
}
