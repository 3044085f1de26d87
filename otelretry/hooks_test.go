package otelretry_test

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/otelretry"
	"github.com/deb4e658/retry/retrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rig is a meter provider and a tracer provider that keep everything in
// memory, for the tests to read back.
type rig struct {
	meters *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	tracer trace.Tracer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewInMemoryExporter()
	tracers := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() {
		assert.NoError(t, meters.Shutdown(context.Background()))
		assert.NoError(t, tracers.Shutdown(context.Background()))
	})
	return &rig{meters: meters, reader: reader, spans: spans, tracer: tracers.Tracer("test")}
}

// hooks returns the package's hooks on the rig's meter provider.
func (r *rig) hooks(t *testing.T, opts ...otelretry.Option) retry.Hooks {
	t.Helper()
	h, err := otelretry.Hooks(append([]otelretry.Option{otelretry.WithMeterProvider(r.meters)},
		opts...)...)
	require.NoError(t, err)
	return h
}

// run calls p.Do inside a span named name, with a function whose attempt n
// returns errs[n-1], and nil once errs are used up.
func (r *rig) run(ctx context.Context, name string, p *retry.Policy, errs ...error) error {
	ctx, span := r.tracer.Start(ctx, name)
	defer span.End()
	return p.Do(ctx, func(ctx context.Context) error {
		if n := retry.AttemptFrom(ctx); n <= len(errs) {
			return errs[n-1]
		}
		return nil
	})
}

// scope collects the package's metrics, with the descriptions checked for
// presence and then blanked, so that the tests compare what they assert.
func (r *rig) scope(t *testing.T) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelretry.ScopeName {
			continue
		}
		for i := range sm.Metrics {
			assert.NotEmpty(t, sm.Metrics[i].Description, sm.Metrics[i].Name)
			sm.Metrics[i].Description = ""
		}
		return sm
	}
	return metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: otelretry.ScopeName}}
}

// find returns the metric called name, or a zero Metrics.
func find(sm metricdata.ScopeMetrics, name string) metricdata.Metrics {
	for _, m := range sm.Metrics {
		if m.Name == name {
			return m
		}
	}
	return metricdata.Metrics{}
}

// total adds up the data points of the counter called name.
func total(sm metricdata.ScopeMetrics, name string) int64 {
	sum, _ := find(sm, name).Data.(metricdata.Sum[int64])
	var n int64
	for _, dp := range sum.DataPoints {
		n += dp.Value
	}
	return n
}

// event is a span event as the tests compare it: the timestamps are real
// time, so they are left out.
type event struct {
	Name  string
	Attrs map[string]any
}

// events returns the events of every span the rig exported, by span name.
func (r *rig) events() map[string][]event {
	out := make(map[string][]event)
	for _, s := range r.spans.GetSpans() {
		evs := []event{}
		for _, e := range s.Events {
			attrs := make(map[string]any, len(e.Attributes))
			for _, kv := range e.Attributes {
				attrs[string(kv.Key)] = kv.Value.AsInterface()
			}
			evs = append(evs, event{Name: e.Name, Attrs: attrs})
		}
		out[s.Name] = evs
	}
	return out
}

// drive runs do on its own goroutine and moves clk to each timer it waits
// on, until do returns. The policy must not have an AttemptTimeout, whose
// timer would be fired as if it were a wait.
func drive(t *testing.T, clk *retrytest.Clock, do func() error) error {
	t.Helper()
	return clk.Run(do)
}

// testPolicy is three attempts with waits of 1s and 2s, on clk.
func testPolicy(clk *retrytest.Clock, hooks retry.Hooks) *retry.Policy {
	return &retry.Policy{Clock: clk, Jitter: retry.NoJitter, AttemptTimeout: retry.Unlimited,
		MaxAttempts: 3, Hooks: hooks}
}

