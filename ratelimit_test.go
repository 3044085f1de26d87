package retry_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retrytest"
)

func TestNewRateLimiterRefusesUselessSettings(t *testing.T) {
	tests := []struct {
		name         string
		giveInterval time.Duration
		giveBurst    int
		wantErr      string
	}{
		{"zero_burst", 100 * time.Millisecond, 0, "retry: rate limiter burst 0 must be at least 1"},
		{"negative_burst", time.Second, -1, "burst -1"},
		{"zero_interval", 0, 1, "retry: rate limiter interval 0s must be positive"},
		{"negative_interval", -time.Second, 1, "interval -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := retry.NewRateLimiter(tt.giveInterval, tt.giveBurst)
			assert.Nil(t, lim)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestRateLimiterReserve(t *testing.T) {
	lim, err := retry.NewRateLimiter(100*time.Millisecond, 2)
	require.NoError(t, err)
	assert.Equal(t, "1 call every 100ms, burst 2", lim.String())

	now := retrytest.Epoch
	for _, want := range []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond} {
		wait, _, err := lim.Reserve(now)
		require.NoError(t, err)
		assert.Equal(t, want, wait)
	}

	// A cancelled reservation gives its slot back.
	wait, cancel, err := lim.Reserve(now)
	require.NoError(t, err)
	assert.Equal(t, 300*time.Millisecond, wait)
	cancel(now)
	wait, _, _ = lim.Reserve(now)
	assert.Equal(t, 300*time.Millisecond, wait)
}
