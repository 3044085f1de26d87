package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFlakyAPIOutage(t *testing.T) {
	start := time.Now()
	api := newFlakyAPI(start, outage{from: time.Second, length: 2 * time.Second}, 0, 1)

	tests := []struct {
		name       string
		giveAt     time.Duration
		wantStatus int
	}{
		{"before", 999 * time.Millisecond, http.StatusOK},
		{"first_instant", time.Second, http.StatusServiceUnavailable},
		{"during", 2 * time.Second, http.StatusServiceUnavailable},
		{"after", 3 * time.Second, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantStatus, api.decide("j", start.Add(tt.giveAt)))
		})
	}
	assert.Equal(t, hits{requests: 4, inOutage: 2, ok: 2, outage503: 2}, api.counts("j"))
}

func TestFlakyAPINoise(t *testing.T) {
	start := time.Now()
	api := newFlakyAPI(start, outage{length: time.Second}, 0.2, 1)
	for range 10000 {
		api.decide("a", start.Add(time.Second))
	}
	h := api.totals()
	assert.Equal(t, 10000, h.requests)
	assert.Equal(t, 0, h.inOutage)
	assert.InDelta(t, 1000, h.noise503, 150, "half the noise is 503")
	assert.InDelta(t, 1000, h.noise429, 150, "the other half 429")

	// The same job meets the same noise, whatever came before or between,
	// in the outage or from other jobs.
	same := newFlakyAPI(start, outage{length: time.Second}, 0.2, 1)
	for range 10000 {
		same.decide("a", start)
		same.decide("b", start.Add(time.Second))
		same.decide("a", start.Add(time.Second))
	}
	assert.Equal(t, h.noise503, same.counts("a").noise503)
	assert.Equal(t, h.noise429, same.counts("a").noise429)
}
