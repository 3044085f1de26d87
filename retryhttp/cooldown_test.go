package retryhttp

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	g.pause(now, now, 10*time.Second, false)
	assert.Equal(t, 10*time.Second, g.wait(now, 0))
	assert.Equal(t, 10*time.Second+maxReleaseSpread/2, g.wait(now, 0.5))
	g.pause(now, now, 2*time.Second, false) // shorter: the longer pause stands
	assert.Equal(t, 10*time.Second, g.wait(now, 0))
	assert.Zero(t, g.wait(now.Add(10*time.Second), 0.9), "open once the time has come")

	var short gate
	short.pause(now, now, 100*time.Millisecond, false)
	assert.Equal(t, 125*time.Millisecond, short.wait(now, 0.5), "spread is half the pause")
}

func TestGatePacesAtLearnedRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var g gate
	for i := range 20 { // the host admits 20 in the first 200ms
		g.admit(at(time.Duration(i) * 10 * time.Millisecond))
	}
	assert.Zero(t, slot(&g, at(300*time.Millisecond)), "not paced before a throttle")

	// The first throttle, with a pause of 1s: 20 a second from the reset.
	g.pause(at(300*time.Millisecond), at(300*time.Millisecond), time.Second, true)
	assert.Equal(t, 700*time.Millisecond, g.wait(at(600*time.Millisecond), 0.9),
		"no spread while paced")
	now := at(1300 * time.Millisecond)
	assert.Equal(t, time.Duration(0), slot(&g, now), "the first slot is at the reset")
	assert.Equal(t, 50*time.Millisecond, slot(&g, now), "then one every 1/20s")

	// A throttle to a request sent before the cut tells nothing new.
	g.throttled(at(200*time.Millisecond), at(1400*time.Millisecond))
	assert.Equal(t, 20.0, g.pace.perSec)

	// Without throttles the rate grows fast: x1.5 each 250ms.
	slot(&g, at(1300*time.Millisecond+2*paceGrowEvery))
	assert.InDelta(t, 20*paceFast*paceFast, g.pace.perSec, 1e-9)

	// A throttle that asks for no pause cuts it by paceCutShort, and
	// growth after a cut is slow.
	for i := range 40 { // the host admitted 40 in the last second
		g.admit(at(1100*time.Millisecond + time.Duration(i)*20*time.Millisecond))
	}
	cut := at(2 * time.Second)
	g.throttled(cut, cut)
	assert.InDelta(t, 45*paceCutShort, g.pace.perSec, 1e-9)
	slot(&g, cut.Add(paceGrowEvery))
	assert.InDelta(t, 45*paceCutShort*paceSlow, g.pace.perSec, 1e-9, "slow after a cut")

	// The same overload seen late cuts nothing.
	g.throttled(cut.Add(paceCutHold-time.Millisecond), cut.Add(paceCutHold))
	assert.InDelta(t, 45*paceCutShort*paceSlow, g.pace.perSec, 1e-9, "within the cut hold")

	// A later throttle cuts to the rate the host admitted over the last
	// second (the whole tenths before the one it comes in), when that is
	// less, but never below half at once.
	for i := range 27 {
		g.admit(cut.Add(1100*time.Millisecond + time.Duration(i)*30*time.Millisecond))
	}
	later := cut.Add(2 * time.Second)
	before := g.pace.perSec
	g.throttled(later, later)
	assert.InDelta(t, 27/0.9, g.pace.perSec, 1e-9, "27 admitted in 900ms")
	assert.Less(t, 30.0, before*paceCutShort)
	g.throttled(later.Add(paceCutHold), later.Add(paceCutHold))
	assert.InDelta(t, 15.0, g.pace.perSec, 1e-9, "10 admitted in 900ms; half is more")

	end := later.Add(paceCutHold + paceHold)
	assert.Zero(t, slot(&g, end), "pacing ends paceHold after the last throttle")
	assert.True(t, g.idle(end))
}

