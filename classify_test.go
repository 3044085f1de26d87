package retry_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func opError(errno syscall.Errno) error {
	return &net.OpError{Op: "read", Net: "tcp",
		Err: &os.SyscallError{Syscall: "read", Err: errno}}
}

func TestDefaultClassifier(t *testing.T) {
	tests := []struct {
		name    string
		giveErr error
		want    retry.Class
	}{
		{"status_408", &retry.StatusError{StatusCode: 408}, retry.Transient},
		{"status_429", &retry.StatusError{StatusCode: 429}, retry.Transient},
		{"status_500", &retry.StatusError{StatusCode: 500}, retry.Transient},
		{"status_502", &retry.StatusError{StatusCode: 502}, retry.Transient},
		{"status_503", &retry.StatusError{StatusCode: 503}, retry.Transient},
		{"status_504", &retry.StatusError{StatusCode: 504}, retry.Transient},
		{"status_501", &retry.StatusError{StatusCode: 501}, retry.Final},
		{"status_505", &retry.StatusError{StatusCode: 505}, retry.Final},
		{"status_400", &retry.StatusError{StatusCode: 400}, retry.Final},
		{"status_403", &retry.StatusError{StatusCode: 403}, retry.Final},
		{"status_403_quota_spent", &retry.StatusError{StatusCode: 403,
			Header: http.Header{"X-Ratelimit-Remaining": {"0"}}}, retry.Transient},
		{"status_403_quota_left", &retry.StatusError{StatusCode: 403,
			Header: http.Header{"X-Ratelimit-Remaining": {"12"}}}, retry.Final},
		{"status_403_retry_after", &retry.StatusError{StatusCode: 403,
			Header: http.Header{"Retry-After": {"60"}}}, retry.Transient},
		{"status_404", &retry.StatusError{StatusCode: 404}, retry.Final},
		{"status_wrapped", fmt.Errorf("get: %w", &retry.StatusError{StatusCode: 503}),
			retry.Transient},
		{"net_timeout", &net.OpError{Op: "dial", Err: timeoutError{}}, retry.Transient},
		{"conn_reset", opError(syscall.ECONNRESET), retry.Transient},
		{"conn_refused", opError(syscall.ECONNREFUSED), retry.Transient},
		{"conn_aborted", opError(syscall.ECONNABORTED), retry.Transient},
		{"broken_pipe", opError(syscall.EPIPE), retry.Transient},
		{"unexpected_eof", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), retry.Transient},
		{"url_eof", &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, retry.Transient},
		{"plain_eof", io.EOF, retry.Unknown},
		{"dns_not_found", &net.DNSError{Err: "no such host", Name: "x.invalid",
			IsNotFound: true}, retry.Final},
		{"dns_timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true},
			retry.Transient},
		{"tls_unknown_authority", &url.Error{Op: "Get", URL: "https://x",
			Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}},
			retry.Final},
		{"x509_hostname", x509.HostnameError{Host: "x"}, retry.Final},
		{"x509_invalid", x509.CertificateInvalidError{Reason: x509.Expired}, retry.Final},
		{"attempt_timeout", &url.Error{Op: "Get", URL: "http://x", Err: retry.ErrAttemptTimeout},
			retry.Transient},
		{"canceled", context.Canceled, retry.Final},
		{"deadline", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded},
			retry.Final},
		{"plain", errors.New("boom"), retry.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retry.DefaultClassifier(tt.giveErr))
		})
	}
}

func TestChain(t *testing.T) {
	notFound := func(err error) retry.Class {
		var s *retry.StatusError
		if errors.As(err, &s) && s.StatusCode == 404 {
			return retry.Transient // eventually consistent store
		}
		return retry.Unknown
	}
	c := retry.Chain(nil, notFound, retry.DefaultClassifier)
	assert.Equal(t, retry.Transient, c(&retry.StatusError{StatusCode: 404}))
	assert.Equal(t, retry.Transient, c(&retry.StatusError{StatusCode: 503}))
	assert.Equal(t, retry.Final, c(&retry.StatusError{StatusCode: 400}))
	assert.Equal(t, retry.Unknown, c(errors.New("x")))
}

func TestClassString(t *testing.T) {
	assert.Equal(t, "transient", retry.Transient.String())
	assert.Equal(t, "final", retry.Final.String())
	assert.Equal(t, "unknown", retry.Unknown.String())
}

func TestNewStatusError(t *testing.T) {
	assert.NoError(t, retry.NewStatusError(nil))
	assert.NoError(t, retry.NewStatusError(&http.Response{StatusCode: 200}))
	assert.NoError(t, retry.NewStatusError(&http.Response{StatusCode: 304}))

	h := http.Header{"Retry-After": {"2"}}
	err := retry.NewStatusError(&http.Response{StatusCode: 429, Header: h})
	var s *retry.StatusError
	assert.ErrorAs(t, err, &s)
	assert.Equal(t, 429, s.StatusCode)
	assert.Equal(t, "2", s.Header.Get("Retry-After"))
	assert.Equal(t, "http status 429 Too Many Requests", err.Error())
	assert.Equal(t, "http status 599", (&retry.StatusError{StatusCode: 599}).Error())
}

// A real connection refused from the network stack, not a constructed one.
func TestDefaultClassifierRealRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback listener:", err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = net.Dial("tcp", addr)
	assert.Error(t, err)
	assert.Equal(t, retry.Transient, retry.DefaultClassifier(err))
}
