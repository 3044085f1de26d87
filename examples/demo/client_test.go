package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

func TestRateLimited(t *testing.T) {
	status := func(code int, kv ...string) error {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &retry.StatusError{StatusCode: code, Header: h}
	}

	tests := []struct {
		name    string
		giveErr error
		want    retry.Class
	}{
		{"spent_limit", status(403, "X-RateLimit-Remaining", "0"), retry.Transient},
		{"secondary_limit", status(403, "Retry-After", "60"), retry.Transient},
		{"wrapped", &jobError{job: "repo-01",
			err: status(403, "X-RateLimit-Remaining", "0")}, retry.Transient},
		{"forbidden", status(403, "X-RateLimit-Remaining", "12"), retry.Unknown},
		{"too_many", status(429, "X-RateLimit-Remaining", "0"), retry.Unknown},
		{"not_found", status(404), retry.Unknown},
		{"plain_error", errors.New("boom"), retry.Unknown},
		{"nil_header", fmt.Errorf("get: %w", &retry.StatusError{StatusCode: 403}),
			retry.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rateLimited(tt.giveErr))
		})
	}
}
