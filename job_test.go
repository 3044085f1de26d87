package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestJobsDecide(t *testing.T) {
	ctx := context.Background()
	p := &retry.Policy{MaxAttempts: 3, Jitter: retry.NoJitter, Clock: retrytest.NewClock()}
	store := &retry.MemoryStore{}
	jobs, err := retry.NewJobs(p, store)
	require.NoError(t, err)

	d, err := jobs.Decide(ctx, "job-1", &retry.StatusError{StatusCode: 503})
	require.NoError(t, err)
	assert.Equal(t, retry.Decision{Action: retry.JobRequeue, Attempt: 1, Delay: time.Second}, d)

	d, _ = jobs.Decide(ctx, "job-1", &retry.StatusError{StatusCode: 503})
	assert.Equal(t, retry.Decision{Action: retry.JobRequeue, Attempt: 2, Delay: 2 * time.Second},
		d)

	d, _ = jobs.Decide(ctx, "job-1", &retry.StatusError{StatusCode: 503})
	assert.Equal(t, retry.Decision{Action: retry.JobFail, Attempt: 3,
		Reason: retry.ErrExhausted}, d)

	// The count was reset: the job starts over.
	d, _ = jobs.Decide(ctx, "job-1", &retry.StatusError{StatusCode: 503})
	assert.Equal(t, 1, d.Attempt)
	d, _ = jobs.Decide(ctx, "job-1", nil)
	assert.Equal(t, retry.Decision{Action: retry.JobDone}, d)
	d, _ = jobs.Decide(ctx, "job-1", &retry.StatusError{StatusCode: 503})
	assert.Equal(t, 1, d.Attempt, "success reset the count")
}

func TestJobsDecideKinds(t *testing.T) {
	clk := retrytest.NewClock()
	innerGaveUp := (&retry.Policy{MaxAttempts: 1, Clock: clk}).Do(context.Background(),
		func(context.Context) error { return &retry.StatusError{StatusCode: 502} })
	tooLong := (&retry.Policy{Clock: clk, MaxServerDelay: time.Second}).Do(
		context.Background(), func(context.Context) error {
			return &retry.StatusError{StatusCode: 429,
				Header: http.Header{"Retry-After": {"3600"}}}
		})

	tests := []struct {
		name       string
		giveErr    error
		wantAction retry.JobAction
		wantDelay  time.Duration
		wantReason error
	}{
		{"final", errors.New("bad input"), retry.JobFail, 0, retry.ErrNotRetryable},
		{"permanent", retry.Permanent(errTransient), retry.JobFail, 0, retry.ErrNotRetryable},
		{"transient", retry.Retryable(errTransient), retry.JobRequeue, time.Second, nil},
		{"server_delay", retry.RetryAfter(errTransient, time.Minute), retry.JobRequeue,
			time.Minute, nil},
		{"inner_gave_up", innerGaveUp, retry.JobRequeue, time.Second, nil},
		{"inner_server_delay", tooLong, retry.JobRequeue, time.Hour, nil},
		{"overloaded", fmt.Errorf("shed: %w", retry.ErrOverloaded), retry.JobRequeue,
			time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := retry.NewJobs(&retry.Policy{Jitter: retry.NoJitter, Clock: clk},
				&retry.MemoryStore{})
			require.NoError(t, err)
			d, err := jobs.Decide(context.Background(), "j", tt.giveErr)
			require.NoError(t, err)
			assert.Equal(t, tt.wantAction, d.Action)
			assert.Equal(t, tt.wantDelay, d.Delay)
			assert.Equal(t, tt.wantReason, d.Reason)
		})
	}
}

// brokenStore is a Store whose backend is down.
type brokenStore struct{ err error }

func (s brokenStore) Incr(context.Context, string) (int, error) { return 0, s.err }
func (s brokenStore) Reset(context.Context, string) error       { return s.err }

func TestJobsStoreDown(t *testing.T) {
	down := errors.New("redis: connection refused")
	jobs, err := retry.NewJobs(&retry.Policy{Jitter: retry.NoJitter}, brokenStore{down})
	require.NoError(t, err)
	d, err := jobs.Decide(context.Background(), "j", errTransient)
	assert.ErrorIs(t, err, down)
	assert.Contains(t, err.Error(), `retry: counting the runs of job "j"`)
	assert.Equal(t, retry.Decision{Action: retry.JobRequeue, Delay: time.Second}, d,
		"requeued, not lost")
}

func TestNewJobsRefusesBadArguments(t *testing.T) {
	_, err := retry.NewJobs(&retry.Policy{MaxAttempts: -3}, &retry.MemoryStore{})
	assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
	_, err = retry.NewJobs(nil, nil)
	assert.EqualError(t, err, "retry: jobs need a store, got nil")
}

func TestMemoryStoreCountsConcurrently(t *testing.T) {
	var s retry.MemoryStore
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := s.Incr(context.Background(), "job")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	n, _ := s.Incr(context.Background(), "job")
	assert.Equal(t, 51, n)
}

func TestJobActionString(t *testing.T) {
	assert.Equal(t, "done", retry.JobDone.String())
	assert.Equal(t, "requeue", retry.JobRequeue.String())
	assert.Equal(t, "fail", retry.JobFail.String())
	assert.Equal(t, "unknown", retry.JobAction(0).String())
}
