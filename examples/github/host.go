package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// appJWT is the credential the fake host accepts for the app's own
// requests. GitHub wants a signed JWT; the fake only compares strings.
const appJWT = "fake-app-jwt"

// installations are the app's installations, by id: one organisation each.
var installations = map[int64]string{101: "acme", 102: "globex", 103: "initech", 104: "hooli"}

// quotaConfig is the fake host's rate limits and speed.
type quotaConfig struct {
	limit  int           // requests per window, the primary quota
	window time.Duration // length of a window, a whole number of seconds
	mints  int           // tokens minted per second at most, a secondary limit

	// latency is how long the host takes to answer a request it counts. It
	// keeps concurrent requests in flight together, as a real host's
	// latency does, so that some are sent before the answer that spends the
	// quota comes back.
	latency time.Duration
}

// verdict is what the host does with a request.
type verdict int

const (
	admitted  verdict = iota
	primary           // 403: the quota of the window is spent
	secondary         // 429 with Retry-After: too many tokens minted at once
)

// quota is the state of the primary quota as an answer reports it.
type quota struct {
	limit, remaining int
	reset            time.Time
}

// hostStats counts what the host did.
type hostStats struct {
	requests  int // refused ones included
	primary   int
	secondary int
}

// host is a fake code host that answers like GitHub's REST API, with a
// tiny primary quota so that the client runs out of it within seconds.
// Every answer carries X-RateLimit-Limit, -Remaining, -Used and -Reset (Unix
// seconds) and a Date. It is safe for concurrent use.
//
// The quota counts every request of the app, token requests included
// (GitHub keeps several quotas; one is enough here). Its windows follow
// each other without a gap from origin on and end on whole seconds, the
// only reset times the header can state exactly.
type host struct {
	cfg    quotaConfig
	origin time.Time // the end of the first window

	mu        sync.Mutex
	windowEnd time.Time         // the reset of the current window
	used      int               // requests charged to the current window
	minted    []time.Time       // when each token of the last second was minted
	tokens    map[string]int64  // installation of each token issued
	byKey     map[string]issued // token issued for each Idempotency-Key
	stats     hostStats
}

// issued is an installation token as the host hands it out.
type issued struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// newHost returns a host whose first window starts at start and lasts at
// least cfg.window, until a whole second.
func newHost(cfg quotaConfig, start time.Time) *host {
	origin := start.Truncate(time.Second).Add(cfg.window)
	if origin.Before(start.Add(cfg.window)) {
		origin = origin.Add(time.Second)
	}
	return &host{cfg: cfg, origin: origin, windowEnd: origin,
		tokens: make(map[string]int64), byKey: make(map[string]issued)}
}

// admit decides what to do with a request arriving at now, charges the
// quota when the request is admitted, and returns the quota to report. A
// mint is a request for a new token. A refused request costs nothing.
func (h *host) admit(now time.Time, mint bool) (verdict, quota) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.roll(now)
	h.stats.requests++

	// The secondary limit comes first: it stops a burst of mints whatever
	// the quota says.
	q := quota{limit: h.cfg.limit, remaining: max(h.cfg.limit-h.used, 0), reset: h.windowEnd}
	if mint && h.recentMints(now) >= h.cfg.mints {
		h.stats.secondary++
		return secondary, q
	}
	if q.remaining == 0 {
		h.stats.primary++
		return primary, q
	}

	if mint {
		h.minted = append(h.minted, now)
	}
	h.used++
	q.remaining--
	return admitted, q
}

// roll moves on to the window that now lies in, the first to end after
// now, when the current one has ended. The caller holds h.mu.
func (h *host) roll(now time.Time) {
	if now.Before(h.windowEnd) {
		return
	}
	ended := now.Sub(h.origin)/h.cfg.window + 1
	h.windowEnd = h.origin.Add(ended * h.cfg.window)
	h.used = 0
}

// current returns the quota at now without charging it.
func (h *host) current(now time.Time) quota {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.roll(now)
	return quota{limit: h.cfg.limit, remaining: max(h.cfg.limit-h.used, 0), reset: h.windowEnd}
}

// recentMints forgets the mints older than a second and counts the rest.
// The caller holds h.mu.
func (h *host) recentMints(now time.Time) int {
	keep := h.minted[:0]
	for _, t := range h.minted {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	h.minted = keep
	return len(keep)
}

// statistics returns what the host has done so far.
func (h *host) statistics() hostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// handler routes the two endpoints the client uses.
func (h *host) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", h.accessToken)
	mux.HandleFunc("GET /installation/repositories", h.repositories)
	return mux
}