var (
	delayBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
		60, 120, 300}
	attemptsBounds = []float64{1, 2, 3, 4, 5, 7, 10, 15, 20, 50, 100}
)

func counter(name, unit string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Unit: unit, Data: metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}}
}

func point(v int64, kvs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(kvs...), Value: v}
}

func histogram[N int64 | float64](name, unit string,
	points ...metricdata.HistogramDataPoint[N]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Unit: unit, Data: metricdata.Histogram[N]{
		Temporality: metricdata.CumulativeTemporality, DataPoints: points}}
}

// hpoint is a histogram data point over bounds whose buckets hold in[b]
// values, b being the bucket's upper bound (+Inf for the last).
func hpoint[N int64 | float64](bounds []float64, sum, lo, hi N, in map[float64]uint64,
	kvs ...attribute.KeyValue) metricdata.HistogramDataPoint[N] {
	counts := make([]uint64, len(bounds)+1)
	var n uint64
	for b, c := range in {
		i := len(bounds)
		for j, bound := range bounds {
			if bound == b {
				i = j
			}
		}
		if i == len(bounds) && !math.IsInf(b, 1) {
			panic("no bucket with upper bound " + attribute.Float64Value(b).String())
		}
		counts[i] = c
		n += c
	}
	return metricdata.HistogramDataPoint[N]{Attributes: attribute.NewSet(kvs...), Count: n,
		Bounds: bounds, BucketCounts: counts, Sum: sum,
		Min: metricdata.NewExtrema(lo), Max: metricdata.NewExtrema(hi)}
}

