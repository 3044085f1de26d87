package redislimit

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the options, used when an option is not given.
const (
	// DefaultTimeout bounds each Redis call.
	DefaultTimeout = 50 * time.Millisecond

	// DefaultProbeInterval is how long the local stand-in answers after a
	// failed Redis call before Redis is asked again.
	DefaultProbeInterval = time.Second
)

// Option configures a Limiter made by New, a Budget made by NewBudget or
// Pauses made by NewPauses. The options without a function in them are
// comparable values, so tests can compare them.
type Option interface {
	apply(s *settings) error
}

// settings are what the options set, before a constructor checks them.
type settings struct {
	timeout          time.Duration
	probeEvery       time.Duration
	onFallback       func(err error)
	onRecover        func()
	fallbackInterval time.Duration
	fallbackBurst    int
	fallbackSet      bool
}

// newSettings applies opts over the defaults; nil options are skipped.
func newSettings(opts []Option) (settings, error) {
	s := settings{timeout: DefaultTimeout, probeEvery: DefaultProbeInterval}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// conn makes the Redis connection the settings describe.
func (s *settings) conn(client redis.UniversalClient, what string) conn {
	return conn{client: client, what: what, timeout: s.timeout, probeEvery: s.probeEvery,
		onFallback: s.onFallback, onRecover: s.onRecover}
}

type timeoutOption time.Duration

func (o timeoutOption) apply(s *settings) error {
	if o <= 0 {
		return fmt.Errorf("retry: redislimit WithTimeout %v must be positive", time.Duration(o))
	}
	s.timeout = time.Duration(o)
	return nil
}

// WithTimeout bounds each Redis call at d ([DefaultTimeout] when not given).
// A call that takes longer counts as a failure: the local stand-in answers
// instead (the fallback limiter of a Limiter, the local budget of a Budget;
// Pauses hold nothing back). Keep d well below the interval of a Limiter.
func WithTimeout(d time.Duration) Option {
	return timeoutOption(d)
}

type probeOption time.Duration

func (o probeOption) apply(s *settings) error {
	if o <= 0 {
		return fmt.Errorf("retry: redislimit WithProbeInterval %v must be positive",
			time.Duration(o))
	}
	s.probeEvery = time.Duration(o)
	return nil
}

// WithProbeInterval sets how long the local stand-in answers after a failed
// Redis call before one call asks Redis again
// ([DefaultProbeInterval] when not given). Meanwhile a dead Redis costs a
// call nothing.
func WithProbeInterval(d time.Duration) Option {
	return probeOption(d)
}

type fallbackOption struct {
	interval time.Duration
	burst    int
}

func (o fallbackOption) apply(s *settings) error {
	s.fallbackInterval, s.fallbackBurst, s.fallbackSet = o.interval, o.burst, true
	return nil
}

// WithFallback sets the rate of the local limiter that answers while Redis
// does not: one call every interval, bursts of up to burst. Without it the
// fallback uses the interval and burst given to New, in each process, so a
// fleet of N processes may call N times as often while Redis is down; pass
// N times the interval to keep the fleet within the shared rate. New returns
// the error of [retry.NewRateLimiter] for a bad interval or burst.
func WithFallback(interval time.Duration, burst int) Option {
	return fallbackOption{interval: interval, burst: burst}
}

type onFallbackOption func(err error)

func (o onFallbackOption) apply(s *settings) error {
	s.onFallback = o
	return nil
}

// WithOnFallback sets a hook called once each time Redis fails after it had
// answered (or before it ever did), with the error of the Redis call that
// failed, when the local stand-in takes over. It runs synchronously in the
// call that saw the failure, outside every lock.
func WithOnFallback(f func(err error)) Option {
	return onFallbackOption(f)
}

type onRecoverOption func()

func (o onRecoverOption) apply(s *settings) error {
	s.onRecover = o
	return nil
}

// WithOnRecover sets a hook called once each time Redis answers again after
// a fallback, when a probe of Redis succeeded. It runs synchronously in that
// call, outside every lock.
func WithOnRecover(f func()) Option {
	return onRecoverOption(f)
}
