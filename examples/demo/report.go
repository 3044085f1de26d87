package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/deb4e658/retry"
)

// report prints the retry log while the jobs run and keeps the client's
// side of the summary. Every worker calls it, so it holds a lock, which
// also keeps the lines from interleaving.
type report struct {
	out   io.Writer
	start time.Time

	mu          sync.Mutex
	retries     int
	serverAsked int           // retries that waited for a server's delay
	waited      time.Duration // the sum of every retry's wait
}

func newReport(out io.Writer, start time.Time) *report {
	return &report{out: out, start: start}
}

// hooks returns the policy hooks that feed the report.
func (r *report) hooks() retry.Hooks {
	return retry.Hooks{OnRetry: r.retry}
}

// retry logs a failed attempt that is about to be retried, as in
//
//	1.23s [chat-07 attempt 1/6] failed: http status 429 Too Many Requests;
//	      retrying in 1.2s (server asked for 1.2s)
//
// on one line. ctx is the context of the job's request.
func (r *report) retry(ctx context.Context, e retry.Event) {
	job := jobFrom(ctx)
	line := fmt.Sprintf("[%s attempt %d/%d] failed: %s; retrying in %s",
		job, e.Attempt, e.MaxAttempts, describe(e.Err), short(e.Delay))
	if e.ServerDelay > 0 {
		line += fmt.Sprintf(" (server asked for %s)", short(e.ServerDelay))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries++
	r.waited += e.Delay
	if e.ServerDelay > 0 {
		r.serverAsked++
	}
	r.printf("%s\n", line)
}

// finished logs the end of a job.
func (r *report) finished(job string, res result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.printf("[%s] FAILED: %v\n", job, err)
		return
	}
	r.printf("[%s] done in %d attempt%s: %s\n", job, res.attempts, plural(res.attempts), res.text)
}

// printf writes one line of the log, stamped with the time since the start.
// The caller holds r.mu. A failed write is ignored: the log is a courtesy,
// and the summary reports the outcome anyway.
func (r *report) printf(format string, args ...any) {
	stamp := fmt.Sprintf("%6.2fs ", time.Since(r.start).Seconds())
	_, _ = fmt.Fprintf(r.out, stamp+format, args...)
}

// summary is what a run did, as the closing lines print it.
type summary struct {
	done, failed int
	calls        int64 // attempts, retries included
	retries      int
	serverAsked  int
	waited       time.Duration
	answers      [numKinds]int // the server's answers by kind
	resent       int           // requests net/http sent again on its own
	limiter      string
	wall         time.Duration
}

// summary returns the client's side of the summary so far.
func (r *report) summary() summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summary{retries: r.retries, serverAsked: r.serverAsked, waited: r.waited}
}

// print writes the closing summary and the outcome line.
func (s summary) print(out io.Writer) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }

	p("\nsummary\n")
	p("  jobs             %d done, %d failed\n", s.done, s.failed)
	p("  calls            %d attempts, %d of them retries\n", s.calls, s.retries)
	p("  waiting          %s in all before retries; %d retries waited as the server asked\n",
		short(s.waited), s.serverAsked)
	p("  limiter          %s, shared by every worker\n", s.limiter)
	p("  cool-down        one per job, as the server deals its failures per job\n")
	p("  server answers   %d\n", total(s.answers))
	for k := range numKinds {
		p("    %4d  %v\n", s.answers[k], k)
	}
	if s.resent > 0 {
		// net/http resends a replayable request (one with an
		// Idempotency-Key counts) when a reused connection fails before any
		// answer. That happens below the retrying transport, which sees one
		// attempt.
		p("  resent           %d by net/http itself after a reset on a reused "+
			"connection,\n                   unseen by the policy\n", s.resent)
	}
	p("  wall time        %s\n", short(s.wall))

	if s.failed > 0 {
		p("outcome: FAILED, %d of %d jobs did not succeed (see above)\n",
			s.failed, s.done+s.failed)
		return
	}
	p("outcome: ok, all %d jobs succeeded despite %d failed attempts\n", s.done, s.retries)
}

// describe returns an attempt's error as the log shows it. A transport
// error loses the addresses: they change with every run's random port and
// tell the reader nothing.
func describe(err error) string {
	var status *retry.StatusError
	switch {
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, retry.ErrAttemptTimeout):
		return "no answer within the attempt timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	return err.Error()
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
