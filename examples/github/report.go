package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/deb4e658/retry"
)

// logger prints the log, each line stamped with the time since the start.
// It is safe for concurrent use and keeps lines from interleaving. A failed
// write is ignored: the log is a courtesy, and the summary tells the outcome.
type logger struct {
	out   io.Writer
	start time.Time
	mu    sync.Mutex
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stamp := fmt.Sprintf("%6.2fs ", time.Since(l.start).Seconds())
	_, _ = fmt.Fprintf(l.out, stamp+format, args...)
}

// retries logs and counts the retries the policy's hook reports.
type retries struct {
	log *logger

	mu     sync.Mutex
	n      int
	waited time.Duration
}

// hooks returns the policy hooks that feed r.
func (r *retries) hooks() retry.Hooks {
	return retry.Hooks{OnRetry: r.retry}
}

// retry logs a failed attempt that is about to be retried, as in
//
//	0.01s [acme token, attempt 1/6] 429 secondary limit, Retry-After: 1;
//	      retrying in 1.0s
//
// on one line. ctx is the context of the call's request.
func (r *retries) retry(ctx context.Context, e retry.Event) {
	r.mu.Lock()
	r.n++
	r.waited += e.Delay
	r.mu.Unlock()

	r.log.printf("[%s, attempt %d/%d] %s; retrying in %s\n",
		callFrom(ctx).name, e.Attempt, e.MaxAttempts, describe(e.Err), short(e.Delay))
}

// counts returns the retries so far and the time they waited.
func (r *retries) counts() (int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.waited
}

// describe returns an attempt's error as the log shows it: for a refusal,
// which limit it was and the header that says how long to wait.
func describe(err error) string {
	var status *retry.StatusError
	if !errors.As(err, &status) {
		return err.Error()
	}
	h := status.Header
	switch {
	case h.Get("Retry-After") != "":
		return fmt.Sprintf("%d secondary limit, Retry-After: %s",
			status.StatusCode, h.Get("Retry-After"))
	case h.Get("X-RateLimit-Remaining") == "0":
		return fmt.Sprintf("%d quota spent, X-RateLimit-Reset at %s",
			status.StatusCode, resetClock(h))
	}
	return status.Error()
}

// summary is what a run did, as the closing lines print it.
type summary struct {
	calls, failed int
	retries       int
	waited        time.Duration // before retries, as the policy waited
	wire          wireStats
	host          hostStats
	wall          time.Duration
}

// print writes the closing summary and the outcome line.
func (s summary) print(out io.Writer) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	refused := s.wire.statuses[http.StatusForbidden] + s.wire.statuses[http.StatusTooManyRequests]

	p("\nsummary\n")
	p("  calls          %d made: %d ok, %d failed\n", s.calls, s.calls-s.failed, s.failed)
	p("  requests       %d sent, %d seen by the host: one per call and %d retries\n",
		s.wire.sent, s.host.requests, s.retries)
	p("  refused        %d × 403 quota spent, %d × 429 secondary limit\n",
		s.wire.statuses[http.StatusForbidden], s.wire.statuses[http.StatusTooManyRequests])
	p("  pacing         %d answer%s (2xx) said X-RateLimit-Remaining: 0; %d call%s begun\n",
		s.wire.spent, plural(s.wire.spent), s.wire.paced, plural(s.wire.paced))
	p("                 after one waited for the reset instead of spending a request on a 403\n")
	p("  held back      %d calls, %s in all, by the transport's cool-down or pacing\n",
		s.wire.held, short(s.wire.heldFor))
	p("  retry waits    %s in all\n", short(s.waited))
	p("  wall time      %s\n", short(s.wall))

	if s.failed > 0 {
		p("outcome: FAILED, %d of %d calls did not succeed (see above)\n", s.failed, s.calls)
		return
	}
	p("outcome: ok, all %d calls succeeded; the host refused %d requests, each one retried\n",
		s.calls, refused)
}

// short formats d as "1.2s" from a second up and as "250ms" below.
func short(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Millisecond).String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
