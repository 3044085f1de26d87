package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The headers by which the server tells one job from another. The chat
// endpoint reads the request id OpenAI clients send; the repo endpoint needs
// none, since the path names the repository.
const (
	requestIDHeader = "X-Client-Request-Id"
	repoOwner       = "demo-org"
)

// api is the flaky service the demo calls: a chat-completions endpoint that
// behaves like a busy LLM provider and a repository endpoint that behaves
// like a code host. Each job's attempts meet the answers its schedule holds,
// in order, and then success. It is safe for concurrent use.
type api struct {
	plan  schedule
	scale float64       // multiplies every delay the server asks for
	quit  chan struct{} // closed by stop, to release hung handlers

	mu       sync.Mutex
	arrivals map[string]int // requests seen per job
	answered [numKinds]int
}

// newAPI returns the service for plan. A scale below 1 shortens the waits
// it asks for, down to the whole second some headers cannot go below.
func newAPI(plan schedule, scale float64) *api {
	return &api{plan: plan, scale: scale, quit: make(chan struct{}),
		arrivals: make(map[string]int)}
}

// handler routes the two endpoints.
func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", a.chat)
	mux.HandleFunc("GET /repos/{owner}/{repo}", a.repo)
	return mux
}

// answers returns how often the server gave each kind of answer.
func (a *api) answers() [numKinds]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.answered
}

// stop releases every hung handler, now and later.
func (a *api) stop() { close(a.quit) }

// next counts a request of job and returns the answer it gets: the job's
// next scheduled failure, or success once they are used up. false means
// the server knows no such job.
func (a *api) next(job string) (outcome, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()

	failures, ok := a.plan[job]
	if !ok {
		return outcome{}, false
	}
	n := a.arrivals[job]
	a.arrivals[job] = n + 1

	out := outcome{kind: answerOK}
	if n < len(failures) {
		out = failures[n]
	}
	a.answered[out.kind]++
	return out, true
}

// chatRequest is the part of a chat-completions request the server reads.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chat serves POST /v1/chat/completions.
func (a *api) chat(w http.ResponseWriter, r *http.Request) {
	// Read the whole body first: only then does net/http watch the
	// connection, and so end r.Context() when the client hangs up.
	var req chatRequest
	err := json.NewDecoder(r.Body).Decode(&req)
	_, _ = io.Copy(io.Discard, r.Body)
	if err != nil || len(req.Messages) == 0 {
		http.Error(w, "demo server: malformed chat request", http.StatusBadRequest)
		return
	}

	job := r.Header.Get(requestIDHeader)
	out, ok := a.next(job)
	switch {
	case !ok:
		http.Error(w, "demo server: unknown request id "+job, http.StatusBadRequest)
	case out.kind == chatHang:
		a.hang(r)
	case out.kind == chatReset:
		reset(w)
	case out.kind != answerOK:
		a.fail(w, out, time.Now())
	default:
		last := req.Messages[len(req.Messages)-1].Content
		writeJSON(w, map[string]any{
			"id":     "chatcmpl-" + job,
			"object": "chat.completion",
			"model":  req.Model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       chatMessage{Role: "assistant", Content: "summary of " + last},
				"finish_reason": "stop",
			}},
		})
	}
}

// repo serves GET /repos/{owner}/{repo}.
func (a *api) repo(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("repo")
	if r.PathValue("owner") != repoOwner {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}

	out, ok := a.next(name)
	switch {
	case !ok:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	case out.kind != answerOK:
		a.fail(w, out, time.Now())
	default:
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "59")
		writeJSON(w, map[string]any{
			"full_name":        repoOwner + "/" + name,
			"default_branch":   "main",
			"stargazers_count": stars(name),
		})
	}
}

// stars makes up a repository's star count from its name, so that each
// repository has its own and every run shows the same.
func stars(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % 5000)
}

// fail writes the error answer out stands for, with the headers that ask
// for its delay counted from now.
func (a *api) fail(w http.ResponseWriter, out outcome, now time.Time) {
	h := w.Header()
	d := time.Duration(float64(out.delay) * a.scale)

	status := http.StatusTooManyRequests
	switch out.kind {
	case chatRetryAfterMs:
		h.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	case chatRetryAfterSecs:
		// Whole seconds only, and at least one, as most servers send it.
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
	case chatResetRequests:
		h.Set("X-Ratelimit-Limit-Requests", "60")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Ratelimit-Reset-Requests", d.String())
	case chatUnavailableDate:
		status = http.StatusServiceUnavailable
		h.Set("Retry-After", nextSecond(now, d).UTC().Format(http.TimeFormat))
	case chatInternalError:
		status = http.StatusInternalServerError
	case repoForbiddenLimit, repoTooManyLimit:
		// GitHub's answer to a spent rate limit: 403 or 429, no requests
		// left, and the Unix time at which the limit resets.
		if out.kind == repoForbiddenLimit {
			status = http.StatusForbidden
		}
		h.Set("X-RateLimit-Limit", "60")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(nextSecond(now, d).Unix(), 10))
	case repoBadGateway:
		status = http.StatusBadGateway
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"message\":%q}\n", out.kind.String())
}

// nextSecond returns now+d rounded up to a whole second. HTTP dates and
// Unix times cannot say more, and rounding down would shorten the wait.
func nextSecond(now time.Time, d time.Duration) time.Time {
	t := now.Add(d)
	if r := t.Truncate(time.Second); r.Before(t) {
		return r.Add(time.Second)
	}
	return t
}

// hang holds a request without answering until the client gives up, which
// its attempt timeout makes it do, or until the server stops.
func (a *api) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-a.quit:
	}
}

// reset drops the connection with a TCP reset instead of an answer. The
// connection is closed before the handler returns, so no hijacked
// connection outlives it and Shutdown has none to close.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not over HTTP/1 (never the case here): a 500 is the next best.
		http.Error(w, "demo server: cannot reset the connection", http.StatusInternalServerError)
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		// A zero linger makes Close send RST instead of FIN, so the client
		// reads ECONNRESET rather than a tidy end of stream.
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// writeJSON writes v as a 200 answer.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// server is the api listening on a random port of 127.0.0.1.
type server struct {
	api    *api
	http   *http.Server
	url    string
	served chan error // Serve's result
}

// startServer starts serving a on 127.0.0.1 and returns once the port is
// open, so the first request cannot arrive too early.
func startServer(a *api) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo server: %w", err)
	}

	s := &server{
		api:    a,
		http:   &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second},
		url:    "http://" + ln.Addr().String(),
		served: make(chan error, 1),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// shutdown stops the server and waits until Serve has returned.
func (s *server) shutdown(ctx context.Context) error {
	// Hung handlers first: Shutdown waits for every active request.
	s.api.stop()
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("demo server: shutdown: %w", err)
	}

	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo server: %w", err)
	}
	return nil
}
