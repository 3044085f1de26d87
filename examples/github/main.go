// Command github shows package retryhttp keeping a GitHub-style client
// within a host's rate limits. It starts a fake code host on 127.0.0.1 that
// speaks GitHub's rate-limit headers and has a tiny quota, then lists the
// repositories of four app installations at once: it gets a token for
// each installation (POST), then pages through each one's repositories
// (GET), one worker per installation.
//
// All calls go through one retryhttp.Transport. When an answer says no
// requests remain, the transport holds every call back until the reset
// instead of letting it spend a request on a 403; the 403s and 429s that
// come anyway (requests already on their way when the quota ran out, too
// many tokens minted at once) are retried after the wait the host asks for.
//
// Run it from the repository root:
//
//	go run ./examples/github
//
// It prints a short log and a summary, and exits with status 1 if any call
// failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sync"
	"time"
)

// runTimeout bounds the whole run, so that a bug can never make it hang.
const runTimeout = 30 * time.Second

// maxPages bounds the pages one installation is listed in, in case the
// host never says the list is complete.
const maxPages = 50

// config says what a run does; the host's quota is all there is to it.
type config struct {
	quota quotaConfig
}

func defaultConfig() config {
	return config{quota: quotaConfig{limit: 6, window: 2 * time.Second, mints: 2,
		latency: 25 * time.Millisecond}}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()

	if _, err := run(ctx, os.Stdout, defaultConfig()); err != nil {
		fmt.Fprintln(os.Stderr, "github:", err)
		os.Exit(1)
	}
}

// run starts the host, lists every installation's repositories against
// it, shuts it down and prints the summary to out. It returns the summary,
// and an error when the setup failed or any call did not succeed.
func run(ctx context.Context, out io.Writer, cfg config) (summary, error) {
	start := time.Now()
	h := newHost(cfg.quota, start)
	srv, err := startServer(h)
	if err != nil {
		return summary{}, err
	}

	fmt.Fprintf(out, "github: %d installations, quota %d requests per %v, host at %s\n\n",
		len(installations), cfg.quota.limit, cfg.quota.window, srv.url)
	log := &logger{out: out, start: start}
	rec := &retries{log: log}
	c := newClient(srv.url, cfg, rec.hooks(), log)

	// Every token first, all at once, as a job that authenticates
	// everywhere before it starts would: the burst of mints meets the
	// host's secondary limit. Then one worker per installation lists.
	t := &tally{}
	ids := slices.Sorted(maps.Keys(installations))
	tokens := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { tokens[i] = installationToken(ctx, c, log, t, id) })
	}
	wg.Wait()

	for i, id := range ids {
		if tokens[i] != "" {
			wg.Go(func() { listRepositories(ctx, c, log, t, id, tokens[i]) })
		}
	}
	wg.Wait()

	// Close the client's kept-alive connections before the server, so no
	// goroutine of either outlives run. The shutdown gets its own time, as
	// ctx may be over.
	c.close()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.shutdown(stopCtx); err != nil {
		return summary{}, err
	}

	sum := summary{wire: c.wire.statistics(), host: h.statistics(), wall: time.Since(start)}
	var failures []error
	sum.calls, failures = t.outcome()
	sum.failed = len(failures)
	sum.retries, sum.waited = rec.counts()
	sum.print(out)
	if sum.failed > 0 {
		return sum, fmt.Errorf("%d of %d calls failed: %w",
			sum.failed, sum.calls, errors.Join(failures...))
	}
	return sum, nil
}

// installationToken gets a token for installation id, or "" when the call
// failed.
func installationToken(ctx context.Context, c *ghClient, log *logger, t *tally,
	id int64) string {
	name := installations[id] + " token"
	tok, err := c.accessToken(ctx, name, id)
	if t.record(name, err) != nil {
		log.printf("[%s] FAILED: %v\n", name, err)
		return ""
	}
	return tok.Token
}

// listRepositories lists the repositories that tok, a token of installation
// id, can see, page by page. It stops at the first call that fails.
func listRepositories(ctx context.Context, c *ghClient, log *logger, t *tally, id int64,
	tok string) {
	org := installations[id]
	var repos []string
	calls := 0
	for n := 1; n <= maxPages; n++ {
		name := fmt.Sprintf("%s page %d", org, n)
		p, err := c.repositories(ctx, name, tok, n)
		calls++
		if t.record(name, err) != nil {
			log.printf("[%s] FAILED: %v\n", name, err)
			return
		}

		for _, r := range p.Repositories {
			repos = append(repos, r.FullName)
		}
		if len(p.Repositories) == 0 || len(repos) >= p.TotalCount {
			break
		}
	}
	log.printf("[%s] listed %d repositories in %d calls\n", org, len(repos), calls)
}

// tally counts the calls made and keeps the errors of those that failed.
// It is safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	calls    int
	failures []error
}

// record counts the call named name, which ended with err, and returns err.
func (t *tally) record(name string, err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	if err != nil {
		t.failures = append(t.failures, fmt.Errorf("%s: %w", name, err))
	}
	return err
}

// outcome returns the calls made and the errors of those that failed.
func (t *tally) outcome() (calls int, failures []error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls, slices.Clone(t.failures)
}
