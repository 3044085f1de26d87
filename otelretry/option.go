package otelretry

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Option configures [Hooks]. The options are WithMeterProvider,
// WithAttributes, WithErrorMessage and WithErrorType.
type Option interface {
	apply(*config)
}

// config is what the options set; newConfig fills in the defaults.
type config struct {
	meterProvider metric.MeterProvider
	attrs         []attribute.KeyValue
	errorMessage  bool
	errorType     func(error) string
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.errorType == nil {
		c.errorType = ErrorType
	}
	return c
}

// WithMeterProvider makes the instruments from mp instead of the global
// MeterProvider (otel.GetMeterProvider at the time Hooks is called). A nil
// mp means the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return meterProviderOption{mp}
}

type meterProviderOption struct{ mp metric.MeterProvider }

func (o meterProviderOption) apply(c *config) { c.meterProvider = o.mp }

// WithAttributes adds attrs to every measurement and span event, typically
// to name the dependency the policy calls:
//
//	otelretry.WithAttributes(attribute.String("dependency", "github"))
//
// Keep them few and of low cardinality: each distinct set is a time series.
// Where a key is also one of the package's own (retry.depth, retry.reason,
// error.type, …), the package's value wins. Several WithAttributes add up.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return attributesOption{attribute.NewSet(attrs...)}
}

// attributesOption keeps a Set rather than a slice so that two options made
// from the same attributes compare equal.
type attributesOption struct{ set attribute.Set }

func (o attributesOption) apply(c *config) { c.attrs = append(c.attrs, o.set.ToSlice()...) }

// WithErrorMessage adds the text of the error (error.message) to the span
// events. It is off by default because an error's text may hold secrets (a
// URL with a token, a request body) and is of unbounded cardinality; the
// metrics never carry it.
func WithErrorMessage() Option {
	return errorMessageOption{}
}

type errorMessageOption struct{}

func (errorMessageOption) apply(c *config) { c.errorMessage = true }

// WithErrorType replaces [ErrorType] as the source of the error.type
// attribute, for errors of your own that deserve a name of their own. Fall
// back on ErrorType for the rest. The function must be safe for concurrent
// use and return few distinct values; an empty result leaves the attribute
// out. A nil f means ErrorType.
func WithErrorType(f func(err error) string) Option {
	return errorTypeOption{f}
}

type errorTypeOption struct{ f func(error) string }

func (o errorTypeOption) apply(c *config) { c.errorType = o.f }
