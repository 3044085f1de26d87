package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

// TestFail checks that each error answer reads back, through the library's
// parser, as the delay the schedule asked for, and is one the default
// classifier retries.
func TestFail(t *testing.T) {
	// A quarter past a whole second, so rounding up to the next one shows.
	now := time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

	tests := []struct {
		name       string
		give       outcome
		giveScale  float64
		wantStatus int
		wantDelay  time.Duration
		wantOK     bool
	}{
		{"retry_after_ms", outcome{chatRetryAfterMs, 300 * time.Millisecond}, 1,
			http.StatusTooManyRequests, 300 * time.Millisecond, true},
		{"retry_after_seconds", outcome{chatRetryAfterSecs, 2 * time.Second}, 1,
			http.StatusTooManyRequests, 2 * time.Second, true},
		{"retry_after_seconds_scaled", outcome{chatRetryAfterSecs, 2 * time.Second}, 0.1,
			http.StatusTooManyRequests, time.Second, true},
		{"reset_requests", outcome{chatResetRequests, 1500 * time.Millisecond}, 1,
			http.StatusTooManyRequests, 1500 * time.Millisecond, true},
		{"reset_requests_scaled", outcome{chatResetRequests, 1500 * time.Millisecond}, 0.1,
			http.StatusTooManyRequests, 150 * time.Millisecond, true},
		{"http_date", outcome{chatUnavailableDate, time.Second}, 1,
			http.StatusServiceUnavailable, 1750 * time.Millisecond, true},
		{"internal_error", outcome{chatInternalError, 0}, 1,
			http.StatusInternalServerError, 0, false},
		{"github_403", outcome{repoForbiddenLimit, time.Second}, 1,
			http.StatusForbidden, 1750 * time.Millisecond, true},
		{"github_429", outcome{repoTooManyLimit, time.Second}, 1,
			http.StatusTooManyRequests, 1750 * time.Millisecond, true},
		{"bad_gateway", outcome{repoBadGateway, 0}, 1, http.StatusBadGateway, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newAPI(nil, tt.giveScale).fail(rec, tt.give, now)

			assert.Equal(t, tt.wantStatus, rec.Code)
			// The client has no classifier of its own: the default one
			// must retry every failure the server deals, 403 included.
			status := &retry.StatusError{StatusCode: rec.Code, Header: rec.Header()}
			assert.Equal(t, retry.Transient, retry.DefaultClassifier(status))
			d, ok := retry.ParseRetryAfter(rec.Header(), now)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantDelay, d)
		})
	}
}

func TestNextSecond(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		give time.Time
		want time.Time
	}{
		{"whole_stays", base, base.Add(time.Second)},
		{"fraction_rounds_up", base.Add(time.Nanosecond), base.Add(2 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, nextSecond(tt.give, time.Second))
		})
	}
}
