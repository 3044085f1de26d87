package redislimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deb4e658/retry"
)

const (
	// budgetWindow is how far back a Budget counts, in seconds of the Redis
	// clock: the ten one-second buckets of retry.Budget.
	budgetWindow = 10

	// budgetExpiry keeps the key one second longer than its newest field
	// can count, then lets Redis drop a budget nobody uses.
	budgetExpiry = (budgetWindow + 1) * time.Second

	// depositBatch is how often, at most, Deposit sends the deposits it
	// has gathered to Redis, in real time. Without it every successful
	// call would cost a Redis round trip; with it, a process that exits
	// loses up to this much of its deposits, and the others see them this
	// much later, a small error in a ten-second window.
	depositBatch = 100 * time.Millisecond
)

// Budget is a [retry.RetryBudget] whose counts live in Redis under one key,
// so every process that uses the key shares one budget: over the last ten
// seconds, ratio retries for each call that succeeded anywhere in the
// fleet, plus minPerSecond retries a second whatever happened, as
// [retry.Budget] allows in one process. The seconds are those of the Redis
// server's clock.
//
// Deposit gathers successes locally and sends them at most every 100ms, or
// with the next Withdraw, so that a success rarely waits for Redis. While
// Redis fails, a local retry.Budget of the same ratio and floor answers
// instead, as the fallback limiter of a [Limiter] does.
//
// Make one with NewBudget; the zero Budget (and a nil *Budget) allows
// every retry and counts nothing, like a nil *retry.Budget. A Budget is
// safe for concurrent use; like the other types of this package it makes
// each Redis call in a goroutine of its own, which a hung Redis can keep
// alive past the timeout (see the package doc).
type Budget struct {
	conn     conn
	key      string
	ratio    string // formatted once for the script, as is floor
	floor    string // retries always allowed per window
	fallback *retry.Budget

	// desc is the description String returns.
	desc string

	mu           sync.Mutex
	pending      int64     // deposits not yet sent to Redis
	pendingSince time.Time // real time of the oldest of them
	sent         time.Time // real time of the last send to Redis
}

var _ retry.RetryBudget = (*Budget)(nil)

// NewBudget returns a budget on the given key of client that allows, over
// the last ten seconds of the Redis clock, ratio retries for each call that
// succeeded in any process using the key, plus minPerSecond retries a
// second whatever happened.
//
// NewBudget does not talk to Redis, so it succeeds while Redis is down. It
// returns an error for a nil client, an empty key, a ratio or minPerSecond
// that is negative or not finite (the error of [retry.NewBudget]), a bad
// option, or [WithFallback], which sets the rate of a Limiter's fallback
// and means nothing to a Budget.
func NewBudget(client redis.UniversalClient, key string, ratio, minPerSecond float64,
	opts ...Option) (*Budget, error) {
	if isNil(client) {
		return nil, errors.New("retry: redis budget client is nil")
	}
	if key == "" {
		return nil, errors.New("retry: redis budget key is empty")
	}
	// NewBudget checks both numbers, and its budget is the fallback anyway.
	fb, err := retry.NewBudget(ratio, minPerSecond)
	if err != nil {
		return nil, err
	}

	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if set.fallbackSet {
		return nil, errors.New("retry: redis budget: WithFallback applies to a Limiter, " +
			"not a Budget")
	}

	// A floor of +Inf would reach the script as "+Inf", which Lua's
	// tonumber need not read; the largest float allows just as much.
	floor := math.Min(minPerSecond*budgetWindow, math.MaxFloat64)
	return &Budget{
		conn:     set.conn(client, fmt.Sprintf("redis budget key %q", key)),
		key:      key,
		ratio:    strconv.FormatFloat(ratio, 'g', -1, 64),
		floor:    strconv.FormatFloat(floor, 'g', -1, 64),
		fallback: fb,
		desc: fmt.Sprintf("%v retries per success plus %v a second over %v, "+
			"shared in Redis key %q", ratio, minPerSecond, budgetWindow*time.Second, key),
	}, nil
}

// Deposit records a call that succeeded. It adds to a local count, which
// goes to Redis when the last send is 100ms old or with the next Withdraw,
// so that most calls return without a Redis round trip; the one that sends
// waits at most the timeout. Deposits sent while Redis fails are lost to
// the shared budget.
//
// now is used only by the local fallback budget, which every deposit also
// goes to, so that it knows this process's recent successes the moment
// Redis fails.
func (b *Budget) Deposit(now time.Time) {
	if !b.made() {
		return
	}
	b.fallback.Deposit(now)

	n, due := b.gather(true)
	if !due {
		return
	}
	// A failure leaves these deposits to the fallback alone.
	b.send(n, false)
}

// Withdraw takes one retry from the shared budget, reporting false (and
// taking nothing) when none is left. The deposits this process has not
// sent yet go with it, in the same atomic script, so they count first.
//
// When Redis fails or does not answer within the timeout, or failed less
// than the probe interval ago, Withdraw answers from the local fallback
// budget at now instead; the shared budget does not use now, so the clocks
// of the processes do not matter.
func (b *Budget) Withdraw(now time.Time) bool {
	if !b.made() {
		return true
	}
	n, _ := b.gather(false)
	took, ok := b.send(n, true)
	if !ok {
		// A call that timed out may still have taken its retry in Redis,
		// which errs on the side of fewer retries.
		return b.fallback.Withdraw(now)
	}

	if took {
		// Kept in step so that the fallback does not start with retries
		// this process has already made. It may have fewer to give than
		// Redis (the others' successes are not in it); then it takes none.
		b.fallback.Withdraw(now)
	}
	return took
}

// String describes the budget, as in `0.1 retries per success plus 1 a
// second over 10s, shared in Redis key "budget:api"`.
func (b *Budget) String() string {
	if !b.made() {
		return "no retry budget"
	}
	return b.desc
}

// made reports whether b was made by NewBudget.
func (b *Budget) made() bool {
	return b != nil && b.fallback != nil
}

// gather counts one more pending deposit, if deposit, and reports whether
// the pending ones are due to be sent: with every withdrawal, and with a
// deposit once the last send is depositBatch old. If due, it hands them
// over as n and starts counting anew.
func (b *Budget) gather(deposit bool) (n int64, due bool) {
	b.mu.Lock()
	defer b.mu.Unlock()

	// Real time, as conn uses: batching has nothing to do with the
	// caller's clock, which a test may have stopped.
	t := time.Now()
	if deposit {
		if b.pending == 0 {
			b.pendingSince = t
		}
		b.pending++
		if t.Sub(b.sent) < depositBatch {
			return 0, false
		}
	}

	// Sent now, deposits count as successes of the present second. Those
	// of a process that fell quiet a whole window ago would count when
	// they should have expired, so they go; this call's deposit is recent.
	n = b.pending
	if n > 0 && t.Sub(b.pendingSince) >= budgetWindow*time.Second {
		n = 0
		if deposit {
			n = 1
		}
	}
	b.pending, b.sent = 0, t
	return n, true
}

// send runs the script with n deposits and, if take, a withdrawal. It
// reports whether it took a retry, and ok is false when the fallback must
// answer.
func (b *Budget) send(n int64, take bool) (took, ok bool) {
	if n == 0 && !take {
		return false, true
	}
	takeArg := "0"
	if take {
		takeArg = "1"
	}
	vals, ok := b.conn.call(budgetScript, []string{b.key}, 1, n, takeArg, b.ratio, b.floor,
		budgetWindow, budgetExpiry.Milliseconds())
	if !ok {
		return false, false
	}
	return vals[0] == 1, true
}