// TestScriptedRun drives three calls on the fake clock and checks every
// figure the package reports against what the script must produce.
func TestScriptedRun(t *testing.T) {
	r := newRig(t)
	clk := retrytest.NewClock()
	api := attribute.String("dependency", "api")
	gh := attribute.String("dependency", "github")
	apiPolicy := testPolicy(clk, r.hooks(t, otelretry.WithAttributes(api)))
	ghPolicy := testPolicy(clk, r.hooks(t, otelretry.WithAttributes(gh)))
	lim, err := retry.NewRateLimiter(5*time.Second, 1)
	require.NoError(t, err)
	ghPolicy.Limiter = lim

	tooMany := &retry.StatusError{StatusCode: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"3"}}}
	unavailable := &retry.StatusError{StatusCode: http.StatusServiceUnavailable,
		Header: http.Header{"Retry-After": {"1"}}}
	reset := &net.OpError{Op: "read", Net: "tcp",
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}

	// a: two 429s asking for 3s, then success; waits 3s and 3s.
	// b: three 503s asking for 1s, then a give-up; waits 1s (the server's and
	//    the backoff's) and 2s (the backoff's).
	// c: a reset at 0s takes the limiter's only slot; the retry waits the
	//    backoff's 1s, then the limiter's remaining 4s, and succeeds.
	ctx := context.Background()
	require.NoError(t, drive(t, clk, func() error {
		return r.run(ctx, "call-a", apiPolicy, tooMany, tooMany)
	}))
	err = drive(t, clk, func() error {
		return r.run(ctx, "call-b", apiPolicy, unavailable, unavailable, unavailable)
	})
	require.ErrorIs(t, err, retry.ErrExhausted)
	require.NoError(t, drive(t, clk, func() error {
		return r.run(ctx, "call-c", ghPolicy, reset)
	}))
	require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second, time.Second,
		2 * time.Second, time.Second, 4 * time.Second}, clk.Waits())

	depth := attribute.Int("retry.depth", 1)
	transient := attribute.String("retry.reason", "transient")
	kind := func(s string) attribute.KeyValue { return attribute.String("error.type", s) }
	success := attribute.String("retry.outcome", "success")
	gaveUp := attribute.String("retry.outcome", "give_up")
	want := metricdata.ScopeMetrics{
		Scope: instrumentation.Scope{Name: otelretry.ScopeName},
		Metrics: []metricdata.Metrics{
			counter("retry.attempts", "{attempt}", point(6, api, depth), point(2, gh, depth)),
			counter("retry.retries", "{retry}",
				point(2, api, depth, transient, kind("429")),
				point(2, api, depth, transient, kind("503")),
				point(1, gh, depth, transient, kind("ECONNRESET"))),
			histogram("retry.delay", "s",
				hpoint(delayBounds, 6.0, 3, 3, map[float64]uint64{5: 2},
					api, depth, transient, kind("429")),
				hpoint(delayBounds, 3.0, 1, 2, map[float64]uint64{1: 1, 2.5: 1},
					api, depth, transient, kind("503")),
				hpoint(delayBounds, 1.0, 1, 1, map[float64]uint64{1: 1},
					gh, depth, transient, kind("ECONNRESET"))),
			counter("retry.give_ups", "{call}", point(1, api, depth,
				attribute.String("retry.reason", "attempts exhausted"), kind("503"))),
			counter("retry.successes", "{call}", point(1, api, depth), point(1, gh, depth)),
			histogram("retry.call.attempts", "{attempt}",
				hpoint[int64](attemptsBounds, 3, 3, 3, map[float64]uint64{3: 1},
					api, depth, success),
				hpoint[int64](attemptsBounds, 3, 3, 3, map[float64]uint64{3: 1},
					api, depth, gaveUp),
				hpoint[int64](attemptsBounds, 2, 2, 2, map[float64]uint64{2: 1},
					gh, depth, success)),
			histogram("retry.limiter.wait", "s",
				hpoint(delayBounds, 4.0, 4, 4, map[float64]uint64{5: 1}, gh, depth)),
		},
	}
	metricdatatest.AssertEqual(t, want, r.scope(t),
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	retried := func(dep string, attempt int, delay, server float64, kind string) event {
		e := event{Name: "retry", Attrs: map[string]any{"dependency": dep,
			"retry.attempt": int64(attempt), "retry.max_attempts": int64(3),
			"retry.delay": delay, "retry.reason": "transient", "error.type": kind,
			"retry.depth": int64(1)}}
		if server > 0 {
			e.Attrs["retry.server_delay"] = server
		}
		return e
	}
	assert.Equal(t, map[string][]event{
		"call-a": {retried("api", 1, 3, 3, "429"), retried("api", 2, 3, 3, "429")},
		"call-b": {retried("api", 1, 1, 1, "503"), retried("api", 2, 2, 1, "503"),
			{Name: "retry.give_up", Attrs: map[string]any{"dependency": "api",
				"retry.attempts": int64(3), "retry.reason": "attempts exhausted",
				"error.type": "503", "retry.server_delay": 1.0, "retry.depth": int64(1)}}},
		"call-c": {retried("github", 1, 1, 0, "ECONNRESET")},
	}, r.events())
}

