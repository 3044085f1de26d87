package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// Class is a classifier's verdict on an error.
type Class int8

const (
	// Unknown means the classifier has no opinion; the next one decides.
	// An error no classifier knows is final.
	Unknown Class = iota

	// Transient means the error may go away: try again.
	Transient

	// Final means another attempt would fail the same way: stop.
	Final
)

// String returns "unknown", "transient" or "final".
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Final:
		return "final"
	}
	return "unknown"
}

// Classifier decides whether an error is worth another attempt. It must be
// safe for concurrent use. A Policy asks its own Classifier first and
// DefaultClassifier after it when the answer is Unknown.
type Classifier func(err error) Class

// Chain returns a classifier that asks each of cs in turn and returns the
// first answer that is not Unknown. Nil entries are skipped.
func Chain(cs ...Classifier) Classifier {
	return func(err error) Class {
		for _, c := range cs {
			if c == nil {
				continue
			}
			if class := c(err); class != Unknown {
				return class
			}
		}
		return Unknown
	}
}

// DefaultClassifier is the classification every policy falls back on:
//
//   - a *StatusError with status 408, 429, 500, 502, 503 or 504 is
//     transient, and so is a 403 that IsRateLimited; any other status is
//     final;
//   - an error that matches ErrAttemptTimeout (an attempt ran out of its
//     own time) is transient;
//   - context.Canceled and context.DeadlineExceeded are final, since they
//     come from the caller's own context;
//   - TLS certificate errors and DNS "no such host" are final;
//   - network timeouts (net.Error with Timeout), connection reset, refused
//     and aborted, broken pipe, io.ErrUnexpectedEOF, and an io.EOF inside a
//     *url.Error (the server closed the connection without an answer) are
//     transient;
//   - anything else is Unknown, which a policy treats as final.
func DefaultClassifier(err error) Class {
	var status *StatusError
	if errors.As(err, &status) && status != nil {
		return classifyStatus(status)
	}

	// An attempt's own timeout is transient, as the executor treats it; an
	// enclosing loop sees it through the *Error of an inner one.
	if errors.Is(err, ErrAttemptTimeout) {
		return Transient
	}

	// The caller's own context: checked before net.Error, because
	// context.DeadlineExceeded reports itself as a timeout.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Final
	}

	if isCertificateError(err) {
		return Final
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return Final
		}
		return Transient
	}

	if isConnectionError(err) {
		return Transient
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Transient
	}
	return Unknown
}

func classifyStatus(s *StatusError) Class {
	switch s.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return Transient
	case http.StatusForbidden:
		if IsRateLimited(s.StatusCode, s.Header) {
			return Transient
		}
	}
	return Final
}

// IsRateLimited reports whether an answer with this status and these
// headers says the client is being rate limited: a 429, or a 403 (as GitHub
// sends for its primary and secondary limits) whose headers say no requests
// remain or ask for a Retry-After. The server did not act on such a request,
// so it is safe to send again whatever its method.
func IsRateLimited(code int, h http.Header) bool {
	switch code {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		return h.Get("Retry-After") != "" ||
			strings.TrimSpace(h.Get("X-Ratelimit-Remaining")) == "0"
	}
	return false
}

func isCertificateError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) ||
		errors.As(err, &invalid) || errors.As(err, &hostname)
}

func isConnectionError(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}

	// net/http reports a connection closed before any answer as a bare
	// io.EOF inside *url.Error; elsewhere io.EOF is an ordinary end.
	var urlErr *url.Error
	return errors.As(err, &urlErr) && errors.Is(urlErr.Err, io.EOF)
}

// StatusError is an HTTP answer that a function passed to Do treats as a
// failure. It carries the status code and the response headers, so the
// default classifier can judge the status and the executor can honour
// Retry-After and the other headers ParseRetryAfter knows.
type StatusError struct {
	StatusCode int
	Header     http.Header
}

// NewStatusError returns a *StatusError for resp, or nil when resp is nil
// or its status is below 400. It does not read or close the body.
func NewStatusError(resp *http.Response) error {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	return &StatusError{StatusCode: resp.StatusCode, Header: resp.Header}
}

// Error returns "http status 429 Too Many Requests" and the like.
func (e *StatusError) Error() string {
	if e == nil {
		return "http status unknown (nil *StatusError)"
	}
	text := http.StatusText(e.StatusCode)
	if text == "" {
		return "http status " + strconv.Itoa(e.StatusCode)
	}
	return "http status " + strconv.Itoa(e.StatusCode) + " " + text
}
