// Command worker drains a queue of jobs against a flaky local API through
// three layers of retries, and measures how many requests each job costs
// the API during an outage, with the library's nesting rule and a retry
// budget each on and off.
//
// It starts an API on 127.0.0.1 that answers every request 503 for the
// first five seconds (the outage), and afterwards answers most requests 200
// with a seeded sprinkle of 503s and 429s. Each job runs a tool that sends
// two requests (GET its item, PUT the result). The layers:
//
//   - request: an http.Client whose transport is retryhttp.NewTransport
//     with 5 attempts, 50ms doubling to at most 1s;
//   - tool: Policy.Do with 3 attempts, 100ms doubling, around both
//     requests;
//   - job: retry.Jobs with 5 runs, 500ms doubling to at most 4s, re-queueing
//     a failed job into an in-memory delay queue for Decision.Delay.
//
// The four configurations (nesting rule on or off, budget on or off) run
// side by side, each with its own API, outage, client and budget. The
// program prints every job's runs, tool attempts and requests, then a table
// per configuration. It exits with status 1 if a job failed for good or did
// not finish. Run it from the repository root:
//
//	go run ./examples/worker
//
// It takes about as long as the slowest configuration, some 10 seconds, and
// gives up after 60 whatever happens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"
)

// runTimeout bounds the whole program, so that a bug cannot make it hang.
const runTimeout = 60 * time.Second

// config says how big and how fast a run is. The program runs
// defaultConfig, adjusted by its flags; the test shrinks it.
type config struct {
	jobs, workers int
	outage        outage
	noise         float64 // share of requests outside the outage that fail
	seed          uint64  // of the noise
	naiveTool     bool    // see layers.statusError

	requestDelay, requestMaxDelay time.Duration
	toolDelay, toolMaxDelay       time.Duration
	jobDelay, jobMaxDelay         time.Duration
	attemptTimeout                time.Duration // of each request
}

func defaultConfig() config {
	return config{
		jobs:            50,
		workers:         50, // one per job: every job meets the whole outage
		outage:          outage{from: 0, length: 5 * time.Second},
		noise:           0.05,
		seed:            7,
		requestDelay:    50 * time.Millisecond,
		requestMaxDelay: time.Second,
		toolDelay:       100 * time.Millisecond,
		toolMaxDelay:    time.Second,
		jobDelay:        time.Second,
		jobMaxDelay:     8 * time.Second,
		attemptTimeout:  2 * time.Second,
	}
}

// scenarios are the four configurations, in the order they are printed.
var scenarios = []scenario{
	{nesting: true, budget: false},
	{nesting: true, budget: true},
	{nesting: false, budget: false},
	{nesting: false, budget: true},
}

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.jobs, "jobs", cfg.jobs, "jobs per configuration")
	flag.IntVar(&cfg.workers, "workers", cfg.workers, "workers per configuration")
	flag.DurationVar(&cfg.outage.length, "outage", cfg.outage.length,
		"how long the API answers only 503, from its start")
	flag.Float64Var(&cfg.noise, "noise", cfg.noise, "share of other requests answered 503/429")
	flag.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the noise")
	flag.BoolVar(&cfg.naiveTool, "naive-tool", false,
		"pass the transport's last answer up as a bare status (hides its give-up)")
	flag.Parse()

	if err := mainErr(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func mainErr(cfg config) error {
	if cfg.jobs < 1 || cfg.workers < 1 {
		return fmt.Errorf("need at least one job and one worker, got %d and %d",
			cfg.jobs, cfg.workers)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()

	results, err := runAll(ctx, cfg, scenarios)
	if err != nil {
		return err
	}
	printRun(os.Stdout, cfg, results)
	return failures(results)
}

// runAll runs every scenario at the same time, each against its own API,
// and returns their results in the same order.
func runAll(ctx context.Context, cfg config, scs []scenario) ([]result, error) {
	results := make([]result, len(scs))
	errs := make([]error, len(scs))
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Go(func() { results[i], errs[i] = run(ctx, cfg, sc) })
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// result is what one scenario did.
type result struct {
	scenario      scenario
	jobs          []*job
	total         hits // what the server received
	outageRetries int  // request-layer retries decided during the outage
	wall          time.Duration
}

// run starts an API, drains cfg.jobs jobs against it through the layers
// of sc, and stops the API.
func run(ctx context.Context, cfg config, sc scenario) (result, error) {
	start := time.Now()
	api := newFlakyAPI(start, cfg.outage, cfg.noise, cfg.seed)
	srv, err := startServer(api)
	if err != nil {
		return result{}, err
	}
	l, err := newLayers(srv.url, cfg, sc, api)
	if err != nil {
		return result{}, errors.Join(err, srv.shutdown(ctx))
	}

	jobs := make([]*job, cfg.jobs)
	for i := range jobs {
		jobs[i] = &job{id: fmt.Sprintf("job-%02d", i+1)}
	}
	l.drain(ctx, jobs, cfg.workers)
	wall := time.Since(start)

	// Close the client's connections before the server, so that nothing of
	// either outlives run. The shutdown has its own time: ctx may be over.
	l.close()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.shutdown(stopCtx); err != nil {
		return result{}, err
	}

	for _, j := range jobs {
		j.hits = api.counts(j.id)
	}
	return result{scenario: sc, jobs: jobs, total: api.totals(),
		outageRetries: int(l.outageRetries.Load()), wall: wall}, nil
}

// failures returns an error naming every scenario in which a job failed
// for good or did not finish, or nil.
func failures(results []result) error {
	var errs []error
	for _, r := range results {
		s := r.stats()
		if s.failed+s.unfinished > 0 {
			errs = append(errs, fmt.Errorf("%v: %d of %d jobs failed, %d unfinished",
				r.scenario, s.failed, len(r.jobs), s.unfinished))
		}
	}
	return errors.Join(errs...)
}

// printRun prints the per-job lines of every scenario and the table.
func printRun(out io.Writer, cfg config, results []result) {
	fmt.Fprintf(out, "worker: %d jobs on %d workers per configuration; "+
		"the API answers only 503 for the first %v, then %.0f%% 503/429 noise\n",
		cfg.jobs, cfg.workers, cfg.outage.length, cfg.noise*100)
	if cfg.naiveTool {
		fmt.Fprintln(out, "tool: naive (the transport's give-up reaches it as a bare status)")
	}
	for _, r := range results {
		fmt.Fprintln(out)
		printJobs(out, r)
	}
	fmt.Fprintln(out)
	printTable(out, results)
	fmt.Fprintln(out, `
requests/job: requests the API received, per job; "in outage" and "after" split them
at the end of the outage. tool att/job, runs/job: tool attempts and job runs per job.
req retries in outage: retries the request layer decided during the outage, all jobs.`)
}