// TestAttemptsCountedWhenTheCallEnds checks retry.attempts against the
// calls actually made, including the give-ups that OnRetry alone would
// miscount.
func TestAttemptsCountedWhenTheCallEnds(t *testing.T) {
	const (
		cancelNever = iota
		cancelBefore
		cancelDuringWait
	)
	tests := []struct {
		name         string
		giveErrs     []error
		giveCancel   int
		wantAttempts int64
		wantRetries  int64
		wantGiveUp   string // "" for a success
	}{
		{"first_success", nil, cancelNever, 1, 0, ""},
		{"third_success", []error{errFlaky, errFlaky}, cancelNever, 3, 2, ""},
		{"final_error", []error{retry.Permanent(errFlaky)}, cancelNever, 1, 0,
			"error not retryable"},
		{"exhausted", []error{errFlaky, errFlaky, errFlaky}, cancelNever, 3, 2,
			"attempts exhausted"},
		{"canceled_during_wait", []error{errFlaky}, cancelDuringWait, 1, 1, "context canceled"},
		{"canceled_before_first", nil, cancelBefore, 0, 0, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			clk := retrytest.NewClock()
			p := testPolicy(clk, r.hooks(t))
			calls := 0
			fn := func(ctx context.Context) error {
				calls++
				if n := retry.AttemptFrom(ctx); n <= len(tt.giveErrs) {
					return tt.giveErrs[n-1]
				}
				return nil
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.giveCancel == cancelBefore {
				cancel()
			}
			var err error
			if tt.giveCancel == cancelDuringWait {
				// Cancel once Do waits, in place of moving the clock.
				done := make(chan error, 1)
				go func() { done <- p.Do(ctx, fn) }()
				require.NoError(t, clk.BlockUntil(context.Background(), 1))
				cancel()
				err = <-done
			} else {
				err = drive(t, clk, func() error { return p.Do(ctx, fn) })
			}

			sm := r.scope(t)
			assert.Equal(t, int64(calls), total(sm, "retry.attempts"), "attempts made")
			assert.Equal(t, tt.wantAttempts, total(sm, "retry.attempts"))
			assert.Equal(t, tt.wantRetries, total(sm, "retry.retries"))
			if tt.wantGiveUp == "" {
				assert.NoError(t, err)
				assert.Equal(t, int64(1), total(sm, "retry.successes"))
				return
			}
			assert.Equal(t, int64(1), total(sm, "retry.give_ups"))
			gaveUp := find(sm, "retry.give_ups").Data.(metricdata.Sum[int64]).DataPoints[0]
			v, _ := gaveUp.Attributes.Value("retry.reason")
			assert.Equal(t, tt.wantGiveUp, v.AsString())
		})
	}
}

var errFlaky = retry.Retryable(errors.New("flaky"))

// TestNestedLoopsReportTheirDepth runs a loop inside an attempt of another:
// the inner loop's retry and give-up say depth 2, the outer give-up depth 1,
// and every event lands on the caller's span.
func TestNestedLoopsReportTheirDepth(t *testing.T) {
	r := newRig(t)
	clk := retrytest.NewClock()
	hooks := r.hooks(t)
	inner := &retry.Policy{Clock: clk, InitialDelay: retry.NoDelay, MaxAttempts: 2,
		AttemptTimeout: retry.Unlimited, Hooks: hooks}
	outer := &retry.Policy{Clock: clk, MaxAttempts: 3, AttemptTimeout: retry.Unlimited,
		Hooks: hooks}
	unavailable := &retry.StatusError{StatusCode: http.StatusServiceUnavailable}

	ctx, span := r.tracer.Start(context.Background(), "job")
	err := outer.Do(ctx, func(ctx context.Context) error {
		return r.run(ctx, "request", inner, unavailable, unavailable)
	})
	span.End()
	require.ErrorIs(t, err, retry.ErrNotRetryable) // an inner give-up is final here

	kind := attribute.String("error.type", "503")
	ignore := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(),
		metricdatatest.IgnoreExemplars()}
	sm := r.scope(t)
	metricdatatest.AssertEqual(t, counter("retry.give_ups", "{call}",
		point(1, attribute.Int("retry.depth", 2), kind,
			attribute.String("retry.reason", "attempts exhausted")),
		point(1, attribute.Int("retry.depth", 1), kind,
			attribute.String("retry.reason", "error not retryable"))),
		find(sm, "retry.give_ups"), ignore...)
	metricdatatest.AssertEqual(t, counter("retry.attempts", "{attempt}",
		point(2, attribute.Int("retry.depth", 2)), point(1, attribute.Int("retry.depth", 1))),
		find(sm, "retry.attempts"), ignore...)

	assert.Equal(t, map[string][]event{
		"request": {
			{Name: "retry", Attrs: map[string]any{"retry.attempt": int64(1),
				"retry.max_attempts": int64(2), "retry.delay": 0.0,
				"retry.reason": "transient", "error.type": "503", "retry.depth": int64(2)}},
			{Name: "retry.give_up", Attrs: map[string]any{"retry.attempts": int64(2),
				"retry.reason": "attempts exhausted", "error.type": "503",
				"retry.depth": int64(2)}},
		},
		"job": {
			{Name: "retry.give_up", Attrs: map[string]any{"retry.attempts": int64(1),
				"retry.reason": "error not retryable", "error.type": "503",
				"retry.depth": int64(1)}},
		},
	}, r.events())
}