func TestGateLearnsRateFromAskedDelays(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var g gate
	for i := range 20 { // a burst of 20 admitted at once
		g.admit(at(time.Duration(i) * time.Millisecond / 2))
	}

	// A token bucket asks for the time to its next token: at most 1/rate.
	first := at(10 * time.Millisecond)
	g.pause(first, first, 5*time.Millisecond, true)
	assert.InDelta(t, 200.0, g.pace.perSec, 1e-9, "one request per 5ms, not the burst's 20")

	// A longer delay asked for lowers it, towards the host's rate.
	g.pause(at(9*time.Millisecond), at(50*time.Millisecond), 8*time.Millisecond, true)
	assert.InDelta(t, 125.0, g.pace.perSec, 1e-9)

	// Set from the delays, the rate is near the host's and grows slowly.
	slot(&g, at(58*time.Millisecond+paceGrowEvery))
	assert.InDelta(t, 125*paceSlow, g.pace.perSec, 1e-9)

	// A throttle while the host admitted less (100 a second over the
	// tenths since pacing began) sets the rate to what it admitted.
	for i := range 30 {
		g.admit(at(100*time.Millisecond + time.Duration(i)*10*time.Millisecond))
	}
	late := at(400 * time.Millisecond)
	g.pause(late, late, 4*time.Millisecond, true)
	assert.InDelta(t, 100.0, g.pace.perSec, 1e-9)

	// A host that asks for longer delays than a token takes (a window's
	// reset) allows less than it admitted: that changes nothing, and the
	// rate grows fast.
	var w gate
	for i := range 20 {
		w.admit(at(time.Duration(i) * time.Millisecond / 2))
	}
	w.pause(first, first, 800*time.Millisecond, true)
	assert.Equal(t, 20.0, w.pace.perSec)
	slot(&w, first.Add(800*time.Millisecond+paceGrowEvery))
	assert.InDelta(t, 20*paceFast, w.pace.perSec, 1e-9)
	w.pause(first, first.Add(time.Second), 800*time.Millisecond, true)
	assert.InDelta(t, 20*paceFast, w.pace.perSec, 1e-9, "the same overload seen late")
}

func TestGateThrottleWithoutAdmissions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var g gate
	g.throttled(t0, t0) // a 429 before anything was admitted
	assert.Zero(t, slot(&g, t0), "nothing to learn a rate from: not paced")

	g.admit(t0)
	g.admit(t0.Add(time.Millisecond))
	later := t0.Add(10 * time.Millisecond)
	g.throttled(later, later)
	assert.Equal(t, 2.0, g.pace.perSec, "two admitted in the last second")
	assert.Zero(t, slot(&g, later))
	d, reserved := g.slot(later)
	assert.Equal(t, paceHorizon, d, "a turn 500ms away is too far to reserve")
	assert.False(t, reserved)
}

func TestGateWithoutLearnedPacing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := gate{noPacing: true}
	for i := range 50 {
		g.admit(t0.Add(time.Duration(i) * time.Millisecond))
	}
	now := t0.Add(100 * time.Millisecond)
	g.observe(&http.Response{StatusCode: 429, Header: http.Header{}}, now, now)
	g.observe(&http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"1"}}}, now,
		now)
	assert.Equal(t, time.Second, g.wait(now, 0), "the pause asked for still holds")
	assert.Zero(t, slot(&g, now.Add(time.Second)), "but no pacing follows")
}

// slot returns the wait for a turn that must be reserved.
func slot(g *gate, now time.Time) time.Duration {
	d, reserved := g.slot(now)
	if !reserved {
		panic("turn not reserved")
	}
	return d
}

func TestGateKeepsInFlightToStatedLeft(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stated := func(left int, reset string) http.Header {
		h := http.Header{}
		h.Set("X-RateLimit-Remaining", strconv.Itoa(left))
		if reset != "" {
			h.Set("X-RateLimit-Reset", reset)
		}
		return h
	}
	var g gate
	require.Nil(t, g.send(t0, false), "nothing stated yet")
	g.answered(stated(2, "100"), true, t0, t0)

	// Two left: two requests in flight, and a third waits for an answer.
	require.Nil(t, g.send(t0, false))
	require.Nil(t, g.send(t0, false))
	answer := g.send(t0, false)
	require.NotNil(t, answer)
	assert.Nil(t, g.send(t0, true), "forced: sent anyway")
	g.answered(stated(1, "100"), true, t0, t0)
	select {
	case <-answer:
	default:
		t.Fatal("an answer wakes the callers waiting for one")
	}
	assert.NotNil(t, g.send(t0, false), "two in flight, one left")
	require.Nil(t, g.send(t0, true))

	// Answers come out of order: the least count of a window holds.
	g.answered(stated(5, "100"), true, t0, t0)
	assert.Equal(t, 1, g.left.n)
	g.answered(stated(50, "101"), true, t0, t0)
	assert.Equal(t, 50, g.left.n, "a new reset is a new window")
	g.answered(stated(60, ""), true, t0, t0)
	assert.Equal(t, 60, g.left.n, "without a reset, the latest count")
	assert.Zero(t, g.left.inflight)

	// A count stated before a pause that has ended is of an old window.
	g.answered(stated(0, "102"), true, t0, t0)
	g.pause(t0, t0, time.Second, false)
	reset := t0.Add(time.Second)
	for range 3 {
		require.Nil(t, g.send(reset, false), "the window has reset")
	}
	g.answered(stated(7, "103"), true, reset, reset)
	g.answered(stated(0, "102"), true, t0, reset)
	assert.Equal(t, 7, g.left.n, "an answer to a request sent before the pause, come after it")
}