// accessToken serves POST /app/installations/{id}/access_tokens. A request
// with an Idempotency-Key seen before gets the token issued for it, as a
// server that honours the key does, and is no mint.
func (h *host) accessToken(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if _, ok := installations[id]; err != nil || !ok {
		h.refuse(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+appJWT {
		h.refuse(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}

	key := r.Header.Get("Idempotency-Key")
	tok, seen := h.issuedFor(key)
	v, q := h.admit(now, !seen)
	if !h.think(r) || !h.answerLimits(w, now, v, q) {
		return
	}
	if !seen {
		tok = h.mint(id, key, now)
	}
	writeJSON(w, http.StatusCreated, tok)
}

// issuedFor returns the token issued for an Idempotency-Key, if any.
func (h *host) issuedFor(key string) (issued, bool) {
	if key == "" {
		return issued{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	tok, ok := h.byKey[key]
	return tok, ok
}

// mint issues a token for installation id, valid for an hour.
func (h *host) mint(id int64, key string, now time.Time) issued {
	h.mu.Lock()
	defer h.mu.Unlock()
	tok := issued{
		Token:     fmt.Sprintf("ghs_fake%d%04d", id, len(h.tokens)+1),
		ExpiresAt: now.Add(time.Hour).UTC().Format(time.RFC3339),
	}
	h.tokens[tok.Token] = id
	if key != "" {
		h.byKey[key] = tok
	}
	return tok
}

// repositories serves GET /installation/repositories, one page of the
// repositories of the token's installation.
func (h *host) repositories(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	h.mu.Lock()
	id, ok := h.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	h.mu.Unlock()
	if !ok {
		h.refuse(w, http.StatusUnauthorized, "Bad credentials")
		return
	}

	v, q := h.admit(now, false)
	if !h.think(r) || !h.answerLimits(w, now, v, q) {
		return
	}
	perPage := queryInt(r, "per_page", 30, 100)
	page := queryInt(r, "page", 1, 1000)
	writeJSON(w, http.StatusOK, repoPage(installations[id], page, perPage))
}

// reposPerInstallation is how many repositories each installation has.
const reposPerInstallation = 11

// repoPage returns page (from 1) of org's repositories, perPage to a page,
// in the shape GitHub gives them.
func repoPage(org string, page, perPage int) map[string]any {
	repos := []map[string]any{}
	for i := (page-1)*perPage + 1; i <= min(page*perPage, reposPerInstallation); i++ {
		name := fmt.Sprintf("service-%02d", i)
		repos = append(repos, map[string]any{
			"name": name, "full_name": org + "/" + name, "private": i%3 == 0,
		})
	}
	return map[string]any{"total_count": reposPerInstallation, "repositories": repos}
}

// think waits out the host's latency, and reports false when the client
// gave up meanwhile.
func (h *host) think(r *http.Request) bool {
	t := time.NewTimer(h.cfg.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// queryInt reads a positive number from the query, def when absent or bad,
// capped at most.
func queryInt(r *http.Request, name string, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n < 1 {
		return def
	}
	return min(n, most)
}

// answerLimits writes the rate-limit headers every answer carries and, for
// a refused request, the refusal GitHub would give. It reports whether the
// request was admitted.
func (h *host) answerLimits(w http.ResponseWriter, now time.Time, v verdict, q quota) bool {
	writeLimits(w, now, q)
	switch v {
	case primary:
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message": "API rate limit exceeded for installation."})
		return false
	case secondary:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{
			"message": "You have exceeded a secondary rate limit."})
		return false
	}
	return true
}

// writeLimits writes the headers every answer carries: the quota q and
// the host's time.
func writeLimits(w http.ResponseWriter, now time.Time, q quota) {
	h := w.Header()
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(q.limit-q.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// refuse writes an error that has nothing to do with the quota; it costs
// none.
func (h *host) refuse(w http.ResponseWriter, status int, message string) {
	now := time.Now()
	writeLimits(w, now, h.current(now))
	writeJSON(w, status, map[string]string{"message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// server is the host listening on a random port of 127.0.0.1.
type server struct {
	http   *http.Server
	url    string
	served chan error // Serve's result
}

// startServer starts serving h on 127.0.0.1 and returns once the port is
// open, so the first request cannot arrive too early.
func startServer(h *host) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake host: %w", err)
	}
	s := &server{
		http:   &http.Server{Handler: h.handler(), ReadHeaderTimeout: 5 * time.Second},
		url:    "http://" + ln.Addr().String(),
		served: make(chan error, 1),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// shutdown stops the server and waits until Serve has returned.
func (s *server) shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("fake host: shutdown: %w", err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fake host: %w", err)
	}
	return nil
}