// TestErrorDetails checks that the error's text reaches the span events only
// when asked for, never the metrics, and that WithErrorType names errors.
func TestErrorDetails(t *testing.T) {
	secret := errors.New("GET https://api.example.com/?token=s3cr3t: connection refused")
	tests := []struct {
		name        string
		giveOpts    []otelretry.Option
		wantType    any // nil when the attribute is absent
		wantMessage any
	}{
		{"default", nil, "*errors.errorString", nil},
		{"with_message", []otelretry.Option{otelretry.WithErrorMessage()},
			"*errors.errorString", secret.Error()},
		{"own_type", []otelretry.Option{otelretry.WithErrorType(func(error) string {
			return "refused"
		})}, "refused", nil},
		{"empty_type", []otelretry.Option{otelretry.WithErrorType(func(error) string {
			return ""
		})}, nil, nil},
		{"nil_type_func", []otelretry.Option{otelretry.WithErrorType(nil)},
			"*errors.errorString", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			clk := retrytest.NewClock()
			p := testPolicy(clk, r.hooks(t, tt.giveOpts...))
			p.MaxAttempts = 2
			err := drive(t, clk, func() error {
				return r.run(context.Background(), "call", p, retry.Retryable(secret),
					retry.Retryable(secret))
			})
			require.ErrorIs(t, err, retry.ErrExhausted)

			evs := r.events()["call"]
			require.Len(t, evs, 2)
			for _, e := range evs {
				assert.Equal(t, tt.wantType, e.Attrs["error.type"], e.Name)
				assert.Equal(t, tt.wantMessage, e.Attrs["error.message"], e.Name)
			}
			for _, name := range []string{"retry.retries", "retry.give_ups"} {
				dp := find(r.scope(t), name).Data.(metricdata.Sum[int64]).DataPoints[0]
				assert.False(t, dp.Attributes.HasValue("error.message"), name)
				v, ok := dp.Attributes.Value("error.type")
				assert.Equal(t, tt.wantType != nil, ok, name)
				if ok {
					assert.Equal(t, tt.wantType, v.AsString(), name)
				}
			}
		})
	}
}

// TestStaticAttributes checks that the static attributes reach every
// measurement and event, the last of a repeated key wins, and a key of the
// package's own cannot be overridden.
func TestStaticAttributes(t *testing.T) {
	r := newRig(t)
	clk := retrytest.NewClock()
	p := testPolicy(clk, r.hooks(t,
		otelretry.WithAttributes(attribute.String("team", "a"),
			attribute.String("retry.reason", "mine")),
		otelretry.WithAttributes(attribute.String("team", "b"))))
	require.NoError(t, drive(t, clk, func() error {
		return r.run(context.Background(), "call", p, errFlaky)
	}))

	sm := r.scope(t)
	for _, name := range []string{"retry.attempts", "retry.retries", "retry.successes"} {
		dp := find(sm, name).Data.(metricdata.Sum[int64]).DataPoints[0]
		team, _ := dp.Attributes.Value("team")
		assert.Equal(t, "b", team.AsString(), name)
	}
	dp := find(sm, "retry.retries").Data.(metricdata.Sum[int64]).DataPoints[0]
	reason, _ := dp.Attributes.Value("retry.reason")
	assert.Equal(t, "marked retryable", reason.AsString())

	evs := r.events()["call"]
	require.Len(t, evs, 1)
	assert.Equal(t, "b", evs[0].Attrs["team"])
	assert.Equal(t, "marked retryable", evs[0].Attrs["retry.reason"])
}

