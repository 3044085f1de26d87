package grpcretry

import (
	"errors"
	"time"

	"github.com/deb4e658/retry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// timeoutError is the error of an attempt that ran out of the policy's
// AttemptTimeout. gRPC reports such an attempt as DeadlineExceeded on the
// real clock but as Canceled on a fake one, whose timeout is a
// cancellation; this error is DeadlineExceeded either way, matches
// retry.ErrAttemptTimeout, and keeps gRPC's own error reachable.
type timeoutError struct {
	err error // gRPC's; nil when the stream came up as its time ran out
	d   time.Duration
}

func (e *timeoutError) Error() string {
	return e.GRPCStatus().Err().Error()
}

func (e *timeoutError) GRPCStatus() *status.Status {
	return status.Newf(codes.DeadlineExceeded, "attempt timed out after %v", e.d)
}

func (e *timeoutError) Unwrap() []error {
	if e.err == nil {
		return []error{retry.ErrAttemptTimeout}
	}
	return []error{retry.ErrAttemptTimeout, e.err}
}

// callError is what a call returns when its policy gave up: the
// *retry.Error, which errors.As finds, with the gRPC status that generated
// clients and status.Code expect.
type callError struct {
	err *retry.Error
}

// callErr returns err as the interceptors return it: a *retry.Error with a
// gRPC status, any other error as it is.
func callErr(err error) error {
	var re *retry.Error
	if errors.As(err, &re) {
		return &callError{err: re}
	}
	return err
}

func (e *callError) Error() string { return e.err.Error() }

func (e *callError) Unwrap() error { return e.err }

// GRPCStatus is the status of the last attempt, with the whole story as
// its message and its details kept (a RetryInfo, say), except that a call
// that ended with the caller's context ends as gRPC would end it: Canceled,
// or DeadlineExceeded.
func (e *callError) GRPCStatus() *status.Status {
	p := status.New(codes.Unknown, "").Proto()
	if e.err.Last != nil {
		if s, ok := status.FromError(e.err.Last); ok && s != nil {
			p = s.Proto()
		}
	}
	switch e.err.Reason {
	case retry.ErrCanceled:
		p.Code = int32(codes.Canceled)
	case retry.ErrDeadline:
		p.Code = int32(codes.DeadlineExceeded)
	}
	p.Message = e.err.Error()
	return status.FromProto(p)
}
