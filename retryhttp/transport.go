// Package retryhttp is an http.RoundTripper that retries through a
// [retry.Policy], safely: request bodies are replayed byte for byte,
// thrown-away answers are drained so connections are reused, POST and PATCH
// are sent again only when that cannot do a thing twice, and every caller of
// a host holds back together while the host asks for a pause.
//
//	client := &http.Client{Transport: retryhttp.NewTransport(nil, retry.Default())}
//
// The rules, in the order they apply to one request:
//
//   - A request that may be replayed: GET, HEAD, OPTIONS, TRACE, PUT and
//     DELETE; POST, PATCH and others when they carry an Idempotency-Key (or
//     X-Idempotency-Key) header or the transport was made WithNonIdempotent.
//     Any other request is retried only after an answer that proves the
//     server did not act on it: a rate-limit answer (429, or a 403 that
//     retry.IsRateLimited), or a failure to connect.
//   - Errors and statuses are classified by the policy, as retry.Do does;
//     a status the policy retries becomes a *retry.StatusError for it.
//   - When attempts run out on a status, the caller gets the last answer,
//     body intact, as http.Client would have; Attempts tells how many were
//     made. Other failures return the *retry.Error.
package retryhttp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/deb4e658/retry"
)

// DefaultMaxBufferedBody is how much of a request body without GetBody the
// transport keeps in memory to send it again.
const DefaultMaxBufferedBody = 1 << 20

// ErrBodyNotReplayable is matched by the error of a request that needed a
// retry but whose body could not be sent again.
var ErrBodyNotReplayable = errors.New("retryhttp: request body cannot be replayed")

// Transport is an http.RoundTripper that retries requests through a
// retry.Policy. It is safe for concurrent use; share one per service, so
// its callers share the cool-down. Make one with NewTransport.
type Transport struct {
	base           http.RoundTripper
	policy         retry.Policy // with AttemptTimeout off: attempts are timed here
	attemptTimeout time.Duration
	maxServerDelay time.Duration
	maxBody        int64
	nonIdempotent  bool
	key            func(*http.Request) string
	coolDowns      coolDowns
	shared         SharedPauses // nil unless WithSharedPauses
	err            error        // a bad setting, returned by every RoundTrip
}

// Option changes a Transport made by NewTransport.
type Option func(*Transport)

// WithMaxBufferedBody sets how many bytes of a request body without GetBody
// are kept to replay it (DefaultMaxBufferedBody unless set). A longer body
// is sent once and not retried. A negative n is reported by RoundTrip.
func WithMaxBufferedBody(n int64) Option {
	return func(t *Transport) {
		if n < 0 && t.err == nil {
			t.err = fmt.Errorf("retryhttp: max buffered body %d must not be negative", n)
		}
		t.maxBody = n
	}
}

// WithNonIdempotent makes the transport retry every method, POST and PATCH
// included, as it does GET. Use it only when the server makes such requests
// safe to repeat.
func WithNonIdempotent() Option {
	return func(t *Transport) { t.nonIdempotent = true }
}

// WithCoolDownKey sets how requests are grouped for the shared cool-down
// (by default, by req.URL.Host): all requests with the same key hold back
// together when one of them is asked to.
func WithCoolDownKey(key func(*http.Request) string) Option {
	return func(t *Transport) {
		if key != nil {
			t.key = key
		}
	}
}

// WithoutLearnedPacing turns off the pacing the transport learns from the
// throttles of a host that does not state its quota (see the README). Use
// it for a host that turns away a share of requests whatever their rate,
// which would drive the learned pace down to a few a second. Pauses a host
// asks for, and the pacing of hosts that state their quota, still apply.
func WithoutLearnedPacing() Option {
	return func(t *Transport) { t.coolDowns.noPacing = true }
}

// NewTransport returns a transport that sends requests through base (nil
// means http.DefaultTransport) and retries them as p says (nil means the
// default policy). It copies p, so later changes to p do not reach it. A bad
// policy or option is not reported here but by every RoundTrip, so the
// transport fits on one line.
func NewTransport(base http.RoundTripper, p *retry.Policy, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, maxBody: DefaultMaxBufferedBody,
		key: func(r *http.Request) string { return r.URL.Host }}
	if p != nil {
		t.policy = *p
	}

	t.err = t.policy.Validate()
	switch d := t.policy.AttemptTimeout; {
	case d == 0:
		t.attemptTimeout = retry.DefaultAttemptTimeout
	case d > 0:
		t.attemptTimeout = d
	}
	t.policy.AttemptTimeout = retry.Unlimited
	switch d := t.policy.MaxServerDelay; {
	case d == 0:
		t.maxServerDelay = retry.DefaultMaxServerDelay
	case d > 0:
		t.maxServerDelay = d
	default:
		t.maxServerDelay = math.MaxInt64
	}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// RoundTrip sends req, retrying as the policy says. See the package doc for
// what is retried and what is returned.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		closeRequestBody(req)
		return nil, t.err
	}
	body, err := newRequestBody(req, t.maxBody)
	if err != nil {
		return nil, err
	}

	key := t.key(req)
	gate := t.coolDowns.gate(key, t.clock().Now())
	rt := &roundTrip{t: t, req: req, body: body, key: key, gate: gate,
		replaySafe: safeToReplay(req, t.nonIdempotent), info: &info{}}
	p := t.policy
	p.Classifier = rt.classify
	p.Limiter = gateLimiter{rt: rt}
	ctx := context.WithValue(req.Context(), infoKey{}, rt.info)
	resp, err := retry.DoValue(ctx, &p, rt.attempt)
	return rt.finish(ctx, resp, err)
}

func (t *Transport) clock() retry.Clock {
	if t.policy.Clock != nil {
		return t.policy.Clock
	}
	return retry.RealClock{}
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// infoKey is the context key of a request's info, read by Attempts.
type infoKey struct{}

type info struct {
	attempts int
	gaveUp   *retry.Error // why the transport stopped, when it returned a status
	unsafe   string       // why the answer's status was not retried, if unsafe
}

func infoOf(resp *http.Response) *info {
	if resp == nil || resp.Request == nil {
		return nil
	}
	in, _ := resp.Request.Context().Value(infoKey{}).(*info)
	return in
}

// Attempts returns how many attempts the transport made for the request
// that resp answers, or 0 when resp did not come from a Transport.
func Attempts(resp *http.Response) int {
	if in := infoOf(resp); in != nil {
		return in.attempts
	}
	return 0
}

// ResponseError returns the error an enclosing retry loop should see for
// resp: nil below status 400; the *retry.Error of the transport when it
// gave up on this answer (attempts spent, time limit, retry budget, ...), so
// that the enclosing loop knows the request was already retried and does
// not retry it again (see retry.Policy.RetryInnerGiveUps); an error matching
// retry.ErrUnsafeRetry when the request was not idempotent and the status
// would otherwise be retried, so that no enclosing loop sends it twice;
// else a *retry.StatusError. It does not read or close the body.
//
//	resp, err := client.Do(req)
//	if err != nil {
//		return err
//	}
//	defer resp.Body.Close()
//	if err := retryhttp.ResponseError(resp); err != nil {
//		return err
//	}
func ResponseError(resp *http.Response) error {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	in := infoOf(resp)
	switch {
	case in != nil && in.gaveUp != nil:
		return in.gaveUp
	case in != nil && in.unsafe != "":
		return fmt.Errorf("%s: %w: %w", in.unsafe, retry.ErrUnsafeRetry,
			retry.NewStatusError(resp))
	}
	return retry.NewStatusError(resp)
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it has such a method; http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
