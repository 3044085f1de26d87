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

// coolDowns holds one gate per key (host, by default).
type coolDowns struct {
	noPacing  bool // set once, by WithoutLearnedPacing
	mu        sync.Mutex
	gates     map[string]*gate
	nextSweep int
}

func (c *coolDowns) gate(key string, now time.Time) *gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gates[key]
	if !ok {
		if c.gates == nil {
			c.gates = make(map[string]*gate)
		}
		if len(c.gates) >= c.nextSweep {
			c.sweep(now)
		}
		g = &gate{noPacing: c.noPacing}
		c.gates[key] = g
	}
	return g
}

// sweep forgets the gates that hold nothing back any more, so that a
// transport that calls many hosts (a crawler, a webhook sender) does not
// keep one gate for each forever. It runs when the map has doubled since
// the last sweep, which keeps its cost per new host constant.
func (c *coolDowns) sweep(now time.Time) {
	for key, g := range c.gates {
		if g.idle(now) {
			delete(c.gates, key)
		}
	}
	c.nextSweep = max(2*len(c.gates), minSweep)
}

// minSweep is the number of gates below which none is forgotten.
const minSweep = 64

// idle reports whether the gate neither holds callers back nor paces them,
// nor has requests in flight, so that a new gate would behave the same.
func (g *gate) idle(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !now.Before(g.until) && !g.pace.paced(now) && g.left.inflight == 0
}

// gate pauses every caller of one host until the time the host asked for,
// and releases them spread over a window so they do not all call at once:
// all but the first callers held, as many as the host admitted to this
// client in the window that the pause ended, when it admitted no one
// else's: it will admit them again.
type gate struct {
	mu       sync.Mutex
	until    time.Time
	spread   time.Duration
	held     int // callers told to wait for until
	pace     pacer
	noPacing bool // WithoutLearnedPacing
	left     left
}

// left tracks the requests a host said it has left in its window against
// those in flight, so that callers do not send more than it will admit.
type left struct {
	known    bool          // a count was stated:
	n        int           // the least for the window,
	sent     time.Time     // to the request sent then,
	window   string        // the window's reset, as the answers named it
	admitted int           // successes in that window, when a reset is named
	top      int           // the most any of them found left, itself included
	inflight int           // requests sent and not yet answered
	answer   chan struct{} // closed at the next answer; nil when none waits
}

// send reserves a request in flight and returns nil, or returns a channel
// that closes at the next answer when the requests in flight may spend
// all the host said it has left: the caller waits for it and asks again
// (or, when force, sends anyway). A count stated before a pause that has
// ended is stale: the window has reset.
func (g *gate) send(now time.Time, force bool) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := &g.left
	stale := beforePause(l.sent, now, g.until)
	if !force && l.known && !stale && l.inflight > 0 && l.inflight >= l.n {
		if l.answer == nil {
			l.answer = make(chan struct{})
		}
		return l.answer
	}
	l.inflight++
	return nil
}

// ownWindow returns how many requests the host admitted to this client in
// the window of the count known (counting those still in flight), when it
// admitted no one else's: they may all go at once when the window resets.
// It returns 0 when others shared the window (replicas of a service, say),
// whose share is not known.
func (l *left) ownWindow() int {
	if n := l.admitted + l.inflight; l.top > 0 && n >= l.top {
		return n
	}
	return 0
}

// sameWindow reports whether a count stated to a request sent at sent is
// of the window of the count known: both name the same reset, and the
// request did not go after a pause that ended the known count's window.
// Without a reset to go by, the latest count is taken as it comes.
func (l *left) sameWindow(window string, sent, pauseEnd time.Time) bool {
	return l.known && window != "" && window == l.window &&
		!beforePause(l.sent, sent, pauseEnd)
}

// beforePause reports whether a request sent at sent went before a pause
// that ended at pauseEnd, by later: its answer's count is of a window the
// pause ended.
func beforePause(sent, later, pauseEnd time.Time) bool {
	return sent.Before(pauseEnd) && !later.Before(pauseEnd)
}

