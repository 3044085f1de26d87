package retry

import (
	"net/http"
	"time"
)

// ParseRetryAfter is a stand-in until the parser lands.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) { return 0, false }
