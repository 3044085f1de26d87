package otelretry

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/deb4e658/retry"
)

// ScopeName is the name of the meter the instruments belong to (the
// instrumentation scope), for views that rename or re-bucket them.
const ScopeName = "github.com/deb4e658/retry/otelretry"

// The attribute keys the package sets. WithAttributes cannot override them.
const (
	keyDepth       = attribute.Key("retry.depth")
	keyReason      = attribute.Key("retry.reason")
	keyErrorType   = attribute.Key("error.type")
	keyOutcome     = attribute.Key("retry.outcome")
	keyAttempt     = attribute.Key("retry.attempt")
	keyMaxAttempts = attribute.Key("retry.max_attempts")
	keyAttempts    = attribute.Key("retry.attempts")
	keyDelay       = attribute.Key("retry.delay")
	keyServerDelay = attribute.Key("retry.server_delay")
	keyErrorMsg    = attribute.Key("error.message")
)

var ownKeys = []attribute.Key{keyDepth, keyReason, keyErrorType, keyOutcome, keyAttempt,
	keyMaxAttempts, keyAttempts, keyDelay, keyServerDelay, keyErrorMsg}

// The bucket boundaries of the histograms. The waits span a server's 50ms
// floor to a Retry-After of minutes; the policy's default waits (1s, 2s,
// 4s, 8s, ±20%) fall in distinct buckets.
var (
	secondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
		60, 120, 300}
	attemptsBuckets = []float64{1, 2, 3, 4, 5, 7, 10, 15, 20, 50, 100}
)

// Hooks returns retry.Hooks that record what a policy does as OpenTelemetry
// metrics and span events (the package doc lists them). One set of hooks
// may serve any number of policies and goroutines; make one per set of
// static attributes, not one per call.
//
// OnRetry adds to retry.retries and retry.delay and adds a "retry" event to
// the caller's span with the attributes retry.attempt, retry.max_attempts
// (absent when Unlimited), retry.delay and retry.server_delay (in seconds,
// the latter only when the server asked for a delay), retry.reason,
// error.type, retry.depth and the static attributes. OnGiveUp adds to
// retry.give_ups and adds a "retry.give_up" event with retry.reason,
// retry.attempts, error.type, retry.server_delay, retry.depth and the static
// attributes. OnSuccess adds to retry.successes and adds no event: the span
// itself says the call went through. OnLimiterWait records retry.limiter.wait.
// WithErrorMessage adds error.message to both events.
//
// retry.attempts is added to once per call, when it ends, from the count
// OnSuccess or Error.Attempts gives, and so is exact: counting one per
// OnRetry and one at the end would not be, since a call whose context ends
// during the wait that follows an OnRetry gives up without another attempt,
// and a call whose context is done, or whose limiter refuses, before the
// first attempt gives up with none. A call still running is not yet counted
// there; retry.retries counts its retries as they come.
//
// retry.delay and retry.limiter.wait record a wait when it begins, as
// planned: a wait that the context cuts short counts in full.
//
// The depth of a give-up, success or limiter wait is retry.DepthFrom of the
// hook's context plus one, which is what Event.Depth holds for a retry.
//
// The error is not nil when the meter provider refused an instrument. The
// hooks are usable even then, and record through every instrument that was
// made, so a caller may report the error and carry on.
func Hooks(opts ...Option) (retry.Hooks, error) {
	cfg := newConfig(opts)
	r := &recorder{errorType: cfg.errorType, errorMessage: cfg.errorMessage,
		static: staticAttributes(cfg.attrs)}
	r.top = callSets{base: r.measurement(1),
		success: r.measurement(1, keyOutcome.String("success")),
		giveUp:  r.measurement(1, keyOutcome.String("give_up"))}
	err := r.makeInstruments(cfg.meterProvider.Meter(ScopeName))
	return retry.Hooks{
		OnRetry:       r.onRetry,
		OnGiveUp:      r.onGiveUp,
		OnSuccess:     r.onSuccess,
		OnLimiterWait: r.onLimiterWait,
	}, err
}

