package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// The attempt limits of the three layers, the scenario of the issue.
const (
	requestAttempts = 5 // per HTTP request, in the transport
	toolAttempts    = 3 // per tool run, each of which sends two requests
	jobRuns         = 5 // per job, counted by retry.Jobs
)

// scenario is one configuration of the measurement.
type scenario struct {
	// nesting keeps the library's default rule: a layer does not retry an
	// error that the layer inside it already gave up on. Off, the tool
	// policy sets RetryInnerGiveUps and the job layer retries any failure.
	nesting bool

	// budget puts one shared retry.Budget on the request policy.
	budget bool
}

func (s scenario) String() string {
	return fmt.Sprintf("nesting %s, budget %s", onOff(s.nesting), onOff(s.budget))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// job is one job of the queue and what became of it. Only the worker that
// holds it touches it, and the queue hands it from one to the next.
type job struct {
	id       string
	runs     int             // job-layer runs
	attempts int             // tool attempts, over every run
	calls    int             // requests the tool handed to the HTTP client
	action   retry.JobAction // JobDone or JobFail once over; 0 if never
	err      error           // the error of the last failed run
	hits     hits            // what the server received from it, filled in at the end
}

// layers is the worker's stack of retries for one scenario: the request
// layer inside the HTTP client's transport, the tool layer, and the job
// layer that decides whether a failed job runs again.
type layers struct {
	url    string
	client *http.Client
	base   *http.Transport // the connection pool, closed by close
	tool   *retry.Policy
	jobs   *retry.Jobs
	naive  bool // the tool reads statuses only, see statusError

	// Retries the request layer decided on while the server was in its
	// outage, counted by the request policy's OnRetry hook.
	outageRetries atomic.Int64
}

// newLayers builds the three layers of sc against the API at url. api
// tells the hook whether a retry falls in the outage.
func newLayers(url string, cfg config, sc scenario, api *flakyAPI) (*layers, error) {
	l := &layers{url: url, naive: cfg.naiveTool}

	request := &retry.Policy{
		MaxAttempts:    requestAttempts,
		InitialDelay:   cfg.requestDelay,
		MaxDelay:       cfg.requestMaxDelay,
		AttemptTimeout: cfg.attemptTimeout,
		Hooks: retry.Hooks{OnRetry: func(context.Context, retry.Event) {
			if api.inOutage(time.Now()) {
				l.outageRetries.Add(1)
			}
		}},
	}
	if sc.budget {
		// One budget for the one dependency: every request of every job
		// draws on it, through the one transport.
		b, err := retry.NewBudget(0.1, 1)
		if err != nil {
			return nil, err
		}
		request.Budget = b
	}

	l.tool = &retry.Policy{
		MaxAttempts:       toolAttempts,
		InitialDelay:      cfg.toolDelay,
		MaxDelay:          cfg.toolMaxDelay,
		RetryInnerGiveUps: !sc.nesting,
	}

	jobPolicy := &retry.Policy{
		MaxAttempts:  jobRuns,
		InitialDelay: cfg.jobDelay,
		MaxDelay:     cfg.jobMaxDelay,
	}
	if !sc.nesting {
		jobPolicy.RetryInnerGiveUps = true
		jobPolicy.Classifier = func(error) retry.Class { return retry.Transient }
	}
	jobs, err := retry.NewJobs(jobPolicy, &retry.MemoryStore{})
	if err != nil {
		return nil, err
	}
	l.jobs = jobs

	l.base = http.DefaultTransport.(*http.Transport).Clone()
	l.base.MaxIdleConnsPerHost = cfg.workers // one request in flight per worker
	l.client = &http.Client{Transport: retryhttp.NewTransport(l.base, request)}
	return l, nil
}

// close closes the idle connections. The retrying transport does not pass
// CloseIdleConnections on to its base, so the pool is closed directly.
func (l *layers) close() { l.base.CloseIdleConnections() }

// drain runs the jobs on workers goroutines until each is done or has
// failed for good, or ctx ends.
func (l *layers) drain(ctx context.Context, jobs []*job, workers int) {
	q := newDelayQueue(jobs, time.Now())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j, ok := q.pop(ctx)
				if !ok {
					return
				}
				l.runJob(ctx, q, j)
			}
		})
	}
	wg.Wait()
}

// runJob runs j once and does what the job layer decides: finish it, fail
// it, or put it back in the queue for later.
func (l *layers) runJob(ctx context.Context, q *delayQueue, j *job) {
	j.runs++
	err := l.runTool(ctx, j)
	if ctx.Err() != nil {
		// The run was cut short, not failed: the job stays unfinished.
		j.err = err
		return
	}

	// The MemoryStore never fails; were the store down, Decide would still
	// say JobRequeue with a delay, so its error needs nothing more here.
	d, _ := l.jobs.Decide(ctx, j.id, err)
	switch d.Action {
	case retry.JobDone:
		j.action = d.Action
		q.finish()
	case retry.JobFail:
		j.action, j.err = d.Action, err
		q.finish()
	default:
		j.err = err
		q.requeue(j, time.Now().Add(d.Delay))
	}
}

// runTool is one run of the job's tool: read the job's item, then write
// the result back, retried as a whole by the tool policy.
func (l *layers) runTool(ctx context.Context, j *job) error {
	return l.tool.Do(ctx, func(ctx context.Context) error {
		j.attempts++
		var it item
		if err := l.send(ctx, j, http.MethodGet, "/v1/items/"+j.id, nil, &it); err != nil {
			return err
		}
		it.Value *= 2
		body, err := json.Marshal(it)
		if err != nil {
			return retry.Permanent(err)
		}
		return l.send(ctx, j, http.MethodPut, "/v1/results/"+j.id, body, nil)
	})
}

// send makes one request through the retrying client and decodes a 2xx
// answer into into, when it is not nil.
func (l *layers) send(ctx context.Context, j *job, method, path string, body []byte,
	into any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body) // sets GetBody, so the transport can replay it
	}
	req, err := http.NewRequestWithContext(ctx, method, l.url+path, r)
	if err != nil {
		return retry.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	j.calls++
	resp, err := l.client.Do(req)
	if err != nil {
		// The transport gave up without an answer: its *retry.Error is
		// inside the *url.Error, and the tool policy sees it there.
		return err
	}
	defer resp.Body.Close()
	if err := l.statusError(resp); err != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return err
	}
	if into == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// statusError turns an answer that is not a success into the error the
// tool layer sees.
//
// retryhttp.ResponseError hands up the transport's own *retry.Error when it
// gave up on this answer (attempts spent, or the retry budget), so the tool
// policy's default nesting rule sees that the request layer already retried
// and does not retry it again, and a spent budget stops the tool too. A
// naive client (the -naive-tool flag) returns the bare status, as a plain
// http.Client user would, and shows what that costs.
func (l *layers) statusError(resp *http.Response) error {
	if l.naive {
		return retry.NewStatusError(resp)
	}
	return retryhttp.ResponseError(resp)
}
