package retry

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxHeaderDelay is where every delay read from a header saturates.
const maxHeaderDelay = time.Duration(math.MaxInt64)

// minEpochSeconds splits the two meanings of X-Ratelimit-Reset. GitHub sends
// the Unix time of the reset, other servers send the seconds until it, and
// the header does not say which. No sane delta is 31 years long, and no sane
// reset time lies before 2001, so a value this large or larger is a time.
const minEpochSeconds = 1_000_000_000

// ParseRetryAfter reports how long the server behind the response headers h
// asked the client to wait before its next request, measured from now. It
// never reads the clock itself.
//
// It reads these headers, the most precise first, and answers with the
// first one that holds a usable value:
//
//   - Retry-After-Ms, then X-Ms-Retry-After-Ms: milliseconds.
//   - X-Ratelimit-Reset-Requests and X-Ratelimit-Reset-Tokens: Go durations
//     such as "6m0s" or "20ms". Each counts only when the matching
//     X-Ratelimit-Remaining-… header is absent or 0; when both count, the
//     longer delay wins.
//   - Retry-After: seconds, or an HTTP-date in any form RFC 9110 allows.
//   - Ratelimit-Reset: seconds.
//   - X-Ratelimit-Reset: seconds, or Unix time in seconds when the value is
//     1,000,000,000 or more.
//
// The two reset headers count only when the matching Ratelimit-Remaining or
// X-Ratelimit-Remaining header is absent or 0: GitHub sends its reset time on
// every answer, and a 503 from a client with quota left says nothing about
// when the quota resets.
//
// Times (an HTTP-date, a Unix time) are measured from the answer's own Date
// header when it has a valid one, and from now otherwise, so that a client
// whose clock is off neither stretches nor shrinks the wait.
//
// A header that cannot be parsed is skipped. Numbers may carry a decimal
// fraction, which rounds up to the next nanosecond; signs, exponents and
// other spellings are rejected. A time at or before now gives a delay of 0
// with ok true, as does an explicit 0: callers apply their own floor. Delays
// too long for a [time.Duration] saturate at its largest value. ok is false,
// with a delay of 0, when no header gives an answer.
func ParseRetryAfter(h http.Header, now time.Time) (delay time.Duration, ok bool) {
	// A date the server wrote is measured against the server's own clock
	// when the answer says what that clock read, so client skew cancels out.
	if date, err := http.ParseTime(headerValue(h, "Date")); err == nil {
		now = date
	}

	if d, ok := decimalDelay(headerValue(h, "Retry-After-Ms"), time.Millisecond); ok {
		return d, true
	}
	if d, ok := decimalDelay(headerValue(h, "X-Ms-Retry-After-Ms"), time.Millisecond); ok {
		return d, true
	}
	if d, ok := spentLimitDelay(h); ok {
		return d, true
	}
	if d, ok := retryAfterDelay(headerValue(h, "Retry-After"), now); ok {
		return d, true
	}
	if limitSpent(headerValue(h, "Ratelimit-Remaining")) {
		if d, ok := decimalDelay(headerValue(h, "Ratelimit-Reset"), time.Second); ok {
			return d, true
		}
	}
	if limitSpent(headerValue(h, "X-Ratelimit-Remaining")) {
		return resetDelay(headerValue(h, "X-Ratelimit-Reset"), now)
	}
	return 0, false
}

// headerValue returns the first value of the header key without the
// surrounding white space that some servers pad it with.
func headerValue(h http.Header, key string) string {
	return strings.TrimSpace(h.Get(key))
}

// spentLimitDelay reads the OpenAI reset headers. A limit with requests or
// tokens left does not hold the client back, so its reset time is ignored.
func spentLimitDelay(h http.Header) (time.Duration, bool) {
	var longest time.Duration
	found := false
	for _, kind := range [...]string{"Requests", "Tokens"} {
		if !limitSpent(headerValue(h, "X-Ratelimit-Remaining-"+kind)) {
			continue
		}

		d, ok := goDurationDelay(headerValue(h, "X-Ratelimit-Reset-"+kind))
		if ok && (!found || d > longest) {
			longest, found = d, true
		}
	}
	return longest, found
}

// limitSpent reports whether a remaining-count header allows no more
// requests. An empty value says nothing, so it counts like a missing one.
func limitSpent(remaining string) bool {
	if remaining == "" {
		return true
	}
	n, ok := parseHeaderNumber(remaining)
	return ok && n.whole == 0 && strings.Trim(n.frac, "0") == ""
}