func TestGateReleasesAtOnceWhatTheWindowAdmitted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "1")
	h.Set("X-RateLimit-Reset", "100")
	var g gate
	for range 2 { // the host admits two requests of this client's
		require.Nil(t, g.send(t0, false))
		g.answered(h, true, t0, t0)
	}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("Retry-After", "2")
	g.observe(&http.Response{StatusCode: http.StatusTooManyRequests, Header: h}, t0, t0)
	assert.Equal(t, 2*time.Second, g.wait(t0, 0.5), "the window admitted two of ours")
	assert.Equal(t, 2*time.Second, g.wait(t0, 0.5))
	assert.Equal(t, 2500*time.Millisecond, g.wait(t0, 0.5), "the third is spread")

	h.Set("Retry-After", "4")
	g.observe(&http.Response{StatusCode: http.StatusTooManyRequests, Header: h}, t0, t0)
	assert.Equal(t, 4*time.Second, g.wait(t0, 0.5), "a new pause counts afresh")

	// A window others shared (it had 5 left at our first request, and
	// admitted us 2): their share is not known, every caller is spread.
	var shared gate
	for _, left := range []string{"4", "1"} {
		h.Set("X-RateLimit-Remaining", left)
		require.Nil(t, shared.send(t0, false))
		shared.answered(h, true, t0, t0)
	}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("Retry-After", "2")
	shared.observe(&http.Response{StatusCode: http.StatusTooManyRequests, Header: h}, t0, t0)
	assert.Equal(t, 2500*time.Millisecond, shared.wait(t0, 0.5))
}

func TestGatePaceSpeedsUpWhenQuiet(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var g gate
	for i := range 40 {
		g.admit(t0.Add(time.Duration(i) * 25 * time.Millisecond))
	}
	start := t0.Add(time.Second)
	g.throttled(start, start) // pacing at the 36 admitted in the last second
	cut := start.Add(paceCutHold)
	g.throttled(cut, cut) // none admitted since: cut to half
	r := g.pace.perSec
	require.InDelta(t, 18.0, r, 1e-9)

	// paceQuietSteps steps at paceSlow, then the growth doubles each step
	// up to paceFast.
	want := r
	growth := paceSlow
	for i := 1; i <= 10; i++ {
		slot(&g, cut.Add(time.Duration(i)*paceGrowEvery))
		want *= growth
		assert.InDelta(t, want, g.pace.perSec, 1e-9, "step %d", i)
		if i >= paceQuietSteps+1 {
			growth = min(1+2*(growth-1), paceFast)
		}
	}
	assert.Greater(t, g.pace.perSec, 3.5*r, "nearly fourfold in 2.5s, and half again each step on")

	// A throttle ends the quiet spell: growth starts slow again.
	again := cut.Add(10*paceGrowEvery + time.Millisecond)
	g.throttled(again, again)
	r = g.pace.perSec
	slot(&g, again.Add(paceGrowEvery))
	assert.InDelta(t, r*paceSlow, g.pace.perSec, 1e-9)
}

// A caller woken by an answer whose room another caller took waits again,
// but no more than maxAnswerWait in all (a breaker saw callers passed over
// for 9s while answers came every 33ms).
func TestAnswerWaitBoundedInAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.Header{}
		h.Set("X-RateLimit-Remaining", "1")
		h.Set("X-RateLimit-Reset", "100")
		g := &gate{}
		require.Nil(t, g.send(time.Now(), false))
		g.answered(h, true, time.Now(), time.Now()) // one left
		require.Nil(t, g.send(time.Now(), false))   // and one in flight

		rt := &roundTrip{t: &Transport{}, gate: g}
		start := time.Now()
		sentAt := make(chan time.Duration, 1)
		go func() {
			for {
				waited, err := rt.waitAnswer(context.Background())
				assert.NoError(t, err)
				if !waited {
					sentAt <- time.Since(start)
					return
				}
			}
		}()
		time.Sleep(600 * time.Millisecond)

		// Another caller takes the room the next answer makes.
		require.Nil(t, g.send(time.Now(), true))
		g.answered(h, true, time.Now(), time.Now())
		synctest.Wait()
		select {
		case <-sentAt:
			t.Fatal("sent with no room")
		default:
		}
		assert.Equal(t, time.Second, <-sentAt, "sent after a second in all")
	})
}
