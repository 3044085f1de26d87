package retry

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Store keeps the attempt count of each job between its runs, for Jobs. An
// implementation must be safe for concurrent use, and Incr must be atomic:
// two workers that fail the same job at once must see two counts.
type Store interface {
	// Incr adds one to the count of the job id and returns the new count
	// (1 after the first failure).
	Incr(ctx context.Context, id string) (int, error)

	// Reset forgets the count of the job id.
	Reset(ctx context.Context, id string) error
}

// JobAction is what a queue should do with a job after a run.
type JobAction int8

const (
	// JobDone means the run succeeded; the job is finished.
	JobDone JobAction = iota + 1

	// JobRequeue means the job should run again after Decision.Delay.
	JobRequeue

	// JobFail means the job failed for good.
	JobFail
)

// String returns "done", "requeue" or "fail".
func (a JobAction) String() string {
	switch a {
	case JobDone:
		return "done"
	case JobRequeue:
		return "requeue"
	case JobFail:
		return "fail"
	}
	return "unknown"
}

// Decision is the verdict of Jobs.Decide on one run of a job.
type Decision struct {
	Action JobAction

	// Attempt is the number of the run just made, from 1; 0 for JobDone,
	// whose count is not read.
	Attempt int

	// Delay is how long to wait before the next run, for JobRequeue: the
	// policy's delay before the next attempt, or the server's, if longer.
	Delay time.Duration

	// Reason says why a job failed for good, as the Reason of an *Error
	// does: ErrNotRetryable or ErrExhausted. It is nil otherwise.
	Reason error
}

// Jobs decides, for a job queue, whether a failed job runs again and when.
// It is the outermost layer of retries: it counts a job's runs in a Store,
// so the count survives the worker, and spaces them by the policy's
// schedule. A job whose run was itself a Do that gave up after its own
// attempts or time, or that met ErrOverloaded (a spent Budget included), is
// still run again here, later: waiting out an outage is this layer's
// purpose, and the exception to "overloaded stops every layer".
//
// Make one with NewJobs; it is safe for concurrent use.
type Jobs struct {
	policy *Policy
	store  Store
}

// NewJobs returns a Jobs that follows policy (its MaxAttempts, delays,
// jitter, classifier and MaxServerDelay) and keeps counts in store. A nil
// policy is the default one. It returns an error when the policy is invalid
// or store is nil.
func NewJobs(policy *Policy, store Store) (*Jobs, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("retry: jobs need a store, got nil")
	}
	return &Jobs{policy: policy, store: store}, nil
}

// Decide tells what to do with job id after a run that returned runErr. A
// nil runErr finishes the job and a final one fails it; both reset the
// count. A transient one requeues the job after the delay for its attempt,
// until MaxAttempts runs have failed. A server delay longer than the
// policy's MaxServerDelay is still honoured here: a queue can wait.
//
// The error is the store's, when it fails; the decision is then JobRequeue
// with the policy's first delay, so a job is neither lost nor run at once.
func (j *Jobs) Decide(ctx context.Context, id string, runErr error) (Decision, error) {
	if runErr == nil {
		return Decision{Action: JobDone}, j.store.Reset(ctx, id)
	}

	c := call{p: j.policy, clock: j.policy.clock(), maxAttempts: j.policy.maxAttempts()}
	_, serverDelay, _, stop := c.classify(runErr, false)
	if (stop == ErrNotRetryable && isGiveUp(runErr)) || stop == ErrOverloaded {
		// A Do inside the job gave up after its own attempts, or the
		// dependency is overloaded: waiting that out is what this layer is
		// for, so the job runs again later rather than failing for good.
		stop = nil
	}

	n, err := j.store.Incr(ctx, id)
	if err != nil {
		return Decision{Action: JobRequeue, Delay: j.policy.DelayBefore(2, 0)},
			fmt.Errorf("retry: counting the runs of job %q: %w", id, err)
	}
	if stop == nil && n >= c.maxAttempts {
		stop = ErrExhausted
	}
	if stop != nil {
		return Decision{Action: JobFail, Attempt: n, Reason: stop}, j.store.Reset(ctx, id)
	}

	delay := max(j.policy.DelayBefore(n+1, 0), serverDelay)
	return Decision{Action: JobRequeue, Attempt: n, Delay: delay}, nil
}

// MemoryStore is a Store in memory, for a single process and for tests. The
// zero value is ready to use. Counts are kept until Reset.
type MemoryStore struct {
	mu     sync.Mutex
	counts map[string]int
}

// Incr adds one to the count of id.
func (s *MemoryStore) Incr(_ context.Context, id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = make(map[string]int)
	}
	s.counts[id]++
	return s.counts[id], nil
}

// Reset forgets the count of id.
func (s *MemoryStore) Reset(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counts, id)
	return nil
}
