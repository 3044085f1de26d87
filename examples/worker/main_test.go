package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestLayers runs the program's measurement as it is, in real time: four
// configurations side by side, each 50 jobs against its own API during a
// 5-second outage (about 10 seconds in all). It checks the properties a
// user relies on; the figures themselves vary a little from run to run
// with the jitter and the noise, and are printed with -v.
func TestLayers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	cfg := defaultConfig()

	results, err := runAll(ctx, cfg, scenarios)
	require.NoError(t, err)
	var out bytes.Buffer
	printTable(&out, results)
	t.Log("\n" + out.String())

	by := make(map[scenario]result)
	for _, r := range results {
		by[r.scenario] = r
		t.Run(name(r.scenario), func(t *testing.T) { checkBounds(t, r) })
	}
	nestOn, nestOff := by[scenario{nesting: true}], by[scenario{nesting: false}]
	bothOn := by[scenario{nesting: true, budget: true}]
	budgetOnly := by[scenario{nesting: false, budget: true}]

	t.Run("nesting_rule", func(t *testing.T) {
		// The tool layer never retries what the transport gave up on, and
		// the transport retries everything else itself: one tool attempt
		// per job run, for every job.
		for _, j := range nestOn.jobs {
			assert.Equal(t, j.runs, j.attempts, "%s: tool attempts = job runs", j.id)
		}
		assert.Greater(t, nestOff.stats().attempts, nestOff.stats().runs,
			"without the rule, the tool layer retries the transport's give-ups")

		// Each run in the outage costs 5 requests with the rule and 15
		// without; the job layer's extra runs give back only part of that.
		on, off := nestOn.stats().outageRequests, nestOff.stats().outageRequests
		assert.Less(t, on, 0.75*off, "requests per job during the outage, rule on vs off")
		t.Logf("requests per job in the outage: rule on %.1f, off %.1f (ratio %.2f)",
			on, off, on/off)
	})

	t.Run("budget", func(t *testing.T) {
		// Nothing succeeds during the outage, so the request layer has only
		// the budget's floor: 1 retry a second over its 10-second window.
		for _, r := range []result{bothOn, budgetOnly} {
			assert.LessOrEqual(t, r.outageRetries, 10, "%v: request retries in the outage",
				r.scenario)
		}
		for _, r := range []result{nestOn, nestOff} {
			assert.Greater(t, r.outageRetries, 10, "%v: request retries in the outage",
				r.scenario)
		}

		// Fewer requests per job during the outage, whatever the rule.
		for _, pair := range [][2]result{{bothOn, nestOn}, {budgetOnly, nestOff}} {
			with, without := pair[0].stats().outageRequests, pair[1].stats().outageRequests
			assert.Less(t, with, without, "%v: requests per job in the outage", pair[0].scenario)
			t.Logf("nesting %s: requests per job in the outage with the budget %.1f, "+
				"without %.1f (ratio %.2f)", onOff(pair[0].scenario.nesting), with, without,
				with/without)
		}
	})

	t.Run("jobs_get_done", func(t *testing.T) {
		// Without the budget every job waits out the outage. With it, the
		// inner layers give up within a fraction of a second, so a job
		// spends most of its runs on the outage, and one may fail for good
		// on the noise in its last run: that is allowed, but only after
		// every run the job layer grants.
		for _, r := range []result{nestOn, nestOff} {
			s := r.stats()
			assert.Equal(t, len(r.jobs), s.done, "%v: jobs done", r.scenario)
		}
		for _, r := range []result{bothOn, budgetOnly} {
			assert.Zero(t, r.stats().unfinished, "%v: jobs unfinished", r.scenario)
			for _, j := range r.jobs {
				if j.action == retry.JobFail {
					assert.Equal(t, jobRuns, j.runs, "%v: %s failed early: %v", r.scenario,
						j.id, j.err)
				}
			}
		}
	})
}

// checkBounds checks the limits each layer puts on the one inside it, for
// every job of r.
func checkBounds(t *testing.T, r result) {
	for _, j := range r.jobs {
		assert.LessOrEqual(t, j.runs, jobRuns, "%s: job runs", j.id)
		assert.LessOrEqual(t, j.attempts, toolAttempts*j.runs, "%s: tool attempts", j.id)
		assert.LessOrEqual(t, j.calls, 2*j.attempts, "%s: requests asked for", j.id)
		assert.LessOrEqual(t, j.hits.requests, requestAttempts*j.calls, "%s: requests", j.id)
		assert.GreaterOrEqual(t, j.hits.requests, j.calls, "%s: requests", j.id)
		if j.action == retry.JobDone {
			// Its last run read and wrote after the outage.
			assert.GreaterOrEqual(t, j.hits.ok, 2, "%s: successful requests", j.id)
		}
	}
	assert.Equal(t, r.total.inOutage, r.total.outage503, "every request in the outage got 503")
}

func name(s scenario) string {
	return "nesting_" + onOff(s.nesting) + "_budget_" + onOff(s.budget)
}
