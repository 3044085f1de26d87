package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// outage is a window of time, counted from the server's start, during which
// every request is answered 503.
type outage struct {
	from, length time.Duration
}

// covers reports whether a request that arrives at elapsed since the start
// falls in the window.
func (o outage) covers(elapsed time.Duration) bool {
	return elapsed >= o.from && elapsed < o.from+o.length
}

// hits counts the requests one job (or the whole server) received.
type hits struct {
	requests  int
	inOutage  int // of requests, those that arrived during the outage
	ok        int
	noise503  int // 503s outside the outage
	noise429  int
	outage503 int
}

// flakyAPI is the local service the worker calls: a store of items that
// jobs read with GET /v1/items/{job} and write back with PUT
// /v1/results/{job}. It answers 503 to every request during its outage,
// and outside it answers a seeded share of requests 503 or 429 (no
// Retry-After: the outage of a service that does not know when it will be
// back) and the rest 200. It is safe for concurrent use.
//
// It counts what each job sent and when, which is the measurement: the
// client's own counters could not see a request its transport sent and
// did not report.
type flakyAPI struct {
	start  time.Time
	outage outage
	noise  float64 // share of requests outside the outage that fail
	seed   uint64

	mu    sync.Mutex
	jobs  map[string]*jobState
	total hits
}

// jobState is what the server keeps about one job: its counts, and the
// source of the noise its requests meet.
type jobState struct {
	hits
	rng *rand.Rand
}

// newFlakyAPI returns a service whose outage and noise are counted from
// start. Each job has a noise source of its own, drawn from seed and the
// job's name, and consulted only outside the outage: the nth request a
// job sends after the outage meets the same answer on every run, however
// the requests of concurrent jobs interleave.
func newFlakyAPI(start time.Time, o outage, noise float64, seed uint64) *flakyAPI {
	return &flakyAPI{start: start, outage: o, noise: noise, seed: seed,
		jobs: make(map[string]*jobState)}
}

// inOutage reports whether t falls in the outage window.
func (a *flakyAPI) inOutage(t time.Time) bool { return a.outage.covers(t.Sub(a.start)) }

func (a *flakyAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/items/{job}", a.item)
	mux.HandleFunc("PUT /v1/results/{job}", a.result)
	return mux
}

// item serves GET /v1/items/{job}.
func (a *flakyAPI) item(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	if !a.admit(w, job) {
		return
	}
	writeJSON(w, item{Job: job, Value: len(job)})
}

// result serves PUT /v1/results/{job}. The body is read before the answer
// is chosen, as a real service would, so a retried PUT is sent in full.
func (a *flakyAPI) result(w http.ResponseWriter, r *http.Request) {
	var v item
	err := json.NewDecoder(r.Body).Decode(&v)
	_, _ = io.Copy(io.Discard, r.Body)
	job := r.PathValue("job")
	if err != nil || v.Job != job {
		http.Error(w, "flaky api: malformed result", http.StatusBadRequest)
		return
	}
	if !a.admit(w, job) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// admit counts a request of job and either answers it with a failure,
// returning false, or lets the handler answer 200.
func (a *flakyAPI) admit(w http.ResponseWriter, job string) bool {
	status := a.decide(job, time.Now())
	if status == http.StatusOK {
		return true
	}
	http.Error(w, http.StatusText(status), status)
	return false
}

// decide counts a request of job that arrived at now and picks its status.
func (a *flakyAPI) decide(job string, now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()

	js := a.jobs[job]
	if js == nil {
		name := fnv.New64a()
		_, _ = name.Write([]byte(job))
		js = &jobState{rng: rand.New(rand.NewPCG(a.seed, name.Sum64()))}
		a.jobs[job] = js
	}
	status := http.StatusOK
	if a.inOutage(now) {
		status = http.StatusServiceUnavailable
	} else if u := js.rng.Float64(); u < a.noise/2 {
		status = http.StatusServiceUnavailable
	} else if u < a.noise {
		status = http.StatusTooManyRequests
	}

	for _, c := range []*hits{&js.hits, &a.total} {
		c.requests++
		switch {
		case a.inOutage(now):
			c.inOutage++
			c.outage503++
		case status == http.StatusServiceUnavailable:
			c.noise503++
		case status == http.StatusTooManyRequests:
			c.noise429++
		default:
			c.ok++
		}
	}
	return status
}

// counts returns what job received so far.
func (a *flakyAPI) counts(job string) hits {
	a.mu.Lock()
	defer a.mu.Unlock()
	if js := a.jobs[job]; js != nil {
		return js.hits
	}
	return hits{}
}

// totals returns what the server received so far.
func (a *flakyAPI) totals() hits {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// item is the payload of both endpoints.
type item struct {
	Job   string `json:"job"`
	Value int    `json:"value"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// server is a flakyAPI listening on a random port of 127.0.0.1.
type server struct {
	http   *http.Server
	url    string
	served chan error
}

// startServer starts serving a and returns once the port is open.
func startServer(a *flakyAPI) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("flaky api: %w", err)
	}
	s := &server{
		http:   &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second},
		url:    "http://" + ln.Addr().String(),
		served: make(chan error, 1),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// shutdown stops the server and waits until Serve has returned.
func (s *server) shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("flaky api: shutdown: %w", err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("flaky api: %w", err)
	}
	return nil
}
