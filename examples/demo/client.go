package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// maxAttempts is the client's attempt limit: the first call and up to five
// retries, well above the failures any job is scheduled to meet.
const maxAttempts = 6

// client calls the demo API through one retrying transport that every
// worker shares, so they also share its limiter and its cool-downs. It is
// safe for concurrent use.
type client struct {
	http *http.Client
	wire *wire
	url  string
}

// newClient returns a client of the API at url. The policy paces every
// attempt through limiter and reports retries to hooks; the transport
// applies it to every request the client sends.
func newClient(url string, cfg config, limiter retry.Limiter, hooks retry.Hooks) *client {
	policy := &retry.Policy{
		MaxAttempts:    maxAttempts,
		InitialDelay:   cfg.backoff,
		MaxDelay:       20 * cfg.backoff,
		AttemptTimeout: cfg.attemptTimeout,
		MaxServerDelay: cfg.maxServerDelay,
		Limiter:        limiter,
		Hooks:          hooks,
	}
	// No Classifier: retry.DefaultClassifier already treats GitHub's 403
	// with X-RateLimit-Remaining: 0 (or with Retry-After) as a rate limit.

	// A pool of the client's own, which close empties.
	w := &wire{base: http.DefaultTransport.(*http.Transport).Clone()}
	// The transport holds back every request that shares a cool-down key
	// while an answer to one of them asks for a pause, and paces them at
	// the rate it learns from such answers. That fits a real provider,
	// whose 429 speaks for a quota all callers share. The demo server's
	// failures are dealt per job instead: a 429 to chat-03 says nothing
	// about chat-05, so each job gets a cool-down of its own. With one per
	// service, every worker would wait out every job's delays, and the run
	// would take minutes.
	rt := retryhttp.NewTransport(w, policy, retryhttp.WithCoolDownKey(coolDownKey))
	return &client{http: &http.Client{Transport: rt}, wire: w, url: url}
}

// coolDownKey groups requests for the transport's cool-down: by job, within
// the service (the first segment of the path, "v1" for the chat endpoint
// and "repos" for the code host).
func coolDownKey(req *http.Request) string {
	service, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	return req.URL.Host + "/" + service + " " + jobFrom(req.Context())
}

// close closes the client's idle connections; the transport passes the
// call on to the pool.
func (c *client) close() { c.http.CloseIdleConnections() }

// completion is the part of a chat-completions answer the demo uses.
type completion struct {
	ID      string `json:"id"`
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

// repository is the part of a repository answer the demo uses.
type repository struct {
	FullName string `json:"full_name"`
	Stars    int    `json:"stargazers_count"`
}

// result is what a job got and how many attempts it took.
type result struct {
	text     string
	attempts int
}

// complete asks the chat endpoint to answer prompt on behalf of job.
func (c *client) complete(ctx context.Context, job, prompt string) (result, error) {
	body, err := json.Marshal(chatRequest{Model: "demo-mini",
		Messages: []chatMessage{{Role: "user", Content: prompt}}})
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", job, err)
	}

	req, err := http.NewRequestWithContext(withJob(ctx, job), http.MethodPost,
		c.url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", job, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(requestIDHeader, job)

	// POST is not idempotent, so without a key the transport would retry
	// it only after an answer that proves the server did nothing (a 429 or
	// a 403 rate limit) or a failure to connect: a 500, a 503, a reset or
	// a hung answer would end the job at its first attempt. The key, one
	// per job and the same on every attempt, tells the server that a repeat
	// is the same request, to be done once, and so lets the transport
	// resend it.
	req.Header.Set("Idempotency-Key", rand.Text())

	v, res, err := fetch[completion](c, req)
	if err != nil {
		return res, fmt.Errorf("%s: %w", job, err)
	}
	if len(v.Choices) == 0 {
		return res, fmt.Errorf("%s: completion %s has no choices", job, v.ID)
	}
	res.text = v.Choices[0].Message.Content
	return res, nil
}

// repo fetches the repository named job from the repo endpoint.
func (c *client) repo(ctx context.Context, job string) (result, error) {
	req, err := http.NewRequestWithContext(withJob(ctx, job), http.MethodGet,
		c.url+"/repos/"+repoOwner+"/"+job, nil)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", job, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")

	v, res, err := fetch[repository](c, req)
	if err != nil {
		return res, fmt.Errorf("%s: %w", job, err)
	}
	res.text = fmt.Sprintf("%s has %d stars", v.FullName, v.Stars)
	return res, nil
}

// fetch sends req, which the transport retries as the policy says, and
// decodes the final answer into a T. An answer that is not a 2xx is the
// one the transport gave up on, or a final one: an error either way.
func fetch[T any](c *client, req *http.Request) (T, result, error) {
	var v T
	resp, err := c.http.Do(req)
	if err != nil {
		// The transport gave up without an answer (or never started): its
		// *retry.Error, inside the client's *url.Error, counts the attempts.
		var rerr *retry.Error
		if errors.As(err, &rerr) {
			return v, result{attempts: rerr.Attempts}, rerr
		}
		return v, result{}, err
	}
	defer resp.Body.Close()

	res := result{attempts: retryhttp.Attempts(resp)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		// The transport's *retry.Error when it gave up on this answer,
		// which says why; a *retry.StatusError for a final one.
		if err := retryhttp.ResponseError(resp); err != nil {
			return v, res, err
		}
		return v, res, fmt.Errorf("unexpected answer %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, res, fmt.Errorf("decode answer: %w", err)
	}
	return v, res, nil
}

// wire is the bottom of the client's stack: the retrying transport hands
// it each attempt, and it sends it through base. It counts the requests
// that go out, retries included.
type wire struct {
	base http.RoundTripper
	sent atomic.Int64
}

// RoundTrip sends req once.
func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.sent.Add(1)
	return w.base.RoundTrip(req)
}

// CloseIdleConnections closes base's idle connections; the transport above
// passes http.Client.CloseIdleConnections on to it.
func (w *wire) CloseIdleConnections() {
	if c, ok := w.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// jobKey is the context key under which a request carries its job's name.
type jobKey struct{}

// withJob returns ctx carrying the name of job. The transport passes the
// request's context to the policy, and the policy to its hooks, so the
// retry log can tell whose retry it reports.
func withJob(ctx context.Context, job string) context.Context {
	return context.WithValue(ctx, jobKey{}, job)
}

// jobFrom returns the job of ctx, or "?" for none.
func jobFrom(ctx context.Context) string {
	if job, ok := ctx.Value(jobKey{}).(string); ok {
		return job
	}
	return "?"
}
