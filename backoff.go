package retry

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// NewBackOff returns a backoff.BackOff (github.com/cenkalti/backoff/v4)
// that yields the policy's delays, for code that already speaks that
// interface. It says backoff.Stop once MaxAttempts attempts would have been
// made. Unlike the Policy, the result keeps state: use one per call, and
// Reset it to start over.
func (p *Policy) NewBackOff() backoff.BackOff {
	return &policyBackOff{p: p}
}

type policyBackOff struct {
	p       *Policy
	retries int
	prev    time.Duration
}

func (b *policyBackOff) NextBackOff() time.Duration {
	// The first call precedes attempt 2, so retries+2 is the next attempt.
	if b.retries+2 > b.p.maxAttempts() {
		return backoff.Stop
	}
	b.retries++
	b.prev = b.p.DelayBefore(b.retries+1, b.prev)
	return b.prev
}

func (b *policyBackOff) Reset() {
	b.retries, b.prev = 0, 0
}