// staticAttributes drops the attributes whose keys the package sets itself,
// so that a measurement or event never holds a key twice, and keeps the
// last of any repeated key.
func staticAttributes(attrs []attribute.KeyValue) []attribute.KeyValue {
	attrs = slices.DeleteFunc(slices.Clone(attrs), func(kv attribute.KeyValue) bool {
		return slices.Contains(ownKeys, kv.Key)
	})
	set := attribute.NewSet(attrs...)
	return set.ToSlice()
}

// recorder holds the instruments and settings the hooks share. It is
// immutable once made, so the hooks are safe for concurrent use.
type recorder struct {
	static       []attribute.KeyValue
	errorType    func(error) string
	errorMessage bool
	top          callSets // for depth 1, the common case, made once

	attempts     metric.Int64Counter
	retries      metric.Int64Counter
	delay        metric.Float64Histogram
	giveUps      metric.Int64Counter
	successes    metric.Int64Counter
	callAttempts metric.Int64Histogram
	limiterWait  metric.Float64Histogram
}

// makeInstruments makes every instrument from m. The errors m gives are
// joined into the result; an instrument it does not give at all is
// replaced by a no-op.
func (r *recorder) makeInstruments(m metric.Meter) error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		keep(err)
		return c
	}
	seconds := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(secondsBuckets...))
		keep(err)
		return h
	}

	r.attempts = counter("retry.attempts", "{attempt}",
		"Calls of the retried function, the first included, counted when the call ends.")
	r.retries = counter("retry.retries", "{retry}",
		"Failed attempts followed by a wait for another attempt.")
	r.giveUps = counter("retry.give_ups", "{call}", "Calls that ended without success.")
	r.successes = counter("retry.successes", "{call}", "Calls that ended in success.")
	r.delay = seconds("retry.delay",
		"Wait before a retry, a delay the server asked for included.")
	r.limiterWait = seconds("retry.limiter.wait",
		"Wait for a slot of the policy's limiter before an attempt.")

	var err error
	r.callAttempts, err = m.Int64Histogram("retry.call.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts a call made, by its outcome."),
		metric.WithExplicitBucketBoundaries(attemptsBuckets...))
	keep(err)

	r.fillNoops()
	return errors.Join(errs...)
}

// fillNoops puts a no-op in place of every instrument the meter did not
// give, so that the hooks need no nil checks.
func (r *recorder) fillNoops() {
	var n noop.Meter
	if r.attempts == nil {
		r.attempts, _ = n.Int64Counter("")
	}
	if r.retries == nil {
		r.retries, _ = n.Int64Counter("")
	}
	if r.giveUps == nil {
		r.giveUps, _ = n.Int64Counter("")
	}
	if r.successes == nil {
		r.successes, _ = n.Int64Counter("")
	}
	if r.delay == nil {
		r.delay, _ = n.Float64Histogram("")
	}
	if r.limiterWait == nil {
		r.limiterWait, _ = n.Float64Histogram("")
	}
	if r.callAttempts == nil {
		r.callAttempts, _ = n.Int64Histogram("")
	}
}

func (r *recorder) onRetry(ctx context.Context, e retry.Event) {
	kind := r.errorType(e.Err)
	m := r.measurement(e.Depth, keyReason.String(e.Reason), errorTypeAttr(kind))
	r.retries.Add(ctx, 1, m)
	r.delay.Record(ctx, e.Delay.Seconds(), m)

	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := r.eventAttrs(e.Depth, e.Reason, kind, e.ServerDelay, e.Err,
		keyAttempt.Int(e.Attempt), keyDelay.Float64(e.Delay.Seconds()))
	if e.MaxAttempts != retry.Unlimited {
		attrs = append(attrs, keyMaxAttempts.Int(e.MaxAttempts))
	}
	span.AddEvent("retry", trace.WithAttributes(attrs...))
}

