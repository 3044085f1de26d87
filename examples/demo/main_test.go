package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastConfig is the demo's configuration with its delays cut tenfold, so
// the test takes seconds. Headers that count in whole seconds still ask for
// at least one.
func fastConfig() config {
	cfg := defaultConfig()
	cfg.interval = 10 * time.Millisecond
	cfg.backoff = 10 * time.Millisecond
	// Not cut tenfold: a normal answer under -race must still fit in it.
	cfg.attemptTimeout = 300 * time.Millisecond
	cfg.serverScale = 0.1
	return cfg
}

// TestRun runs the demo against its own server, in real time, and checks
// that every job got through every kind of failure.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg := fastConfig()

	var out bytes.Buffer
	sum, err := run(ctx, &out, cfg)
	require.NoError(t, err, out.String())

	assert.Equal(t, cfg.chatJobs+cfg.repoJobs, sum.done, "jobs done")
	assert.Zero(t, sum.failed, "jobs failed")
	assert.Positive(t, sum.retries, "retries")
	assert.Equal(t, int64(sum.done+sum.retries), sum.calls,
		"every call but each job's last is retried")
	assert.Equal(t, sum.done, sum.answers[answerOK], "successful answers")

	// The server saw every request the wire sent, and perhaps a resend by
	// net/http of a POST whose reused connection was reset.
	assert.Equal(t, int(sum.calls)+sum.resent, total(sum.answers), "server answers")
	assert.LessOrEqual(t, sum.resent, sum.answers[chatReset], "resent after a reset")
	for _, k := range append(chatFailures, repoFailures...) {
		assert.Positive(t, sum.answers[k], "answers of kind %v", k)
	}

	// Each answer that asked for a delay led to a retry that honoured it:
	// the transport hands the answer's headers to the policy in a
	// StatusError, and the policy reads the delay from them.
	asked := 0
	for _, k := range []kind{chatRetryAfterMs, chatRetryAfterSecs, chatResetRequests,
		chatUnavailableDate, repoForbiddenLimit, repoTooManyLimit} {
		asked += sum.answers[k]
	}
	assert.Equal(t, asked, sum.serverAsked, "retries that waited as the server asked")
	assert.Contains(t, out.String(), "outcome: ok")
}

// TestRun_deadline checks that a run whose context ends early stops at
// once, reports the jobs it could not finish and leaves nothing running.
func TestRun_deadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()

	cfg := fastConfig()

	var out bytes.Buffer
	sum, err := run(ctx, &out, cfg)
	require.ErrorContains(t, err, "jobs failed", out.String())

	assert.Positive(t, sum.failed, "jobs failed")
	assert.Equal(t, cfg.chatJobs+cfg.repoJobs, sum.done+sum.failed, "jobs accounted for")
	assert.Less(t, sum.wall, 3*time.Second, "wall time")
	assert.Contains(t, out.String(), "outcome: FAILED")
}
