package retryhttp

import (
	"math"
	"time"
)

// Pacing is for hosts that turn requests away without stating their quota
// (no remaining count): a token bucket that answers 429 with no header, or
// with a Retry-After that says only when to come back. Each such answer
// costs the host's callers at least the pause it asks for, so the gate
// learns a rate that keeps requests under the host's limit, and spaces
// every request (first attempts and retries alike) by it, as TCP does its
// window:
//
//   - The first throttle starts pacing at the rate the host was seen to
//     admit over the last second (counting, until the first cut, answers
//     that come after it).
//   - While no throttle comes, the rate grows every paceGrowEvery: fast
//     (paceFast) until the first cut, slowly (paceSlow, less after a long
//     pause) after it, so that the rate stays current without going far
//     past the host's.
//   - A throttle cuts the rate to paceCut of itself, or to what the host
//     admitted over the last second if that is less, but not below half. Throttles to requests
//     sent less than paceCutHold after a cut are the same overload seen
//     late (turns taken before it, a bucket still empty) and cut nothing.
//   - Pacing ends paceHold after the last throttle; a slot costs nothing
//     when the callers ask for fewer.
//
// BUG: a host that turns away a share of requests whatever their rate
// (every tenth, say, or a limit on one path only) drives the pace down to
// a few a second: each throttle cuts it, as random loss slows TCP. Such a
// host should be called with WithoutLearnedPacing.
const (
	paceGrowEvery = 250 * time.Millisecond
	paceFast      = 1.5
	paceSlow      = 1.03
	paceCut       = 0.8
	paceCutHold   = 2 * paceHorizon
	paceHold      = 10 * time.Second
	minPace       = 1.0 // calls a second, the least pacing goes down to

	// minAdmitsToPace is the fewest successes over the last second from
	// which the first throttle learns a rate.
	minAdmitsToPace = 2
)

// pacer is the pacing state of a gate; its methods run under the gate's
// lock.
type pacer struct {
	admits  admitCounter
	perSec  float64   // the paced rate; 0 until the first throttle
	cut     bool      // the rate was cut since pacing began: grow slowly
	step    float64   // the slow growth per paceGrowEvery (see slowStep)
	cutAt   time.Time // when the rate was last set by a throttle
	grewAt  time.Time // when the rate last grew (or may start to)
	pacedTo time.Time // pacing ends here unless a throttle extends it
	next    time.Time // the next free slot
}

// paced reports whether requests at t are paced.
func (p *pacer) paced(t time.Time) bool {
	return p.perSec > 0 && t.Before(p.pacedTo)
}

// throttled learns from a throttle at now to a request sent at sent; the
// host asked for no request before resume (now, when it did not say).
func (p *pacer) throttled(sent, now, resume time.Time) {
	if !p.cutAt.IsZero() && sent.Before(p.cutAt.Add(paceCutHold)) {
		return
	}
	admitted := float64(p.admits.lastSecond(now))
	if p.paced(now) {
		// Never below half at once: over a second that began below the
		// host's rate, the host admitted less than it could.
		p.perSec = max(min(p.perSec*paceCut, admitted), p.perSec/2, minPace)
		p.cut = true
	} else {
		if admitted < minAdmitsToPace {
			// Nothing to learn a rate from (a client that has just begun,
			// or has been paused): the pause alone, as the host asked.
			return
		}
		p.perSec = admitted
		p.cut = false
	}
	p.step = slowStep(resume.Sub(now))
	p.cutAt, p.grewAt = now, resume
	p.pacedTo = resume.Add(paceHold)
	if resume.After(p.next) {
		p.next = resume
	}
}

// slot reserves the next turn of a caller arriving at now and returns how
// long it waits for it: 0 when the host is not paced. A turn more than
// paceHorizon away is not reserved: the caller waits paceHorizon and asks
// again (reserved is false), so that turns handed out at a low rate do
// not hold callers back after the rate has grown.
func (p *pacer) slot(now time.Time) (wait time.Duration, reserved bool) {
	if !p.paced(now) {
		return 0, true
	}
	p.grow(now)
	at := now
	if p.next.After(at) {
		at = p.next
	}
	if at.Sub(now) > paceHorizon {
		return paceHorizon, false
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.perSec))
	return at.Sub(now), true
}

// paceHorizon is how far ahead a paced caller may hold a turn.
const paceHorizon = paceGrowEvery

// grow raises the rate for each paceGrowEvery gone by without a throttle.
func (p *pacer) grow(now time.Time) {
	if !p.cut && now.Sub(p.grewAt) >= paceGrowEvery {
		// The answers to requests sent before the first throttle may come
		// after it: what they admitted is a floor of the host's rate.
		p.perSec = max(p.perSec, float64(p.admits.lastSecond(now)))
	}
	for i := 0; i < 40 && now.Sub(p.grewAt) >= paceGrowEvery; i++ {
		if p.cut {
			p.perSec *= p.step
		} else {
			p.perSec *= paceFast
		}
		p.grewAt = p.grewAt.Add(paceGrowEvery)
	}
	if now.Sub(p.grewAt) >= paceGrowEvery {
		p.grewAt = now // a long quiet spell: the rate has grown enough
	}
	p.perSec = min(p.perSec, math.MaxInt32)
}

// slowStep is the growth per paceGrowEvery after a cut whose throttle
// paused the host for pause: paceSlow, less in proportion when the pause
// is longer than a step, so that a host whose every throttle costs a long
// pause is throttled less often.
func slowStep(pause time.Duration) float64 {
	if pause <= paceGrowEvery {
		return paceSlow
	}
	return 1 + (paceSlow-1)*float64(paceGrowEvery)/float64(pause)
}

// admitCounter counts successes over the last second, in tenths of a
// second, so that the first throttle knows what the host was admitting.
type admitCounter struct {
	tenths [10]struct {
		index int64 // t.UnixMilli()/100 of the counts
		n     int
	}
}

func (a *admitCounter) add(t time.Time) {
	i := t.UnixMilli() / 100
	b := &a.tenths[uint64(i)%10]
	if b.index != i {
		b.index, b.n = i, 0
	}
	b.n++
}

func (a *admitCounter) lastSecond(t time.Time) int {
	i := t.UnixMilli() / 100
	n := 0
	for _, b := range a.tenths {
		if b.index > i-10 && b.index <= i {
			n += b.n
		}
	}
	return n
}
