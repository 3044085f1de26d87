package retryhttp

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStructuredReset(t *testing.T) {
	tests := []struct {
		name      string
		giveField string
		wantDelay time.Duration
		wantOK    bool
	}{
		{"spent", `"default";r=0;t=10`, 10 * time.Second, true},
		{"left", `"default";r=5;t=10`, 0, false},
		{"empty", ``, 0, false},
		{"two_spent_longest", `"burst";r=0;t=2, "daily";r=0;t=3600`, time.Hour, true},
		{"one_spent", `"burst";r=3;t=2, "daily";r=0;t=60`, time.Minute, true},
		{"garbage_reset", `"default";r=0;t=soon`, 0, false},
		{"negative_reset", `"default";r=0;t=-4`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := structuredReset(tt.giveField)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantDelay, d)
		})
	}
}

func TestGateObserve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		giveStatus int
		giveHeader http.Header
		wantWait   time.Duration
	}{
		{"ok_with_quota", 200, http.Header{"X-Ratelimit-Remaining": {"10"},
			"X-Ratelimit-Reset": {"60"}}, 0},
		{"ok_quota_spent", 200, http.Header{"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset": {"60"}}, time.Minute},
		{"ok_ietf_spent", 200, http.Header{"Ratelimit": {`"d";r=0;t=7`}}, 7 * time.Second},
		{"ok_openai_spent", 200, http.Header{"X-Ratelimit-Remaining-Requests": {"0"},
			"X-Ratelimit-Reset-Requests": {"2s"}}, 2 * time.Second},
		{"429_retry_after", 429, http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"503_retry_after", 503, http.Header{"Retry-After": {"4"}}, 4 * time.Second},
		{"500_retry_after", 500, http.Header{"Retry-After": {"4"}}, 0},
		{"429_no_delay", 429, http.Header{}, 0},
		{"403_not_limited", 403, http.Header{"X-Ratelimit-Remaining": {"3"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gate
			g.observe(&http.Response{StatusCode: tt.giveStatus, Header: tt.giveHeader}, now, now)
			assert.Equal(t, tt.wantWait, g.wait(now, 0))
		})
	}
}

func TestGateReleaseSpread(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var g gate
	g.pause(now, now, 10*time.Second, true)
	assert.Equal(t, 10*time.Second, g.wait(now, 0))
	assert.Equal(t, 10*time.Second+maxReleaseSpread/2, g.wait(now, 0.5))
	g.pause(now, now, 2*time.Second, true) // shorter: the longer pause stands
	assert.Equal(t, 10*time.Second, g.wait(now, 0))
	assert.Zero(t, g.wait(now.Add(10*time.Second), 0.9), "open once the time has come")

	var short gate
	short.pause(now, now, 100*time.Millisecond, true)
	assert.Equal(t, 125*time.Millisecond, short.wait(now, 0.5), "spread is half the pause")
}

func TestGatePacesAtLearnedRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var g gate
	g.pause(t0, t0, time.Second, true) // the first 429: the window resets at 1s
	assert.Zero(t, g.slot(at(time.Second)), "no rate learned yet")

	g.admit(at(500 * time.Millisecond)) // sent before the reset: not counted
	for i := range 100 {
		g.admit(at(time.Second + time.Duration(i)*time.Millisecond))
	}
	// A request sent before the reset is turned away late: it teaches nothing.
	g.pause(at(900*time.Millisecond), at(1100*time.Millisecond), 900*time.Millisecond, true)
	assert.Zero(t, g.slot(at(2*time.Second)), "no rate learned yet")

	// The window of 1s admitted 100: one request every 10ms, paced 5% faster.
	g.pause(at(1200*time.Millisecond), at(1200*time.Millisecond), 800*time.Millisecond,
		true)
	learned := 10 * time.Millisecond
	step := time.Duration(float64(learned) / paceSpeedUp)
	now := at(1500 * time.Millisecond)
	assert.Equal(t, 500*time.Millisecond, g.wait(now, 0.9), "no spread while paced")
	assert.Equal(t, 500*time.Millisecond, g.slot(now), "slots start when the gate opens")
	assert.Equal(t, 500*time.Millisecond+step, g.slot(now))
	assert.Equal(t, step, g.slot(at(2*time.Second+step)), "the third slot")
	assert.Zero(t, g.slot(at(5*time.Second)), "pacing ends 2s after the reset")
}
