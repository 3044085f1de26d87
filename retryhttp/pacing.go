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
//   - Until the first cut, the delays the host asks for set that rate
//     when they allow more: a token bucket asks for the time to its next
//     token, at most the time a token takes, so one request per the
//     longest delay asked for is at or above the host's rate, and comes
//     down to it as more delays come in. Pacing then starts near the
//     host's rate, and grows slowly, instead of climbing to it from the
//     burst the host admitted; a throttle that shows the host admitting
//     less since pacing began sets it to that. A host that asks for
//     longer delays (the reset of a window) allows less than it admitted:
//     that changes nothing.
//   - While no throttle comes, the rate grows every paceGrowEvery: fast
//     (paceFast) until the first cut, unless the delays set it; slowly
//     (paceSlow, less after a long pause) after it, so that the rate
//     stays current without going far past the host's. After
//     paceQuietSteps slow steps with no throttle the growth doubles each
//     step, up to paceFast (scaled down as paceSlow is): delays that
//     said less than the host admits, or a host whose rate went up
//     again, do not hold the pace low for long.
//   - A throttle cuts the rate to paceCut of itself (paceCutShort when
//     the host asked for no pause or a short one, which costs little), or
//     to the rate the host admitted over the last second (or since pacing
//     began, if later) if that is less, but not below half. Throttles to
//     requests sent less than paceCutHold after a cut are the same
//     overload seen late (turns taken before it, a bucket still empty) and
//     cut nothing.
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
	paceCutShort  = 0.9
	paceCutHold   = 2 * paceHorizon
	paceHold      = 10 * time.Second
	minPace       = 1.0 // calls a second, the least pacing goes down to

	// paceQuietSteps is how many steps the rate grows by step after a
	// cut, with no throttle, before its growth speeds up.
	paceQuietSteps = 4

	// minAdmitsToPace is the fewest successes over the last second from
	// which the first throttle learns a rate.
	minAdmitsToPace = 2
)

// pacer is the pacing state of a gate; its methods run under the gate's
// lock.
type pacer struct {
	admits  admitCounter
	perSec  float64       // the paced rate; 0 until the first throttle
	cut     bool          // the rate was cut since pacing began: grow slowly
	base    float64       // the rate pacing began at: what the host admitted
	longest time.Duration // the longest delay asked for since, until the cut
	step    float64       // the growth per paceGrowEvery when slow
	stepCap float64       // the most step-1 grows to (see slowStep)
	quiet   int           // steps grown by step since the last cut
	began   time.Time     // when pacing began
	cutAt   time.Time     // when the rate was last set by a throttle
	grewAt  time.Time     // when the rate last grew (or may start to)
	pacedTo time.Time     // pacing ends here unless a throttle extends it
	next    time.Time     // the next free slot
}

// paced reports whether requests at t are paced.
func (p *pacer) paced(t time.Time) bool {
	return p.perSec > 0 && t.Before(p.pacedTo)
}

// throttled learns from a throttle at now to a request sent at sent; the
// host asked for no request before resume (now, when it did not say).
func (p *pacer) throttled(sent, now, resume time.Time) {
	if !p.cutAt.IsZero() && sent.Before(p.cutAt.Add(paceCutHold)) {
		p.asked(now, resume.Sub(now))
		return
	}
	pause := resume.Sub(now)
	if p.paced(now) {
		cut := p.perSec * paceCut
		if pause <= paceGrowEvery {
			cut = p.perSec * paceCutShort
		}
		if admitted, ok := p.admits.perSecond(p.began, now); ok {
			cut = min(cut, admitted)
		}
		// Never below half at once: over a second that began below the
		// host's rate, the host admitted less than it could.
		p.perSec = max(cut, p.perSec/2, minPace)
		p.cut = true
	} else {
		admitted := float64(p.admits.lastSecond(now))
		if admitted < minAdmitsToPace {
			// Nothing to learn a rate from (a client that has just begun,
			// or has been paused): the pause alone, as the host asked.
			return
		}
		p.perSec = admitted
		p.cut = false
		p.base, p.longest, p.began = admitted, 0, now
	}
	p.step, p.stepCap = slowStep(pause)
	p.quiet = 0
	p.cutAt, p.grewAt = now, resume
	p.pacedTo = resume.Add(paceHold)
	if resume.After(p.next) {
		p.next = resume
	}
	p.asked(now, pause)
}

// asked learns from a delay d asked for before the first cut: the rate is
// one request per the longest such delay, if that is more than the host
// admitted when pacing began. Each longer delay lowers it, towards the
// host's, and so does a throttle that comes while the host admits less.
func (p *pacer) asked(now time.Time, d time.Duration) {
	if p.cut || !p.paced(now) || d <= 0 {
		return
	}
	p.longest = max(p.longest, d)
	rate := p.bound()
	if rate <= p.base {
		return // a window's reset, say: the ramp from base goes on
	}
	if admitted, ok := p.admits.perSecond(p.began, now); ok {
		rate = min(rate, admitted)
	}
	p.perSec = max(p.base, rate)
}

// bound is the rate the longest delay asked for allows: 0 when none was.
func (p *pacer) bound() float64 {
	if p.longest <= 0 {
		return 0
	}
	return float64(time.Second) / float64(p.longest)
}

// slow reports whether the rate grows by step rather than paceFast: after
// a cut, or when the host's delays set it, since it is then near the
// host's rate already (but see grow: quiet steps speed it up).
func (p *pacer) slow() bool {
	return p.cut || p.bound() > p.base
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
	if !p.slow() && now.Sub(p.grewAt) >= paceGrowEvery {
		// The answers to requests sent before the first throttle may come
		// after it: what they admitted is a floor of the host's rate.
		p.perSec = max(p.perSec, float64(p.admits.lastSecond(now)))
	}
	for i := 0; i < 40 && now.Sub(p.grewAt) >= paceGrowEvery; i++ {
		if p.slow() {
			p.perSec *= p.step
			if p.quiet++; p.quiet > paceQuietSteps {
				// Long past the last cut with no throttle, each step
				// doubles the growth, up to the most a throttle's pause
				// allows: a host whose rate rose, or whose delays said
				// less than it admits, is caught up with in seconds.
				p.step = 1 + min(2*(p.step-1), p.stepCap)
			}
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
// paused the host for pause, and the most it may double to: paceSlow and
// paceFast, less in proportion when the pause is longer than a step, so
// that a host whose every throttle costs a long pause is throttled less
// often.
func slowStep(pause time.Duration) (step, most float64) {
	if pause <= paceGrowEvery {
		return paceSlow, paceFast - 1
	}
	scale := float64(paceGrowEvery) / float64(pause)
	return 1 + (paceSlow-1)*scale, (paceFast - 1) * scale
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

// perSecond returns the rate of successes over the last second, or since
// start if that is later, counted in the whole tenths after start's (the
// tenth a throttle began pacing in holds the burst before it). ok is false
// until two tenths have gone by: too few to count a rate from.
func (a *admitCounter) perSecond(start, now time.Time) (perSec float64, ok bool) {
	i := now.UnixMilli() / 100
	from := max(i-9, start.UnixMilli()/100+1)
	if i-from < 1 {
		return 0, false
	}
	n := 0
	for _, b := range a.tenths {
		if b.index >= from && b.index <= i {
			n += b.n
		}
	}
	return float64(n) / now.Sub(time.UnixMilli(from*100)).Seconds(), true
}