// retryAfterDelay reads a Retry-After value: delay-seconds or an HTTP-date.
func retryAfterDelay(v string, now time.Time) (time.Duration, bool) {
	if d, ok := decimalDelay(v, time.Second); ok {
		return d, true
	}

	// http.ParseTime knows the IMF-fixdate, RFC 850 and asctime forms.
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// resetDelay reads an X-Ratelimit-Reset value, telling delta seconds from a
// Unix time by size (see minEpochSeconds).
func resetDelay(v string, now time.Time) (time.Duration, bool) {
	n, ok := parseHeaderNumber(v)
	if !ok {
		return 0, false
	}
	if n.whole < minEpochSeconds {
		return n.scale(time.Second), true
	}

	// Work in whole seconds first: the reset time in nanoseconds since 1970
	// overflows an int64 in 2262, long before the seconds do.
	nowSecs := now.Unix()
	if n.whole > math.MaxInt64 || (nowSecs < 0 && int64(n.whole) > math.MaxInt64+nowSecs) {
		return maxHeaderDelay, true
	}
	left := int64(n.whole) - nowSecs
	if left < 0 {
		// The reset lies a second or more ago; neither its fraction nor
		// now's nanoseconds can make up a whole second.
		return 0, true
	}
	if left > int64(maxHeaderDelay/time.Second) {
		return maxHeaderDelay, true
	}

	frac := headerNumber{frac: n.frac}.scale(time.Second)
	d := saturatedSum(time.Duration(left)*time.Second, frac-time.Duration(now.Nanosecond()))
	return max(d, 0), true
}

// decimalDelay reads v as a non-negative decimal number of units.
func decimalDelay(v string, unit time.Duration) (time.Duration, bool) {
	n, ok := parseHeaderNumber(v)
	if !ok {
		return 0, false
	}
	return n.scale(unit), true
}

// goDurationDelay reads v in the format of time.Duration's String method,
// such as "1h2m3.5s". Unlike time.ParseDuration it saturates instead of
// failing on overflow, and it rejects signs and a bare number.
func goDurationDelay(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}

	var total time.Duration
	for v != "" {
		i := strings.IndexFunc(v, func(r rune) bool { return r != '.' && !isDigit(r) })
		if i < 0 {
			return 0, false // a number without a unit
		}
		n, ok := parseHeaderNumber(v[:i])
		if !ok {
			return 0, false
		}
		v = v[i:]

		j := strings.IndexFunc(v, func(r rune) bool { return r == '.' || isDigit(r) })
		if j < 0 {
			j = len(v)
		}
		unit, ok := durationUnit(v[:j])
		if !ok {
			return 0, false
		}
		v = v[j:]

		total = saturatedSum(total, n.scale(unit))
	}
	return total, true
}

// durationUnit returns the length of a unit name used by time.Duration.
func durationUnit(name string) (time.Duration, bool) {
	switch name {
	case "ns":
		return time.Nanosecond, true
	case "us", "\u00b5s", "\u03bcs": // micro sign and Greek small letter mu
		return time.Microsecond, true
	case "ms":
		return time.Millisecond, true
	case "s":
		return time.Second, true
	case "m":
		return time.Minute, true
	case "h":
		return time.Hour, true
	}
	return 0, false
}

// headerNumber is a non-negative decimal number as written in a header. It
// keeps the fraction as digits so that scaling it stays exact. float64 would
// not: "1.000000001" seconds times 1e9 lands just above 1,000,000,001 and
// would round up to one nanosecond too many.
type headerNumber struct {
	whole uint64 // the digits before the point, saturated at math.MaxUint64
	frac  string // the digits after the point, possibly none
}

// parseHeaderNumber accepts digits with an optional point followed by more
// digits. Anything else, including signs, exponents and white space, is no
// number.
func parseHeaderNumber(s string) (headerNumber, bool) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || (hasPoint && frac == "") {
		return headerNumber{}, false
	}
	if strings.IndexFunc(frac, func(r rune) bool { return !isDigit(r) }) >= 0 {
		return headerNumber{}, false
	}

	var n uint64
	for _, r := range whole {
		if !isDigit(r) {
			return headerNumber{}, false
		}
		d := uint64(r - '0')
		if n > (math.MaxUint64-d)/10 {
			n = math.MaxUint64 // stays saturated: it exceeds every bound below
			continue
		}
		n = n*10 + d
	}
	return headerNumber{whole: n, frac: frac}, true
}

// scale returns n units, rounding a fraction of a nanosecond up so that the
// client never waits less than it was asked to.
func (n headerNumber) scale(unit time.Duration) time.Duration {
	if n.whole > uint64(maxHeaderDelay/unit) {
		return maxHeaderDelay
	}

	// Divide by ten once per digit, from the last digit to the first,
	// carrying the quotient and remembering whether anything was dropped.
	// The carried value never exceeds unit, so nothing overflows.
	var part time.Duration
	dropped := false
	for i := len(n.frac) - 1; i >= 0; i-- {
		x := time.Duration(n.frac[i]-'0')*unit + part
		part = x / 10
		dropped = dropped || x%10 != 0
	}
	if dropped {
		part++
	}
	return saturatedSum(time.Duration(n.whole)*unit, part)
}

// saturatedSum returns a+b, or maxHeaderDelay if that overflows. a must not
// be negative, so the sum can only overflow upwards.
func saturatedSum(a, b time.Duration) time.Duration {
	if s := a + b; b <= 0 || s > 0 {
		return s
	}
	return maxHeaderDelay
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }
