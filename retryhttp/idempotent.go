package retryhttp

import (
	"errors"
	"net"
	"net/http"

	"github.com/deb4e658/retry"
)

// safeToReplay reports whether req may be sent again after a failure that
// does not prove the server ignored it: its method is idempotent (RFC 9110,
// section 9.2.2), it carries an idempotency key, or the user opted in.
func safeToReplay(req *http.Request, optIn bool) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return optIn || req.Header.Get("Idempotency-Key") != "" ||
		req.Header.Get("X-Idempotency-Key") != ""
}

// notActedOn reports whether err proves the server did not act on the
// request: a rate-limit answer, or a failure to connect at all.
func notActedOn(err error) bool {
	var status *retry.StatusError
	if errors.As(err, &status) {
		return retry.IsRateLimited(status.StatusCode, status.Header)
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
