package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

func TestDescribe(t *testing.T) {
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	reset := fmt.Sprint(windowStart.Unix())

	tests := []struct {
		name    string
		giveErr error
		want    string
	}{
		{"secondary", &retry.StatusError{StatusCode: 429,
			Header: header("Retry-After", "1", "X-RateLimit-Remaining", "3")},
			"429 secondary limit, Retry-After: 1"},
		{"primary", &retry.StatusError{StatusCode: 403,
			Header: header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset)},
			"403 quota spent, X-RateLimit-Reset at " + windowStart.Local().Format("15:04:05")},
		{"other_status", &retry.StatusError{StatusCode: 502, Header: header()},
			"http status 502 Bad Gateway"},
		{"transport_error", errors.New("connection refused"), "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describe(tt.giveErr))
		})
	}
}
