package retry

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// budgetWindow is how far back a Budget remembers, in one-second buckets.
const budgetWindow = 10

// Budget caps the retries made to one dependency at a share of the calls to
// it that recently succeeded, in the manner of gRPC's retry throttling and
// the retry budgets of the SRE book: during an outage, when nothing
// succeeds, only the small floor of retries is left, so the callers of a
// failing service add almost nothing to its load.
//
// A Budget remembers the last ten seconds, measured on the clock of the
// policy that uses it. It is safe for concurrent use, starts no goroutine,
// and is meant to be shared by every policy that calls the same dependency.
// Make one with NewBudget.
type Budget struct {
	ratio float64
	floor float64 // retries always allowed per window

	mu      sync.Mutex
	buckets [budgetWindow]budgetBucket
}

type budgetBucket struct {
	second    int64 // Unix second the counts belong to
	successes int
	retries   int
}

// NewBudget returns a budget that allows, over the last ten seconds, ratio
// retries for each call that succeeded, plus minPerSecond retries a second
// whatever happened (so a quiet service can still retry). A ratio of 0.1
// means at most one retry for ten successes. It returns an error naming the
// argument when either is negative or not finite.
func NewBudget(ratio, minPerSecond float64) (*Budget, error) {
	if !(ratio >= 0 && ratio <= math.MaxFloat64) {
		return nil, fmt.Errorf("retry: budget ratio %v must be zero or more and finite", ratio)
	}
	if !(minPerSecond >= 0 && minPerSecond <= math.MaxFloat64) {
		return nil, fmt.Errorf("retry: budget minPerSecond %v must be zero or more and finite",
			minPerSecond)
	}
	return &Budget{ratio: ratio, floor: minPerSecond * budgetWindow}, nil
}

// RetryBudget is what a Policy asks before each retry, and tells of each
// success. *Budget is the in-process one; an implementation kept in a
// shared store lets several processes share one budget. Implementations
// must be safe for concurrent use.
type RetryBudget interface {
	// Deposit records a call that succeeded at now.
	Deposit(now time.Time)

	// Withdraw takes one retry at now, reporting false (and taking
	// nothing) when none is left.
	Withdraw(now time.Time) bool
}

var _ RetryBudget = (*Budget)(nil)

// Deposit records a successful call at now. A nil *Budget ignores it.
func (b *Budget) Deposit(now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bucket(now).successes++
}

// Withdraw takes one retry from the budget at now, reporting false (and
// taking nothing) when none is left. A nil *Budget always allows it.
func (b *Budget) Withdraw(now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()

	successes, retries := b.sums(now)
	if float64(retries)+1 > b.ratio*float64(successes)+b.floor {
		return false
	}
	b.bucket(now).retries++
	return true
}

// Available reports how many retries the budget would allow at now.
func (b *Budget) Available(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	successes, retries := b.sums(now)
	return max(int(b.ratio*float64(successes)+b.floor)-retries, 0)
}

// bucket returns the bucket of now's second, emptied if it held an older
// second's counts.
func (b *Budget) bucket(now time.Time) *budgetBucket {
	sec := now.Unix()
	bk := &b.buckets[uint64(sec)%budgetWindow]
	if bk.second != sec {
		*bk = budgetBucket{second: sec}
	}
	return bk
}

// sums adds up the buckets of the window that ends at now.
func (b *Budget) sums(now time.Time) (successes, retries int) {
	sec := now.Unix()
	for _, bk := range b.buckets {
		if bk.second > sec-budgetWindow && bk.second <= sec {
			successes += bk.successes
			retries += bk.retries
		}
	}
	return successes, retries
}
