// Command demo shows package retry getting real work done against a flaky
// service. It starts a local API on 127.0.0.1 that behaves like a busy LLM
// provider and a rate-limited code host, and runs a fixed set of jobs
// against it from several workers. They share one http.Client whose
// transport, a retryhttp.Transport, retries every request through one retry
// policy and one rate limiter, so the job code sends a request and reads
// the final answer. The retry log is printed as it happens, then a summary.
//
// The server's failures follow a seeded schedule, so every run meets the
// same failures; only the waits vary a little, with the jitter and with
// where in the second a server's whole-second header falls.
//
// Run it from the repository root:
//
//	go run ./examples/demo
//
// It exits with status 1 if any job failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/deb4e658/retry"
)

// runTimeout bounds the whole demo, so that a bug can never make it hang.
const runTimeout = 50 * time.Second

// config says what a run does and how fast. The demo runs defaultConfig;
// the test shrinks the delays.
type config struct {
	seed     uint64 // of the server's schedule
	chatJobs int
	repoJobs int
	workers  int

	interval       time.Duration // the limiter's spacing between any two calls
	backoff        time.Duration // the policy's InitialDelay; MaxDelay is 20 times it
	attemptTimeout time.Duration // cuts hung answers short
	maxServerDelay time.Duration // the longest wait a server may ask for
	serverScale    float64       // multiplies the waits the server asks for
}

func defaultConfig() config {
	return config{
		seed:           9,
		chatJobs:       12,
		repoJobs:       6,
		workers:        4,
		interval:       100 * time.Millisecond,
		backoff:        100 * time.Millisecond,
		attemptTimeout: time.Second,
		maxServerDelay: 5 * time.Second,
		serverScale:    1,
	}
}

func main() {
	if err := demo(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo runs the default configuration until it is done, interrupted or out
// of time.
func demo() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()

	_, err := run(ctx, os.Stdout, defaultConfig())
	return err
}

// job is one piece of work: a chat completion or a repository lookup.
type job struct {
	name string
	chat bool
}

// run starts the server, runs every job of cfg against it, shuts the server
// down and prints the summary to out. It returns the summary, and an error
// when the setup failed or any job did not succeed.
func run(ctx context.Context, out io.Writer, cfg config) (summary, error) {
	start := time.Now()
	jobs, chatNames, repoNames := makeJobs(cfg)
	plan, err := newSchedule(cfg.seed, chatNames, repoNames)
	if err != nil {
		return summary{}, err
	}

	// One limiter for every worker: together they keep to its pace.
	limiter, err := retry.NewRateLimiter(cfg.interval, 1)
	if err != nil {
		return summary{}, err
	}
	api := newAPI(plan, cfg.serverScale)
	srv, err := startServer(api)
	if err != nil {
		return summary{}, err
	}

	fmt.Fprintf(out, "demo: %d chat and %d repo jobs, %d workers, API at %s\n\n",
		cfg.chatJobs, cfg.repoJobs, cfg.workers, srv.url)
	rep := newReport(out, start)
	c := newClient(srv.url, cfg, limiter, rep.hooks())
	failures := work(ctx, c, jobs, cfg.workers, rep)

	// Close the client's kept-alive connections before the server, so no
	// goroutine of either outlives run. The shutdown gets its own time, as
	// ctx may be over.
	c.close()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.shutdown(stopCtx); err != nil {
		return summary{}, err
	}

	sum := rep.summary()
	sum.done, sum.failed = len(jobs)-len(failures), len(failures)
	sum.calls = c.wire.sent.Load()
	sum.answers = api.answers()
	// A request cut off by ctx may go unanswered, so after a failed run
	// this may count too few resends, never fewer than none.
	sum.resent = max(0, total(sum.answers)-int(sum.calls))
	sum.limiter = limiter.String()
	sum.wall = time.Since(start)
	sum.print(out)
	if len(failures) > 0 {
		return sum, fmt.Errorf("%d of %d jobs failed: %w",
			len(failures), len(jobs), errors.Join(failures...))
	}
	return sum, nil
}

// total returns the number of answers of every kind.
func total(answers [numKinds]int) int {
	n := 0
	for _, a := range answers {
		n += a
	}
	return n
}

// makeJobs lists the jobs of cfg, the chat and repo jobs interleaved so the
// workers meet both endpoints from the start, and the names of each kind.
func makeJobs(cfg config) (jobs []job, chatNames, repoNames []string) {
	for i := range max(cfg.chatJobs, cfg.repoJobs) {
		if i < cfg.chatJobs {
			name := fmt.Sprintf("chat-%02d", i+1)
			jobs = append(jobs, job{name: name, chat: true})
			chatNames = append(chatNames, name)
		}
		if i < cfg.repoJobs {
			name := fmt.Sprintf("repo-%02d", i+1)
			jobs = append(jobs, job{name: name})
			repoNames = append(repoNames, name)
		}
	}
	return jobs, chatNames, repoNames
}

// work runs jobs on the given number of workers and returns the errors of
// those that failed.
func work(ctx context.Context, c *client, jobs []job, workers int, rep *report) []error {
	queue := make(chan job)
	var (
		mu       sync.Mutex
		failures []error
	)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range queue {
				res, err := c.do(ctx, j)
				rep.finished(j.name, res, err)
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}

	// Once ctx is over, the remaining jobs still go out: each fails at once
	// with the context's reason, so the summary counts it.
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	return failures
}

// do runs one job.
func (c *client) do(ctx context.Context, j job) (result, error) {
	if j.chat {
		return c.complete(ctx, j.name, "the incident report of "+j.name)
	}
	return c.repo(ctx, j.name)
}
