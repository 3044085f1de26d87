package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDelayBeforeDefaultSchedule(t *testing.T) {
	p := &Policy{Jitter: NoJitter}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second}
	for n, w := range want {
		assert.Equal(t, w, p.DelayBefore(n, 0), "attempt %d", n)
	}
}

func TestDelayBeforeNeverOverflows(t *testing.T) {
	jitters := []Jitter{NoJitter, {}, ProportionalJitter(1), FullJitter, EqualJitter,
		DecorrelatedJitter}
	ns := []int{2, 3, 30, 62, 63, 64, 65, 1000, 1 << 20, math.MaxInt32, math.MaxInt - 1,
		math.MaxInt}
	for _, j := range jitters {
		for _, mult := range []float64{1, 1.5, 2, 10, math.MaxFloat64} {
			p := &Policy{InitialDelay: time.Nanosecond, MaxDelay: math.MaxInt64,
				Multiplier: mult, Jitter: j}
			require.NoError(t, p.Validate())
			prev := time.Duration(0)
			for _, n := range ns {
				d := p.DelayBefore(n, prev)
				assert.GreaterOrEqual(t, d, time.Duration(0), "%v n=%d mult=%v", j, n, mult)
				prev = d
			}
		}
	}
}

func TestDelayBeforeStaysWithinMaxDelay(t *testing.T) {
	tests := []struct {
		name       string
		giveJitter Jitter
		wantMin    func(base time.Duration) time.Duration
	}{
		{"none", NoJitter, func(b time.Duration) time.Duration { return b }},
		{"proportional", ProportionalJitter(0.5), func(b time.Duration) time.Duration {
			return b / 2
		}},
		{"full", FullJitter, func(time.Duration) time.Duration { return 0 }},
		{"equal", EqualJitter, func(b time.Duration) time.Duration { return b / 2 }},
		{"decorrelated", DecorrelatedJitter, func(time.Duration) time.Duration {
			return 100 * time.Millisecond
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{InitialDelay: 100 * time.Millisecond, MaxDelay: 3 * time.Second,
				Jitter: tt.giveJitter, Rand: rand.NewPCG(1, 2)}
			var prev time.Duration
			for n := 2; n < 200; n++ {
				d := p.DelayBefore(n, prev)
				base := p.baseDelay(n)
				assert.LessOrEqual(t, d, 3*time.Second, "n=%d", n)
				assert.GreaterOrEqual(t, d, min(tt.wantMin(base), 3*time.Second), "n=%d", n)
				prev = d
			}
		})
	}
}

func TestProportionalJitterSpreadsBothWays(t *testing.T) {
	p := &Policy{MaxDelay: time.Hour, Rand: rand.NewPCG(7, 7)}
	var below, above int
	for range 1000 {
		d := p.DelayBefore(3, 0) // base 2s, ±20%
		require.GreaterOrEqual(t, d, 1600*time.Millisecond)
		require.LessOrEqual(t, d, 2400*time.Millisecond)
		if d < 2*time.Second {
			below++
		} else {
			above++
		}
	}
	assert.Greater(t, below, 400)
	assert.Greater(t, above, 400)
}

func TestDecorrelatedJitterGrowsFromPrevious(t *testing.T) {
	p := &Policy{InitialDelay: time.Second, MaxDelay: time.Hour, Jitter: DecorrelatedJitter,
		Rand: rand.NewPCG(3, 4)}
	for range 100 {
		d := p.DelayBefore(5, 10*time.Second)
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 30*time.Second)
	}
}

func TestDelayBeforeIsRepeatableWithSeed(t *testing.T) {
	schedule := func() []time.Duration {
		p := &Policy{Rand: rand.NewPCG(42, 1), Jitter: FullJitter}
		var out []time.Duration
		for n := 2; n < 10; n++ {
			out = append(out, p.DelayBefore(n, 0))
		}
		return out
	}
	assert.Equal(t, schedule(), schedule())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		givePolicy Policy
		wantField  string
	}{
		{"zero", Policy{}, ""},
		{"default", *Default(), ""},
		{"unlimited", Policy{MaxAttempts: Unlimited, AttemptTimeout: Unlimited,
			TimeLimit: Unlimited, FailureTimeLimit: Unlimited, MaxServerDelay: Unlimited}, ""},
		{"no_delay", Policy{InitialDelay: NoDelay}, ""},
		{"negative_attempts", Policy{MaxAttempts: -2}, "MaxAttempts -2"},
		{"negative_initial", Policy{InitialDelay: -time.Second}, "InitialDelay -1s"},
		{"negative_max", Policy{MaxDelay: -1}, "MaxDelay -1ns"},
		{"negative_timeout", Policy{AttemptTimeout: -5}, "AttemptTimeout -5ns"},
		{"negative_limit", Policy{TimeLimit: -time.Minute}, "TimeLimit -1m0s"},
		{"negative_failure_limit", Policy{FailureTimeLimit: -2}, "FailureTimeLimit -2ns"},
		{"negative_server", Policy{MaxServerDelay: -3}, "MaxServerDelay -3ns"},
		{"small_multiplier", Policy{Multiplier: 0.5}, "Multiplier 0.5"},
		{"nan_multiplier", Policy{Multiplier: math.NaN()}, "Multiplier NaN"},
		{"inf_multiplier", Policy{Multiplier: math.Inf(1)}, "Multiplier +Inf"},
		{"jitter_above_one", Policy{Jitter: ProportionalJitter(1.5)}, "Jitter 1.5"},
		{"jitter_negative", Policy{Jitter: ProportionalJitter(-0.1)}, "Jitter -0.1"},
		{"max_below_initial", Policy{InitialDelay: time.Minute, MaxDelay: time.Second},
			"MaxDelay 1s is below InitialDelay 1m0s"},
		{"default_max_below_initial", Policy{InitialDelay: 2 * time.Minute},
			"MaxDelay 1m0s is below InitialDelay 2m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.givePolicy.Validate()
			if tt.wantField == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidPolicy))
			assert.Contains(t, err.Error(), tt.wantField)
			assert.True(t, strings.HasPrefix(err.Error(), "retry: "), err.Error())
		})
	}
}

func TestNilPolicyIsDefault(t *testing.T) {
	var p *Policy
	require.NoError(t, p.Validate())
	d := p.DelayBefore(2, 0)
	assert.GreaterOrEqual(t, d, 800*time.Millisecond)
	assert.LessOrEqual(t, d, 1200*time.Millisecond)
}

func TestJitterString(t *testing.T) {
	assert.Equal(t, "±20%", Jitter{}.String())
	assert.Equal(t, "±50%", ProportionalJitter(0.5).String())
	assert.Equal(t, "none", NoJitter.String())
	assert.Equal(t, "full", FullJitter.String())
	assert.Equal(t, "equal", EqualJitter.String())
	assert.Equal(t, "decorrelated", DecorrelatedJitter.String())
}

func TestLockedSourceIsRepeatable(t *testing.T) {
	a, b := LockedSource(rand.NewPCG(5, 6)), rand.NewPCG(5, 6)
	for range 10 {
		assert.Equal(t, b.Uint64(), a.Uint64())
	}
}
