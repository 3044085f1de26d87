package otelretry

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"syscall"

	"github.com/deb4e658/retry"
)

// ErrorType returns a short name for the kind of err, of low cardinality,
// for the error.type attribute. It never returns the error's text, which may
// hold secrets and has no bound on its variety. The first rule that applies
// wins:
//
//   - a *retry.StatusError anywhere in err: its status code, "429";
//   - a *retry.Error of an inner loop: ErrorType of its Last error;
//   - retry.ErrAttemptTimeout, context.DeadlineExceeded, context.Canceled:
//     "retry.ErrAttemptTimeout", "context.DeadlineExceeded",
//     "context.Canceled";
//   - connection reset, refused or aborted, broken pipe: "ECONNRESET",
//     "ECONNREFUSED", "ECONNABORTED", "EPIPE";
//   - io.ErrUnexpectedEOF, io.EOF: "io.ErrUnexpectedEOF", "io.EOF";
//   - a net.Error that reports a timeout: "timeout";
//   - otherwise the Go type of the innermost error reached by Unwrap, as
//     "%T" prints it: "*net.DNSError", "*errors.errorString".
//
// It returns "" for a nil err.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	var status *retry.StatusError
	if errors.As(err, &status) && status != nil {
		return strconv.Itoa(status.StatusCode)
	}

	// The inner loop's own reason is not the kind of error; its Cause would
	// hide the last error behind "context canceled".
	var inner *retry.Error
	if errors.As(err, &inner) && inner != nil && inner.Last != nil {
		return ErrorType(inner.Last)
	}

	if name := wellKnown(err); name != "" {
		return name
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timeout"
	}
	return reflect.TypeOf(innermost(err)).String()
}

// wellKnown names the sentinel errors that a retry loop meets most, which
// would otherwise all be reported by their type, "*errors.errorString" or
// "syscall.Errno".
func wellKnown(err error) string {
	for _, w := range wellKnownErrors {
		if errors.Is(err, w.err) {
			return w.name
		}
	}
	return ""
}

var wellKnownErrors = []struct {
	err  error
	name string
}{
	{retry.ErrAttemptTimeout, "retry.ErrAttemptTimeout"}, // before the deadline it may wrap
	{context.DeadlineExceeded, "context.DeadlineExceeded"},
	{context.Canceled, "context.Canceled"},
	{syscall.ECONNRESET, "ECONNRESET"},
	{syscall.ECONNREFUSED, "ECONNREFUSED"},
	{syscall.ECONNABORTED, "ECONNABORTED"},
	{syscall.EPIPE, "EPIPE"},
	{io.ErrUnexpectedEOF, "io.ErrUnexpectedEOF"},
	{io.EOF, "io.EOF"},
}

// innermost follows err's single-error Unwrap chain to its end. An error
// that joins several stops the walk: no one of them speaks for the rest.
func innermost(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}