// answered ends a request in flight, sent at sent, and learns the count
// its answer h states (h is nil for no answer): the least stated for a
// window, since answers come out of order; and counts the window's
// admissions. It wakes the callers waiting for an answer.
func (g *gate) answered(h http.Header, admitted bool, sent, now time.Time) {
	n, ok := statedLeft(h)
	window := statedWindow(h)
	g.mu.Lock()
	defer g.mu.Unlock()
	l := &g.left
	if ok && !beforePause(sent, now, g.until) {
		if !l.sameWindow(window, sent, g.until) {
			l.n, l.known, l.sent, l.window = n, true, sent, window
			l.admitted, l.top = 0, 0
		} else if n < l.n {
			l.n, l.sent = n, sent
		}
		if admitted && window != "" {
			l.admitted++
			l.top = max(l.top, n+1)
		}
	}
	l.inflight--
	if l.answer != nil {
		close(l.answer)
		l.answer = nil
	}
}

// pause closes the gate until now+d, unless it is already closed longer,
// and, when learn, paces the host from then on. sent is when the request
// that was answered went out.
func (g *gate) pause(sent, now time.Time, d time.Duration, learn bool) {
	reset := now.Add(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if reset.After(g.until) {
		g.until = reset
		g.spread = min(d/2, maxReleaseSpread)
		g.held = 0
	}
	if learn {
		g.pace.throttled(sent, now, reset)
	}
	if g.pace.paced(now) && g.until.After(g.pace.next) {
		g.pace.next = g.until
	}
}

// throttled paces the host after an answer that turned a request away
// without asking for a pause.
func (g *gate) throttled(sent, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pace.throttled(sent, now, now)
}

// admit counts a success to a request sent at sent.
func (g *gate) admit(sent time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pace.admits.add(sent)
}

// wait returns how long a caller arriving at now must wait: 0 when the
// gate is open, else until the gate opens plus a random share u (in
// [0, 1)) of the spread. While the host is paced there is no spread: the
// slots spread the callers. Nor is there for as many callers as the window
// that ended admitted, when it admitted only this client's (see ownWindow).
func (g *gate) wait(now time.Time, u float64) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !now.Before(g.until) {
		// TODO: callers whose own wait for the server ends with the pause
		// arrive here together and go at once; spreading them too would
		// delay a lone caller's retry by up to half its wait.
		return 0
	}
	if g.pace.paced(g.until) {
		return g.until.Sub(now)
	}
	if g.held++; g.held <= g.left.ownWindow() {
		return g.until.Sub(now)
	}
	return g.until.Sub(now) + time.Duration(u*float64(g.spread))
}

// closedFor returns how long the gate stays closed after now, without the
// release spread: a caller already past the limiter only waits out a pause
// that began while it waited for its turn.
func (g *gate) closedFor(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.until.Sub(now), 0)
}

// slot reserves the next turn of a caller arriving at now, when the host
// is paced, and returns how long the caller waits for it (0 when not
// paced); see pacer.slot for a turn that is too far ahead to reserve.
func (g *gate) slot(now time.Time) (wait time.Duration, reserved bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pace.slot(now)
}

// observe counts a success towards the host's rate, and closes the gate
// when an answer asks the client to hold back: a rate-limit or 503 answer
// with a server delay, or any answer saying no requests remain until a
// reset time (proactive pacing). It returns the pause, 0 when none.
func (g *gate) observe(resp *http.Response, sent, now time.Time) time.Duration {
	h := resp.Header
	code := resp.StatusCode
	if code < 400 {
		g.admit(sent)
	}
	holdBack := retry.IsRateLimited(code, h) || code == http.StatusServiceUnavailable ||
		quotaSpent(h)
	if !holdBack {
		return 0
	}
	// A server that states its quota (a remaining count) is followed to
	// the letter; the rate is learned only from servers that do not say.
	learn := !statesQuota(h) && !g.noPacing
	if d, ok := retry.ParseRetryAfter(h, now); ok && d > 0 {
		g.pause(sent, now, d, learn)
		return d
	}
	if d, ok := structuredReset(h.Get("Ratelimit")); ok && d > 0 {
		g.pause(sent, now, d, learn)
		return d
	}
	if learn && retry.IsRateLimited(code, h) {
		g.throttled(sent, now)
	}
	return 0
}

// statesQuota reports whether an answer carries a remaining-count header,
// from which proactive pacing knows when the quota is spent.
func statesQuota(h http.Header) bool {
	for _, key := range remainingHeaders {
		if h.Get(key) != "" {
			return true
		}
	}
	return h.Get("Ratelimit") != ""
}

var remainingHeaders = [...]string{"X-Ratelimit-Remaining", "Ratelimit-Remaining",
	"X-Ratelimit-Remaining-Requests"}

