package otelretry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/otelretry"
)

// A call fails once with a 503 and then succeeds; the metrics are read back
// from an in-memory reader. Real code keeps the global MeterProvider, or
// passes its own, and keeps the default delays (NoDelay keeps the example
// instant).
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	hooks, err := otelretry.Hooks(otelretry.WithMeterProvider(provider),
		otelretry.WithAttributes(attribute.String("dependency", "api")))
	if err != nil {
		fmt.Println(err) // an instrument is missing; the others still record
	}
	policy := &retry.Policy{InitialDelay: retry.NoDelay, Hooks: hooks}
	err = policy.Do(ctx, func(ctx context.Context) error {
		if retry.AttemptFrom(ctx) == 1 {
			return &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
		}
		return nil
	})
	fmt.Println("error:", err)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range data.DataPoints {
				fmt.Printf("%s %d %s\n\t%s\n", m.Name, dp.Value, m.Unit, encode(dp.Attributes))
			}
		case metricdata.Histogram[float64]:
			for _, dp := range data.DataPoints {
				fmt.Printf("%s count %d sum %g %s\n\t%s\n", m.Name, dp.Count, dp.Sum, m.Unit,
					encode(dp.Attributes))
			}
		case metricdata.Histogram[int64]:
			for _, dp := range data.DataPoints {
				fmt.Printf("%s count %d sum %d %s\n\t%s\n", m.Name, dp.Count, dp.Sum, m.Unit,
					encode(dp.Attributes))
			}
		}
	}
	// Output:
	// error: <nil>
	// retry.attempts 2 {attempt}
	// 	dependency=api,retry.depth=1
	// retry.retries 1 {retry}
	// 	dependency=api,error.type=503,retry.depth=1,retry.reason=transient
	// retry.successes 1 {call}
	// 	dependency=api,retry.depth=1
	// retry.delay count 1 sum 0 s
	// 	dependency=api,error.type=503,retry.depth=1,retry.reason=transient
	// retry.call.attempts count 1 sum 2 {attempt}
	// 	dependency=api,retry.depth=1,retry.outcome=success
}

// encode prints a set of attributes as key=value pairs, sorted by key.
func encode(set attribute.Set) string {
	return set.Encoded(attribute.DefaultEncoder())
}

// Each retry and the give-up become events on the span of the context
// given to Do.
func Example_spanEvents() {
	spans := tracetest.NewInMemoryExporter()
	tracers := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tracers.Shutdown(context.Background())

	hooks, _ := otelretry.Hooks(otelretry.WithMeterProvider(noop.NewMeterProvider()))
	policy := &retry.Policy{MaxAttempts: 2, InitialDelay: retry.NoDelay, Hooks: hooks}
	ctx, span := tracers.Tracer("example").Start(context.Background(), "fetch")
	_ = policy.Do(ctx, func(context.Context) error {
		return &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
	})
	span.End()

	for _, e := range spans.GetSpans()[0].Events {
		fmt.Println(e.Name)
		set := attribute.NewSet(e.Attributes...)
		for _, kv := range set.ToSlice() {
			fmt.Printf("\t%s=%s\n", kv.Key, kv.Value.String())
		}
	}
	// Output:
	// retry
	// 	error.type=503
	// 	retry.attempt=1
	// 	retry.delay=0
	// 	retry.depth=1
	// 	retry.max_attempts=2
	// 	retry.reason=transient
	// retry.give_up
	// 	error.type=503
	// 	retry.attempts=2
	// 	retry.depth=1
	// 	retry.reason=attempts exhausted
}

// retry.JoinHooks lets the telemetry hooks run beside hooks of your own, or beside
// retry.LogHooks.
func Example_joinHooks() {
	telemetry, _ := otelretry.Hooks(otelretry.WithMeterProvider(noop.NewMeterProvider()))
	alert := retry.Hooks{OnGiveUp: func(_ context.Context, err *retry.Error) {
		fmt.Printf("alert: %v after %d attempts\n", err.Reason, err.Attempts)
	}}
	policy := &retry.Policy{MaxAttempts: 2, InitialDelay: retry.NoDelay,
		Hooks: retry.JoinHooks(telemetry, alert)}
	_ = policy.Do(context.Background(), func(context.Context) error {
		return &retry.StatusError{StatusCode: http.StatusServiceUnavailable}
	})
	// Output: alert: attempts exhausted after 2 attempts
}

// errQuota is an error of the caller's own that deserves a name in
// error.type.
var errQuota = errors.New("quota exceeded")

// WithErrorType names the caller's own errors and leaves the rest to
// ErrorType.
func ExampleWithErrorType() {
	kind := func(err error) string {
		if errors.Is(err, errQuota) {
			return "quota"
		}
		return otelretry.ErrorType(err)
	}
	_, _ = otelretry.Hooks(otelretry.WithErrorType(kind))

	fmt.Println(kind(fmt.Errorf("upload: %w", errQuota)))
	fmt.Println(kind(&retry.StatusError{StatusCode: http.StatusTooManyRequests}))
	fmt.Println(kind(context.DeadlineExceeded))
	// Output:
	// quota
	// 429
	// context.DeadlineExceeded
}
