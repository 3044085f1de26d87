package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/deb4e658/retry"
)

// maxAttempts is the client's attempt limit: the first call and up to five
// retries, well above the failures any job is scheduled to meet.
const maxAttempts = 6

// client calls the demo API through one retry policy that every worker
// shares. It is safe for concurrent use.
type client struct {
	http   *http.Client
	base   string
	policy *retry.Policy
	calls  atomic.Int64 // HTTP requests sent, retries included
}

// newClient returns a client of the API at base. The policy paces every
// attempt through limiter and reports retries to hooks.
func newClient(base string, cfg config, limiter retry.Limiter, hooks retry.Hooks) *client {
	return &client{
		// A plain client: the retrying happens around it, in the policy.
		http: &http.Client{},
		base: base,
		policy: &retry.Policy{
			MaxAttempts:    maxAttempts,
			InitialDelay:   cfg.backoff,
			MaxDelay:       20 * cfg.backoff,
			AttemptTimeout: cfg.attemptTimeout,
			MaxServerDelay: cfg.maxServerDelay,
			Classifier:     rateLimited,
			Limiter:        limiter,
			Hooks:          hooks,
		},
	}
}

// rateLimited is the classifier a GitHub client adds to the default one.
// GitHub answers a spent rate limit with 403 as well as 429, but a 403
// usually means "not allowed", and a classifier that knows only status
// codes must call it final. A 403 that says no requests are left, or that
// asks for a delay, is a rate limit and worth the wait; the executor then
// reads the delay from the same StatusError's X-RateLimit-Reset or
// Retry-After. Every other error is Unknown and falls through to
// retry.DefaultClassifier.
func rateLimited(err error) retry.Class {
	var status *retry.StatusError
	if !errors.As(err, &status) || status.StatusCode != http.StatusForbidden {
		return retry.Unknown
	}
	if status.Header.Get("X-RateLimit-Remaining") == "0" ||
		status.Header.Get("Retry-After") != "" {
		return retry.Transient
	}
	return retry.Unknown
}

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

	var res result
	url := c.base + "/v1/chat/completions"
	v, err := retry.DoValue(ctx, c.policy, func(ctx context.Context) (completion, error) {
		// DoValue does not say how many attempts a success took; the
		// attempt's context does.
		res.attempts = retry.AttemptFrom(ctx)

		// A fresh request each attempt: the last one consumed its body.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return completion{}, retry.Permanent(&jobError{job: job, err: err})
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(requestIDHeader, job)
		return fetch[completion](c, job, req)
	})
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
	var res result
	url := c.base + "/repos/" + repoOwner + "/" + job
	v, err := retry.DoValue(ctx, c.policy, func(ctx context.Context) (repository, error) {
		res.attempts = retry.AttemptFrom(ctx)

		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return repository{}, retry.Permanent(&jobError{job: job, err: err})
		}
		req.Header.Set("Accept", "application/vnd.github+json")
		return fetch[repository](c, job, req)
	})
	if err != nil {
		return res, fmt.Errorf("%s: %w", job, err)
	}

	res.text = fmt.Sprintf("%s has %d stars", v.FullName, v.Stars)
	return res, nil
}

// fetch sends req and decodes its JSON answer into a T. An answer of 400
// or more becomes a *retry.StatusError, which carries the status and the
// headers, so the policy can classify it and honour the delay it asks for.
// Every error is a *jobError, which tells the retry hook whose it is.
func fetch[T any](c *client, job string, req *http.Request) (T, error) {
	var v T
	c.calls.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return v, &jobError{job: job, err: err}
	}
	defer resp.Body.Close()

	if err := retry.NewStatusError(resp); err != nil {
		// Drain a bounded amount so the connection can carry the retry.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return v, &jobError{job: job, err: err}
	}

	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, &jobError{job: job, err: fmt.Errorf("decode answer: %w", err)}
	}
	return v, nil
}

// jobError is an attempt's error together with the job it belongs to. The
// policy, and so its hooks, is shared by every job, and a retry.Event
// carries the error but nothing of the call, so the error has to say whose
// it is. Its message is the wrapped one: the caller adds the job's name
// once, in front of the retry.Error.
type jobError struct {
	job string
	err error
}

func (e *jobError) Error() string { return e.err.Error() }
func (e *jobError) Unwrap() error { return e.err }