// statedLeft returns the requests an answer says are left in the window:
// the least of its remaining counts.
func statedLeft(h http.Header) (int, bool) {
	least, found := 0, false
	for _, key := range remainingHeaders {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(key))); err == nil && n >= 0 {
			if !found || n < least {
				least, found = n, true
			}
		}
	}
	eachQuota(h.Get("Ratelimit"), func(remaining, _ string) {
		n, err := strconv.Atoi(remaining)
		if err == nil && n >= 0 && (!found || n < least) {
			least, found = n, true
		}
	})
	return least, found
}

// statedWindow returns the reset an answer states for its window, as
// written: answers that name the same reset count down the same window.
func statedWindow(h http.Header) string {
	for _, key := range resetHeaders {
		if v := h.Get(key); v != "" {
			return v
		}
	}
	return ""
}

var resetHeaders = [...]string{"X-Ratelimit-Reset", "Ratelimit-Reset",
	"X-Ratelimit-Reset-Requests"}

// quotaSpent reports whether the answer says, in so many words, that no
// requests remain in the current window.
func quotaSpent(h http.Header) bool {
	for _, key := range remainingHeaders {
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
	eachQuota(field, func(remaining, reset string) {
		secs, err := strconv.ParseUint(reset, 10, 32)
		if remaining != "0" || err != nil {
			return
		}
		if d := time.Duration(secs) * time.Second; !found || d > longest {
			longest, found = d, true
		}
	})
	return longest, found
}

// eachQuota calls fn with the remaining count (r) and reset (t) of each
// quota that a RateLimit field lists, as written ("" when absent). It
// cuts the field in place rather than splitting it: it runs on every
// answer.
func eachQuota(field string, fn func(remaining, reset string)) {
	for field != "" {
		var item string
		item, field, _ = strings.Cut(field, ",")
		remaining, reset := "", ""
		for item != "" {
			var param string
			param, item, _ = strings.Cut(item, ";")
			switch k, v, _ := strings.Cut(strings.TrimSpace(param), "="); k {
			case "r":
				remaining = v
			case "t":
				reset = v
			}
		}
		fn(remaining, reset)
	}
}

// uniform returns a random number in [0, 1) from src, or from the runtime's
// generator when src is nil.
func uniform(src rand.Source) float64 {
	if src == nil {
		return rand.Float64()
	}
	return float64(src.Uint64()>>11) / (1 << 53)
}

// gateLimiter puts a host's gate in front of the policy's own Limiter, so
// that the executor waits for the gate as for any limiter: bounded by the
// context's deadline and the policy's time limits, and reported to the
// OnLimiterWait hook. When the gate holds the caller back, the policy's
// limiter is asked only after the gate opens (by the attempt itself, see
// roundTrip.waitTurn), so that callers released together still keep its
// spacing: x/time/rate cannot reserve slots out of time order.
type gateLimiter struct {
	rt *roundTrip
}

func (l gateLimiter) Reserve(time.Time) (time.Duration, func(time.Time), error) {
	rt := l.rt
	// The executor's now may be a reading of the monotonic clock only,
	// whose wall time strays if the system clock was set; the gate counts
	// admissions by wall time, as its other readings of the clock do.
	now := rt.clock().Now()
	rt.syncShared(now)
	d := rt.gate.wait(now, rt.releaseShare())
	if d > rt.t.maxServerDelay {
		// Longer than the policy lets a server hold it: send the request,
		// so that its answer ends the call with retry.ErrServerDelay and
		// the delay, for the caller to schedule the work later, rather
		// than hold every call to the host that long.
		return 0, nil, nil
	}
	turn, reserved := rt.gate.slot(now.Add(d))
	d += turn
	rt.turnOwed = !reserved
	next := rt.t.policy.Limiter
	if d > 0 || next == nil {
		rt.slotOwed = d > 0 && next != nil
		rt.heldBack = d > 0
		return d, nil, nil
	}
	wait, cancel, err := next.Reserve(now)
	rt.heldBack = wait > 0
	return wait, cancel, err
}

// releaseShare is the share of a pause's release spread this caller takes:
// random, unless the policy has a limiter, whose slots (taken after the
// pause) already space the callers it releases.
func (rt *roundTrip) releaseShare() float64 {
	if rt.t.policy.Limiter != nil {
		return 0
	}
	return uniform(rt.t.policy.Rand)
}

// syncShared closes the gate for as long as another process was asked to
// hold back from the host, when the transport shares its pauses.
func (rt *roundTrip) syncShared(now time.Time) {
	if rt.t.shared == nil {
		return
	}
	if d := rt.t.shared.PausedFor(rt.key); d > 0 {
		rt.gate.pause(now, now, d, false)
	}
}
