package redislimit

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// conn is what every Redis-backed type of this package shares: each call
// bounded by a timeout, and the switch to a local stand-in while Redis
// fails, asked again at most once a probe interval, with hooks on each
// switch.
type conn struct {
	client     redis.UniversalClient
	what       string // names the owner in errors, as in `redis limiter key "k"`
	timeout    time.Duration
	probeEvery time.Duration
	onFallback func(err error)
	onRecover  func()

	mu        sync.Mutex
	down      bool      // Redis failed last; the stand-in answers
	probing   bool      // one call is asking Redis whether it is back
	nextProbe time.Time // when a call may ask Redis again
}

// isDown reports whether the stand-in answers at the moment.
func (c *conn) isDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

// admit says whether this call may ask Redis, and whether it does so as
// the one probe of a Redis that failed.
func (c *conn) admit() (ok, probe bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down {
		return true, false
	}
	// Real time on purpose: how long Redis has been failing has nothing
	// to do with the policy's clock, which a test may have stopped.
	if c.probing || time.Now().Before(c.nextProbe) {
		return false, false
	}
	c.probing = true
	return true, true
}

// report records the outcome of a Redis call and fires a hook when it
// changes who answers. Only a probe brings Redis back, so that a call that
// started before a failure cannot undo it.
func (c *conn) report(probe bool, err error) {
	c.mu.Lock()
	if probe {
		c.probing = false
	}
	var fellBack, recovered bool
	switch {
	case err != nil:
		fellBack = !c.down
		c.down = true
		c.nextProbe = time.Now().Add(c.probeEvery)
	case probe && c.down:
		recovered = true
		c.down = false
	}
	c.mu.Unlock()

	// Outside the lock, so that a hook may call the owner.
	if fellBack && c.onFallback != nil {
		c.onFallback(err)
	}
	if recovered && c.onRecover != nil {
		c.onRecover()
	}
}

// call runs a script through admit and report: ok is false when the
// stand-in must answer, because Redis is down or failed this time.
func (c *conn) call(s *redis.Script, keys []string, want int, args ...any) (
	vals []int64, ok bool) {
	admitted, probe := c.admit()
	if !admitted {
		return nil, false
	}
	vals, err := c.run(s, keys, want, args...)
	c.report(probe, err)
	return vals, err == nil
}

// run runs a script and returns its integer replies, at least want of
// them. It returns within the timeout even when the client would wait
// longer: a go-redis client follows the context's deadline only with
// ContextTimeoutEnabled, so the call runs in a goroutine that is left to
// finish on its own. While Redis fails only one call a probe interval gets
// here, so few such goroutines can pile up.
func (c *conn) run(s *redis.Script, keys []string, want int, args ...any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	type result struct {
		vals []int64
		err  error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks
	go func() {
		v, err := s.Run(ctx, c.client, keys, args...).Int64Slice()
		done <- result{v, err}
	}()

	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("retry: %s: %w", c.what, r.err)
		}
		if len(r.vals) < want {
			return nil, fmt.Errorf("retry: %s: script gave %d values", c.what, len(r.vals))
		}
		return r.vals, nil
	case <-ctx.Done():
		// A change made after this is lost; each owner says what that
		// costs where it calls.
		return nil, fmt.Errorf("retry: %s: no answer within %v: %w",
			c.what, c.timeout, ctx.Err())
	}
}

// isNil reports whether client is nil, or a nil pointer in the interface
// (a nil *redis.Client, say), which would crash the first call instead.
func isNil(client redis.UniversalClient) bool {
	if client == nil {
		return true
	}
	v := reflect.ValueOf(client)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
