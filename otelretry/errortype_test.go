package otelretry_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/otelretry"
)

// timeoutError is a net.Error that reports a timeout.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestErrorType(t *testing.T) {
	status := &retry.StatusError{StatusCode: 503}
	reset := &url.Error{Op: "Get", URL: "https://api.example.com/?token=s3cr3t",
		Err: &net.OpError{Op: "read", Net: "tcp",
			Err: os.NewSyscallError("read", syscall.ECONNRESET)}}
	tests := []struct {
		name    string
		giveErr error
		want    string
	}{
		{"nil", nil, ""},
		{"status", status, "503"},
		{"status_wrapped", fmt.Errorf("calling: %w", retry.Permanent(status)), "503"},
		{"inner_give_up", &retry.Error{Reason: retry.ErrCanceled, Cause: context.Canceled,
			Last: reset}, "ECONNRESET"},
		{"inner_give_up_status", fmt.Errorf("tool: %w",
			&retry.Error{Reason: retry.ErrExhausted, Last: status}), "503"},
		{"inner_give_up_without_attempt", &retry.Error{Reason: retry.ErrCanceled,
			Cause: context.Canceled}, "context.Canceled"},
		{"attempt_timeout", fmt.Errorf("%w: %w", retry.ErrAttemptTimeout,
			context.DeadlineExceeded), "retry.ErrAttemptTimeout"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded),
			"context.DeadlineExceeded"},
		{"canceled", context.Canceled, "context.Canceled"},
		{"reset", reset, "ECONNRESET"},
		{"refused", syscall.ECONNREFUSED, "ECONNREFUSED"},
		{"aborted", syscall.ECONNABORTED, "ECONNABORTED"},
		{"broken_pipe", syscall.EPIPE, "EPIPE"},
		{"other_errno", syscall.ENOSPC, "syscall.Errno"},
		{"unexpected_eof", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "io.ErrUnexpectedEOF"},
		{"eof", io.EOF, "io.EOF"},
		{"net_timeout", &net.OpError{Op: "dial", Err: timeoutError{}}, "timeout"},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true},
			"*net.DNSError"},
		{"certificate", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}),
			"x509.UnknownAuthorityError"},
		{"plain", errors.New("bad request: user 42"), "*errors.errorString"},
		{"joined", errors.Join(errors.New("a"), errors.New("b")), "*errors.joinError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, otelretry.ErrorType(tt.giveErr))
		})
	}
}