func (r *recorder) onGiveUp(ctx context.Context, err *retry.Error) {
	if err == nil {
		return
	}
	depth := retry.DepthFrom(ctx) + 1
	reason := "unknown"
	if err.Reason != nil {
		reason = err.Reason.Error()
	}
	var kind string
	if err.Last != nil {
		kind = r.errorType(err.Last)
	}
	r.giveUps.Add(ctx, 1, r.measurement(depth, keyReason.String(reason), errorTypeAttr(kind)))
	sets := r.callSets(ctx)
	r.countCall(ctx, sets, err.Attempts, sets.giveUp)

	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := r.eventAttrs(depth, reason, kind, err.ServerDelay, err.Last,
		keyAttempts.Int(err.Attempts))
	span.AddEvent("retry.give_up", trace.WithAttributes(attrs...))
}

func (r *recorder) onSuccess(ctx context.Context, attempts int, _ time.Duration) {
	sets := r.callSets(ctx)
	r.successes.Add(ctx, 1, sets.base)
	r.countCall(ctx, sets, attempts, sets.success)
}

func (r *recorder) onLimiterWait(ctx context.Context, wait time.Duration) {
	m := r.top.base
	if depth := retry.DepthFrom(ctx) + 1; depth != 1 {
		m = r.measurement(depth)
	}
	r.limiterWait.Record(ctx, wait.Seconds(), m)
}

// callSets are the attribute sets of the measurements made when a call
// ends: the static attributes and the depth, and those with each outcome.
type callSets struct {
	base, success, giveUp metric.MeasurementOption
}

// callSets returns the sets for the loop whose hook received ctx, made
// afresh only for a nested loop.
func (r *recorder) callSets(ctx context.Context) callSets {
	depth := retry.DepthFrom(ctx) + 1
	if depth == 1 {
		return r.top
	}
	return callSets{base: r.measurement(depth),
		success: r.measurement(depth, keyOutcome.String("success")),
		giveUp:  r.measurement(depth, keyOutcome.String("give_up"))}
}

// countCall records the attempts of a call that has ended.
func (r *recorder) countCall(ctx context.Context, sets callSets, attempts int,
	outcome metric.MeasurementOption) {
	if attempts > 0 {
		r.attempts.Add(ctx, int64(attempts), sets.base)
	}
	r.callAttempts.Record(ctx, int64(attempts), outcome)
}

// measurement is the attribute set of a measurement: the static attributes,
// the depth and extra. An extra attribute with an empty key is left out.
func (r *recorder) measurement(depth int, extra ...attribute.KeyValue) metric.MeasurementOption {
	kvs := make([]attribute.KeyValue, 0, len(r.static)+1+len(extra))
	kvs = append(kvs, r.static...)
	kvs = append(kvs, keyDepth.Int(depth))
	for _, kv := range extra {
		if kv.Key != "" {
			kvs = append(kvs, kv)
		}
	}
	return metric.WithAttributeSet(attribute.NewSet(kvs...))
}

// eventAttrs returns the attributes of a span event: the static ones,
// extra, and those the two events share.
func (r *recorder) eventAttrs(depth int, reason, kind string, serverDelay time.Duration,
	err error, extra ...attribute.KeyValue) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, len(r.static)+len(extra)+7)
	attrs = append(attrs, r.static...)
	attrs = append(attrs, extra...)
	attrs = append(attrs, keyReason.String(reason), keyDepth.Int(depth))
	if kind != "" {
		attrs = append(attrs, keyErrorType.String(kind))
	}
	if serverDelay > 0 {
		attrs = append(attrs, keyServerDelay.Float64(serverDelay.Seconds()))
	}
	if r.errorMessage && err != nil {
		attrs = append(attrs, keyErrorMsg.String(err.Error()))
	}
	return attrs
}

// errorTypeAttr is the error.type attribute, or an empty one (which
// measurement leaves out) when kind is empty.
func errorTypeAttr(kind string) attribute.KeyValue {
	if kind == "" {
		return attribute.KeyValue{}
	}
	return keyErrorType.String(kind)
}
