package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// perPage is how many repositories the client asks for on each page.
const perPage = 3

// minHold is how long a call's first request must have waited to count as
// held back. Nothing but the transport (its cool-down, its pacing) delays a
// first request, as the client has no limiter, and the transport holds one
// back for a good part of a second at least; the bound only keeps
// scheduling noise out of the count.
const minHold = 20 * time.Millisecond

// ghClient is a GitHub-style API client. Every call goes through one
// retrying transport, so all of them share its cool-down and its pacing:
// once an answer says the quota is spent, no call spends a request until the
// reset. It is safe for concurrent use.
type ghClient struct {
	http *http.Client
	wire *wire
	url  string
}

// newClient returns a client of the host at url whose policy reports
// retries to hooks and whose wire reports to log.
func newClient(url string, cfg config, hooks retry.Hooks, log *logger) *ghClient {
	policy := &retry.Policy{
		MaxAttempts:    6,
		InitialDelay:   250 * time.Millisecond,
		MaxDelay:       4 * time.Second,
		AttemptTimeout: 2 * time.Second,
		// A quota window is a few seconds long; a longer wait means
		// something else is wrong.
		MaxServerDelay: 4 * cfg.quota.window,
		Hooks:          hooks,
	}
	// No Limiter: the host's headers pace the client. No Classifier: the
	// default one treats a 403 with X-RateLimit-Remaining: 0 or with
	// Retry-After as a rate limit, and a 429 too.

	// A pool of the client's own, which close empties.
	base := http.DefaultTransport.(*http.Transport).Clone()
	w := &wire{base: base, log: log, statuses: make(map[int]int)}
	return &ghClient{
		http: &http.Client{Transport: retryhttp.NewTransport(w, policy)},
		wire: w,
		url:  url,
	}
}

// close closes the client's idle connections; the transport passes the
// call on to the pool.
func (c *ghClient) close() { c.http.CloseIdleConnections() }

// accessToken gets a token for installation id; name labels the call.
func (c *ghClient) accessToken(ctx context.Context, name string, id int64) (issued, error) {
	var tok issued
	url := fmt.Sprintf("%s/app/installations/%d/access_tokens", c.url, id)
	req, err := http.NewRequestWithContext(c.wire.begin(ctx, name), http.MethodPost, url, nil)
	if err != nil {
		return tok, err
	}
	req.Header.Set("Authorization", "Bearer "+appJWT)

	// The transport resends a POST after an answer that proves the host
	// did nothing (a 429, or a 403 that retry.IsRateLimited), whatever the
	// headers. The key makes every other transient failure (a reset, a
	// 502, a timeout) retryable too, by the rule that a request carrying an
	// Idempotency-Key may be replayed: a host that honours the key, as this
	// one does, hands out the same token again rather than a second one.
	req.Header.Set("Idempotency-Key", rand.Text())

	err = c.do(req, http.StatusCreated, &tok)
	return tok, err
}

// page is one page of GET /installation/repositories.
type page struct {
	TotalCount   int `json:"total_count"`
	Repositories []struct {
		FullName string `json:"full_name"`
	} `json:"repositories"`
}

