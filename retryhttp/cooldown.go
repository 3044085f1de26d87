package retryhttp

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deb4e658/retry"
)

// maxReleaseSpread bounds how far the end of a cool-down is spread out.
const maxReleaseSpread = time.Second

// coolDowns holds one gate per key (host, by default). Gates are few (one
// per service called) and are never removed.
type coolDowns struct {
	mu    sync.Mutex
	gates map[string]*gate
}

func (c *coolDowns) gate(key string) *gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gates[key]
	if !ok {
		if c.gates == nil {
			c.gates = make(map[string]*gate)
		}
		g = &gate{}
		c.gates[key] = g
	}
	return g
}

// gate pauses every caller of one host until the time the host asked for,
// and releases them spread over a window so they do not all call at once.
type gate struct {
	mu     sync.Mutex
	until  time.Time
	spread time.Duration
}

// pause closes the gate until now+d, unless it is already closed longer.
func (g *gate) pause(now time.Time, d time.Duration) {
	until := now.Add(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.until) {
		g.until = until
		g.spread = min(d/2, maxReleaseSpread)
	}
}

// wait returns how long a caller arriving at now must wait: 0 when the
// gate is open, else until the gate opens plus a random share of the
// spread. u is a uniform random number in [0, 1).
func (g *gate) wait(now time.Time, u float64) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !now.Before(g.until) {
		return 0
	}
	return g.until.Sub(now) + time.Duration(u*float64(g.spread))
}

// observe closes the gate when an answer asks the client to hold back: a
// rate-limit or 503 answer with a server delay, or any answer saying no
// requests remain until a reset time (proactive pacing).
func (g *gate) observe(resp *http.Response, now time.Time) {
	h := resp.Header
	code := resp.StatusCode
	holdBack := retry.IsRateLimited(code, h) || code == http.StatusServiceUnavailable ||
		quotaSpent(h)
	if !holdBack {
		return
	}
	if d, ok := retry.ParseRetryAfter(h, now); ok && d > 0 {
		g.pause(now, d)
		return
	}
	if d, ok := structuredReset(h.Get("Ratelimit")); ok && d > 0 {
		g.pause(now, d)
	}
}

// quotaSpent reports whether the answer says, in so many words, that no
// requests remain in the current window.
func quotaSpent(h http.Header) bool {
	for _, key := range [...]string{"X-Ratelimit-Remaining", "Ratelimit-Remaining",
		"X-Ratelimit-Remaining-Requests"} {
		if strings.TrimSpace(h.Get(key)) == "0" {
			return true
		}
	}
	_, ok := structuredReset(h.Get("Ratelimit"))
	return ok
}

// structuredReset reads the RateLimit field of the IETF draft
// (draft-ietf-httpapi-ratelimit-headers), as in `"default";r=0;t=10`, and
// returns the reset delay t of the longest spent quota (r=0) it lists.
func structuredReset(field string) (time.Duration, bool) {
	var longest time.Duration
	found := false
	for _, item := range strings.Split(field, ",") {
		remaining, reset := "", ""
		for _, param := range strings.Split(item, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
			switch k {
			case "r":
				remaining = v
			case "t":
				reset = v
			}
		}
		secs, err := strconv.ParseUint(reset, 10, 32)
		if remaining != "0" || err != nil {
			continue
		}
		if d := time.Duration(secs) * time.Second; !found || d > longest {
			longest, found = d, true
		}
	}
	return longest, found
}

// uniform returns a random number in [0, 1) from src, or from the runtime's
// generator when src is nil.
func uniform(src rand.Source) float64 {
	if src == nil {
		return rand.Float64()
	}
	return float64(src.Uint64()>>11) / (1 << 53)
}
