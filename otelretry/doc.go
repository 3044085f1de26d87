// Package otelretry reports what [retry.Policy] does through OpenTelemetry:
// metrics for every attempt, retry, wait and outcome, and span events on the
// caller's span for each retry and give-up.
//
// Build the hooks once and hand them to every policy that should report:
//
//	dep := otelretry.WithAttributes(attribute.String("dependency", "github"))
//	hooks, err := otelretry.Hooks(dep) // an error: an instrument is missing, the rest work
//	policy := &retry.Policy{Hooks: hooks}
//
// Then call policy.Do(ctx, fn) as before: each call is counted, and the span
// in ctx gets an event for each retry and for the give-up.
//
// The metrics come from the global MeterProvider unless [WithMeterProvider]
// names another. The span events go to trace.SpanFromContext of the context
// given to Do; there is no tracer to configure, and nothing is recorded
// outside a recording span. The hooks never set the span's status: whether a
// give-up is an error for the span is the caller's decision.
//
// Instruments (scope [ScopeName]; attributes other than the static ones):
//
//	name                 kind             unit       attributes
//	retry.attempts       Int64Counter     {attempt}  retry.depth
//	retry.retries        Int64Counter     {retry}    retry.depth, retry.reason, error.type
//	retry.delay          Float64Histogram s          retry.depth, retry.reason, error.type
//	retry.give_ups       Int64Counter     {call}     retry.depth, retry.reason, error.type
//	retry.successes      Int64Counter     {call}     retry.depth
//	retry.call.attempts  Int64Histogram   {attempt}  retry.depth, retry.outcome
//	retry.limiter.wait   Float64Histogram s          retry.depth
//
// retry.reason is Event.Reason on a retry ("transient", "attempt timeout", …)
// and the text of Error.Reason on a give-up ("attempts exhausted", …).
// error.type is [ErrorType] (or the function given to [WithErrorType]) of
// the attempt's error; for a give-up, of Error.Last, and absent when no
// attempt was made. retry.depth is 1 for a loop
// that no other encloses (see retry.DepthFrom). retry.outcome is "success"
// or "give_up".
//
// A call adds to retry.attempts when it ends (see [Hooks] for why).
// Durations are in seconds, in metrics and span events alike; the buckets
// run from 5ms to 300s, and a view can change them. Measurements carry the
// hook's context, so exemplars link them to the caller's trace.
package otelretry