// repositories gets page n (from 1) of the repositories tok can see; name
// labels the call.
func (c *ghClient) repositories(ctx context.Context, name, tok string, n int) (page, error) {
	var p page
	url := c.url + "/installation/repositories?per_page=" + strconv.Itoa(perPage) +
		"&page=" + strconv.Itoa(n)
	req, err := http.NewRequestWithContext(c.wire.begin(ctx, name), http.MethodGet, url, nil)
	if err != nil {
		return p, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/vnd.github+json")

	err = c.do(req, http.StatusOK, &p)
	return p, err
}

// do sends req through the retrying transport and decodes the final
// answer into v. Any status but want is the answer the transport gave up
// on, or a final one: an error either way.
func (c *ghClient) do(req *http.Request, want int, v any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		var rerr *retry.Error
		if errors.As(err, &rerr) {
			return rerr
		}
		return err
	}
	defer resp.Body.Close()

	if resp.StatusCode != want {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		// The transport's *retry.Error when it gave up on this answer,
		// which says why; a *retry.StatusError for a final one.
		if err := retryhttp.ResponseError(resp); err != nil {
			return err
		}
		return fmt.Errorf("unexpected answer %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// wire is the bottom of the client's stack: the retrying transport hands
// it each attempt, and it sends it through base. It counts what goes out
// and comes back, and notices the calls the transport held back.
type wire struct {
	base http.RoundTripper
	log  *logger
	sent atomic.Int64

	mu         sync.Mutex
	statuses   map[int]int   // answers by status
	spent      int           // 2xx answers that said no requests remain
	spentUntil time.Time     // the reset the latest of them announced
	held       int           // calls whose first request the cool-down held
	heldFor    time.Duration // how long, in all
	paced      int           // held calls that began while the quota was spent
}

// RoundTrip sends req once.
func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	call := callFrom(ctx)
	if retry.AttemptFrom(ctx) == 1 {
		w.firstRequest(call, time.Since(call.start))
	}

	w.sent.Add(1)
	resp, err := w.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.answered(call, resp)
	return resp, nil
}

// CloseIdleConnections closes base's idle connections; the transport above
// passes http.Client.CloseIdleConnections on to it.
func (w *wire) CloseIdleConnections() {
	if c, ok := w.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// begin starts a call named name and returns the context for its request.
// Every attempt's context descends from it, so the call reaches the wire,
// and the policy hands it to its hooks, so the retry log can name the call.
func (w *wire) begin(ctx context.Context, name string) context.Context {
	now := time.Now()
	w.mu.Lock()
	spent := now.Before(w.spentUntil)
	w.mu.Unlock()
	return context.WithValue(ctx, callKey{}, &callInfo{name: name, start: now, spent: spent})
}

// firstRequest notes a call's first request, which went out after waiting
// for d since the call began.
func (w *wire) firstRequest(call *callInfo, d time.Duration) {
	if d < minHold {
		return
	}
	w.mu.Lock()
	w.held++
	w.heldFor += d
	if call.spent {
		w.paced++
	}
	w.mu.Unlock()
	w.log.printf("[%s] held back %s by the transport before its first request\n",
		call.name, short(d))
}

// answered counts an answer and logs one that spends the last request of
// the quota: from it on the transport holds every call until the reset.
func (w *wire) answered(call *callInfo, resp *http.Response) {
	now := time.Now()
	spent := resp.StatusCode < 300 && resp.Header.Get("X-RateLimit-Remaining") == "0"
	w.mu.Lock()
	w.statuses[resp.StatusCode]++
	if spent {
		// The same reading of the headers as the transport's cool-down.
		d, _ := retry.ParseRetryAfter(resp.Header, now)
		w.spent++
		w.spentUntil = now.Add(d)
	}
	w.mu.Unlock()

	if spent {
		w.log.printf("[%s] %d, X-RateLimit-Remaining: 0: calls wait for the reset at %s\n",
			call.name, resp.StatusCode, resetClock(resp.Header))
	}
}

// resetClock returns the X-RateLimit-Reset of h as a time of day.
func resetClock(h http.Header) string {
	secs, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return "?"
	}
	return time.Unix(secs, 0).Format(time.TimeOnly)
}

// wireStats is what the wire counted.
type wireStats struct {
	sent     int64
	statuses map[int]int
	spent    int
	held     int
	heldFor  time.Duration
	paced    int
}

func (w *wire) statistics() wireStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := wireStats{sent: w.sent.Load(), statuses: make(map[int]int), spent: w.spent,
		held: w.held, heldFor: w.heldFor, paced: w.paced}
	for k, v := range w.statuses {
		s.statuses[k] = v
	}
	return s
}

// callInfo is the call a request belongs to: its name, when it began and
// whether the latest answer then had said that no requests remain.
type callInfo struct {
	name  string
	start time.Time
	spent bool
}

// callKey is the context key of a request's callInfo.
type callKey struct{}

// callFrom returns the call of ctx, or an unnamed one begun now.
func callFrom(ctx context.Context) *callInfo {
	if c, ok := ctx.Value(callKey{}).(*callInfo); ok {
		return c
	}
	return &callInfo{name: "?", start: time.Now()}
}
