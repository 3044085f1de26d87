package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deb4e658/retry"
)

// stats are the figures of one scenario, per job where it says so.
type stats struct {
	done, failed, unfinished int

	requests       float64 // the server received, per job
	outageRequests float64 // of them, during the outage
	maxRequests    int     // the most one job cost
	attempts       float64 // tool attempts per job
	runs           float64 // job runs per job
}

func (r result) stats() stats {
	var s stats
	for _, j := range r.jobs {
		switch j.action {
		case retry.JobDone:
			s.done++
		case retry.JobFail:
			s.failed++
		default:
			s.unfinished++
		}
		s.maxRequests = max(s.maxRequests, j.hits.requests)
		s.attempts += float64(j.attempts)
		s.runs += float64(j.runs)
	}
	n := float64(max(len(r.jobs), 1))
	s.requests = float64(r.total.requests) / n
	s.outageRequests = float64(r.total.inOutage) / n
	s.attempts /= n
	s.runs /= n
	return s
}

// perLine is how many jobs share a line of the per-job listing.
const perLine = 5

// printJobs prints a scenario's jobs, several to a line, as
//
//	job-07 3/3/13(10)
//
// for 3 runs, 3 tool attempts, 13 requests of which 10 in the outage, and
// the error of each job that did not get done.
func printJobs(out io.Writer, r result) {
	s := r.stats()
	fmt.Fprintf(out, "%v: %d done, %d failed, %d unfinished in %v\n", r.scenario,
		s.done, s.failed, s.unfinished, r.wall.Round(10*time.Millisecond))
	fmt.Fprintln(out, "  job runs/tool attempts/requests(during the outage)")

	var line strings.Builder
	for i, j := range r.jobs {
		fmt.Fprintf(&line, "  %s %d/%d/%d(%d)", j.id, j.runs, j.attempts, j.hits.requests,
			j.hits.inOutage)
		if (i+1)%perLine == 0 || i == len(r.jobs)-1 {
			fmt.Fprintln(out, line.String())
			line.Reset()
		}
	}
	for _, j := range r.jobs {
		if j.action != retry.JobDone {
			fmt.Fprintf(out, "  %s %s after %d runs: %v\n", j.id, outcomeOf(j), j.runs, j.err)
		}
	}
}

func outcomeOf(j *job) string {
	if j.action == retry.JobFail {
		return "FAILED"
	}
	return "UNFINISHED"
}

// printTable prints one row per scenario.
func printTable(out io.Writer, results []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "configuration\tdone\tfailed\trequests/job\tin outage\tafter\t"+
		"max/job\ttool att/job\truns/job\treq retries in outage\twall\t")
	for _, r := range results {
		s := r.stats()
		fmt.Fprintf(tw, "%v\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d\t%.1f\t%.1f\t%d\t%v\t\n",
			r.scenario, s.done, s.failed+s.unfinished, s.requests, s.outageRequests,
			s.requests-s.outageRequests, s.maxRequests, s.attempts, s.runs, r.outageRetries,
			r.wall.Round(10*time.Millisecond))
	}
	_ = tw.Flush()
}
