package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
)

// windowStart is the start of a quota window of defaultConfig.
var windowStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns the time d after windowStart.
func at(d time.Duration) time.Time { return windowStart.Add(d) }

func TestAdmit_primary_quota(t *testing.T) {
	cfg := defaultConfig().quota
	h := newHost(cfg, windowStart)

	for i := range cfg.limit {
		v, q := h.admit(at(time.Duration(i)*time.Millisecond), false)
		require.Equal(t, admitted, v, "request %d", i+1)
		assert.Equal(t, cfg.limit-i-1, q.remaining, "remaining after request %d", i+1)
		assert.Equal(t, at(cfg.window), q.reset)
	}

	v, q := h.admit(at(time.Second), false)
	assert.Equal(t, primary, v)
	assert.Zero(t, q.remaining)

	// The next window has a fresh quota.
	v, q = h.admit(at(cfg.window), false)
	assert.Equal(t, admitted, v)
	assert.Equal(t, cfg.limit-1, q.remaining)
	assert.Equal(t, at(2*cfg.window), q.reset)
}

func TestAdmit_secondary_limit(t *testing.T) {
	cfg := defaultConfig().quota
	h := newHost(cfg, windowStart)

	for range cfg.mints {
		v, _ := h.admit(at(0), true)
		require.Equal(t, admitted, v)
	}
	v, q := h.admit(at(999*time.Millisecond), true)
	assert.Equal(t, secondary, v, "a third mint within the second")
	assert.Equal(t, cfg.limit-cfg.mints, q.remaining, "a refusal costs nothing")

	v, _ = h.admit(at(999*time.Millisecond), false)
	assert.Equal(t, admitted, v, "other requests pass")
	v, _ = h.admit(at(time.Second), true)
	assert.Equal(t, admitted, v, "a second later")
	assert.Equal(t, hostStats{requests: 5, secondary: 1}, h.statistics())
}

func TestAdmit_windows(t *testing.T) {
	cfg := defaultConfig().quota
	tests := []struct {
		name      string
		giveStart time.Time
		giveAt    time.Time
		wantReset time.Time
	}{
		{"first_window", windowStart, at(time.Second), at(2 * time.Second)},
		{"first_window_ends_on_a_second", windowStart.Add(300 * time.Millisecond),
			at(2100 * time.Millisecond), at(3 * time.Second)},
		{"next_window", windowStart, at(2 * time.Second), at(4 * time.Second)},
		{"windows_without_requests", windowStart, at(7 * time.Second), at(8 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(cfg, tt.giveStart)
			v, q := h.admit(tt.giveAt, false)
			assert.Equal(t, admitted, v)
			assert.Equal(t, tt.wantReset, q.reset)
		})
	}
}

func TestAccessToken(t *testing.T) {
	h := newHost(defaultConfig().quota, windowStart)
	post := func(id, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/app/installations/"+id+"/access_tokens", nil)
		req.Header.Set("Authorization", "Bearer "+appJWT)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		h.handler().ServeHTTP(rec, req)
		return rec
	}
	token := func(rec *httptest.ResponseRecorder) issued {
		var tok issued
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tok))
		return tok
	}

	first := post("101", "key-1")
	require.Equal(t, http.StatusCreated, first.Code)
	assertLimitHeaders(t, first.Header())
	again := post("101", "key-1")
	require.Equal(t, http.StatusCreated, again.Code)
	assert.Equal(t, token(first), token(again), "the same key, the same token")

	other := post("101", "")
	require.Equal(t, http.StatusCreated, other.Code)
	assert.NotEqual(t, token(first).Token, token(other).Token)

	missing := post("999", "")
	assert.Equal(t, http.StatusNotFound, missing.Code)
	assertLimitHeaders(t, missing.Header())
}

// assertLimitHeaders checks that h carries GitHub's rate-limit headers and
// a Date, as every answer of the host does.
func assertLimitHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for _, key := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining",
		"X-RateLimit-Used", "X-RateLimit-Reset"} {
		_, err := strconv.Atoi(h.Get(key))
		assert.NoError(t, err, key)
	}
	_, err := http.ParseTime(h.Get("Date"))
	assert.NoError(t, err, "Date")
}

// TestRefusals checks that each refusal reads, through the library, as a
// rate limit with the delay the host means.
func TestRefusals(t *testing.T) {
	now := at(1250 * time.Millisecond)
	tests := []struct {
		name          string
		giveV         verdict
		giveRemaining int
		wantStatus    int
		wantDelay     time.Duration
	}{
		// Measured from the Date header, which says 12:00:01: a whole
		// second where 750ms are left, never less than the truth.
		{"primary", primary, 0, http.StatusForbidden, time.Second},
		{"secondary", secondary, 3, http.StatusTooManyRequests, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			q := quota{limit: 5, remaining: tt.giveRemaining, reset: at(2 * time.Second)}
			ok := newHost(defaultConfig().quota, windowStart).answerLimits(rec, now, tt.giveV, q)

			assert.False(t, ok)
			assert.Equal(t, tt.wantStatus, rec.Code)
			assert.True(t, retry.IsRateLimited(rec.Code, rec.Header()), "rate limited")
			d, found := retry.ParseRetryAfter(rec.Header(), now)
			assert.True(t, found)
			assert.Equal(t, tt.wantDelay, d)
		})
	}
}

func TestRepoPage(t *testing.T) {
	tests := []struct {
		name     string
		givePage int
		want     int
	}{
		{"first", 1, 3},
		{"last", 4, 2},
		{"past_the_end", 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := repoPage("acme", tt.givePage, 3)
			assert.Equal(t, reposPerInstallation, p["total_count"])
			assert.Len(t, p["repositories"], tt.want)
		})
	}
}