// TestNoSpan checks that the metrics are recorded when the context holds no
// span, or one that does not record, and that nothing panics.
func TestNoSpan(t *testing.T) {
	r := newRig(t)
	clk := retrytest.NewClock()
	p := testPolicy(clk, r.hooks(t))
	ctx := trace.ContextWithSpanContext(context.Background(), trace.SpanContext{})
	for _, ctx := range []context.Context{context.Background(), ctx} {
		err := drive(t, clk, func() error {
			return p.Do(ctx, func(context.Context) error { return errFlaky })
		})
		require.ErrorIs(t, err, retry.ErrExhausted)
	}
	assert.Equal(t, int64(6), total(r.scope(t), "retry.attempts"))
	assert.Empty(t, r.spans.GetSpans())
}

// TestGlobalMeterProvider checks that the hooks use the global provider
// when none is given.
func TestGlobalMeterProvider(t *testing.T) {
	r := newRig(t)
	otel.SetMeterProvider(r.meters)
	t.Cleanup(func() { otel.SetMeterProvider(noop.NewMeterProvider()) })

	for _, opts := range [][]otelretry.Option{nil, {otelretry.WithMeterProvider(nil)}} {
		h, err := otelretry.Hooks(opts...)
		require.NoError(t, err)
		h.OnSuccess(context.Background(), 2, time.Second)
	}
	assert.Equal(t, int64(4), total(r.scope(t), "retry.attempts"))
}

// refusingMeter refuses every counter and gives no histogram at all.
type refusingMeter struct{ noop.Meter }

var errRefused = errors.New("refused")

func (refusingMeter) Int64Counter(string, ...metric.Int64CounterOption) (
	metric.Int64Counter, error) {
	return nil, errRefused
}

func (refusingMeter) Float64Histogram(string, ...metric.Float64HistogramOption) (
	metric.Float64Histogram, error) {
	return nil, nil
}

type refusingProvider struct{ noop.MeterProvider }

func (refusingProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return refusingMeter{}
}

func TestRefusedInstruments(t *testing.T) {
	h, err := otelretry.Hooks(otelretry.WithMeterProvider(refusingProvider{}))
	require.ErrorIs(t, err, errRefused)

	// The hooks still work, recording nothing.
	ctx := context.Background()
	h.OnRetry(ctx, retry.Event{Attempt: 1, MaxAttempts: 2, Depth: 1, Err: errFlaky})
	h.OnGiveUp(ctx, &retry.Error{Reason: retry.ErrExhausted, Attempts: 2, Last: errFlaky})
	h.OnGiveUp(ctx, nil)
	h.OnSuccess(ctx, 1, time.Second)
	h.OnLimiterWait(ctx, time.Second)
}

// BenchmarkHooks measures what each hook adds to a call, with and without
// a recording span in the context.
func BenchmarkHooks(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tracers := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() {
		_ = meters.Shutdown(context.Background())
		_ = tracers.Shutdown(context.Background())
	}()
	h, err := otelretry.Hooks(otelretry.WithMeterProvider(meters),
		otelretry.WithAttributes(attribute.String("dependency", "api")))
	if err != nil {
		b.Fatal(err)
	}
	status := &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
	e := retry.Event{Attempt: 1, MaxAttempts: 5, Depth: 1, Err: status, Reason: "transient",
		Delay: time.Second}
	spanCtx, span := tracers.Tracer("bench").Start(context.Background(), "call")
	defer span.End()

	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"no_span", context.Background()}, {"span", spanCtx}} {
		b.Run("on_retry/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.OnRetry(bc.ctx, e)
			}
		})
		b.Run("on_success/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.OnSuccess(bc.ctx, 1, time.Second)
			}
		})
	}
}
