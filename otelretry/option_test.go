package otelretry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/deb4e658/retry/otelretry"
)

func TestOptionsCompare(t *testing.T) {
	mp := noop.NewMeterProvider()
	tests := []struct {
		name      string
		giveA     otelretry.Option
		giveB     otelretry.Option
		wantEqual bool
	}{
		{"meter_provider", otelretry.WithMeterProvider(mp), otelretry.WithMeterProvider(mp), true},
		{"attributes", otelretry.WithAttributes(attribute.String("a", "1")),
			otelretry.WithAttributes(attribute.String("a", "1")), true},
		{"attributes_differ", otelretry.WithAttributes(attribute.String("a", "1")),
			otelretry.WithAttributes(attribute.String("a", "2")), false},
		{"error_message", otelretry.WithErrorMessage(), otelretry.WithErrorMessage(), true},
		{"different_kinds", otelretry.WithErrorMessage(), otelretry.WithMeterProvider(mp),
			false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantEqual, tt.giveA == tt.giveB)
		})
	}
}

func TestNilOptionIsSkipped(t *testing.T) {
	r := newRig(t)
	h, err := otelretry.Hooks(nil, otelretry.WithMeterProvider(r.meters), nil)
	require.NoError(t, err)
	h.OnSuccess(context.Background(), 1, 0)
	assert.Equal(t, int64(1), total(r.scope(t), "retry.successes"))
}
