package retryhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
)

// The load tests send many concurrent calls, in real time, through one
// Transport to a server that admits a fixed rate and answers 429 with an
// honest Retry-After otherwise. They measure how many requests the shared
// cool-down spends per successful call.
//
// TestLoadQuick always runs and checks the property on the fixed window.
// TestLoad takes about 4s per model and runs only when asked:
//
//	RETRYHTTP_LOAD=1 go test -run Load -v -count=1 ./retryhttp

// maxRequestsPerSuccess is the bound the shared cool-down should keep.
const maxRequestsPerSuccess = 1.2

// admission decides whether the server admits a request arriving at now.
// When it does not, it sets the headers of the 429 that say when to come
// back. Calls are serialised by the server.
type admission func(now time.Time, h http.Header) bool

// loadModel is one way for the server to admit perSec requests a second.
type loadModel struct {
	name string
	new  func(start time.Time, perSec int) admission
}

var (
	tokenBucketModel = loadModel{"token_bucket", tokenBucket}
	loadModels       = []loadModel{
		{"fixed_window", fixedWindow(true)},
		{"fixed_window_seconds_only", fixedWindow(false)},
		tokenBucketModel,
	}
)

// fixedWindow admits perSec requests in each second counted from start. A
// 429 carries Retry-After in whole seconds until the window resets (rounded
// up, at least 1) and, when withMs, Retry-After-Ms with the exact
// milliseconds (rounded up).
func fixedWindow(withMs bool) func(time.Time, int) admission {
	return func(start time.Time, perSec int) admission {
		window, used := int64(-1), 0
		return func(now time.Time, h http.Header) bool {
			w := int64(now.Sub(start) / time.Second)
			if w != window {
				window, used = w, 0
			}
			if used < perSec {
				used++
				return true
			}
			left := start.Add(time.Duration(w+1) * time.Second).Sub(now)
			h.Set("Retry-After", strconv.FormatInt(max(ceilDiv(left, time.Second), 1), 10))
			if withMs {
				h.Set("Retry-After-Ms", strconv.FormatInt(ceilDiv(left, time.Millisecond), 10))
			}
			return false
		}
	}
}

// tokenBucket admits perSec requests a second with a burst of perSec/10 (at
// least 1). A 429 carries Retry-After-Ms: the time until the next token,
// rounded up.
func tokenBucket(_ time.Time, perSec int) admission {
	lim := rate.NewLimiter(rate.Limit(perSec), max(perSec/10, 1))
	return func(now time.Time, h http.Header) bool {
		if lim.AllowN(now, 1) {
			return true
		}
		missing := 1 - lim.TokensAt(now)
		wait := time.Duration(math.Ceil(missing / float64(perSec) * float64(time.Second)))
		h.Set("Retry-After-Ms", strconv.FormatInt(max(ceilDiv(wait, time.Millisecond), 1), 10))
		return false
	}
}

// ceilDiv returns d/unit rounded up, for a non-negative d.
func ceilDiv(d, unit time.Duration) int64 {
	return int64((d + unit - 1) / unit)
}

// loadServer counts what it admits (200) and rejects (429), and when.
type loadServer struct {
	mu       sync.Mutex
	start    time.Time
	admit    admission
	admitted int
	rejected int
	perSec   [][2]int // [admitted, rejected] in each second from start
}

func (s *loadServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	now := time.Now()
	ok := s.admit(now, w.Header())
	sec := int(now.Sub(s.start) / time.Second)
	for len(s.perSec) <= sec {
		s.perSec = append(s.perSec, [2]int{})
	}
	if ok {
		s.admitted++
		s.perSec[sec][0]++
	} else {
		s.rejected++
		s.perSec[sec][1]++
	}
	s.mu.Unlock()

	if !ok {
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down")
		return
	}
	io.WriteString(w, "ok")
}

type loadConfig struct {
	perSec  int // requests the server admits per second
	calls   int // successful calls to make in all
	workers int // goroutines sharing the transport
}

type loadResult struct {
	model    string
	cfg      loadConfig
	requests int // seen by the server
	rejected int
	wall     time.Duration
	p50, p99 time.Duration
	perSec   [][2]int
}

func (r loadResult) perSuccess() float64 { return float64(r.requests) / float64(r.cfg.calls) }

func (r loadResult) ideal() time.Duration {
	return time.Duration(r.cfg.calls) * time.Second / time.Duration(r.cfg.perSec)
}

// runLoad has cfg.workers goroutines make cfg.calls successful calls in all
// through one Transport, against a server of the model started now.
func runLoad(ctx context.Context, t *testing.T, m loadModel, cfg loadConfig) loadResult {
	t.Helper()
	start := time.Now()
	s := &loadServer{start: start, admit: m.new(start, cfg.perSec)}
	srv := httptest.NewServer(s) // on 127.0.0.1
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	policy := &retry.Policy{MaxAttempts: retry.Unlimited, InitialDelay: 10 * time.Millisecond,
		MaxDelay: time.Second}
	client := &http.Client{Transport: retryhttp.NewTransport(base, policy)}

	var (
		tickets  atomic.Int64 // calls claimed; a worker stops past cfg.calls
		mu       sync.Mutex
		latency  []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	began := time.Now()
	for range cfg.workers {
		wg.Go(func() {
			var mine []time.Duration
			for tickets.Add(1) <= int64(cfg.calls) {
				d, err := loadCall(ctx, client, srv.URL)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					break
				}
				mine = append(mine, d)
			}
			mu.Lock()
			latency = append(latency, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	wall := time.Since(began)
	if firstErr != nil {
		t.Fatalf("%s: a call failed: %v", m.name, firstErr)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admitted != cfg.calls {
		t.Errorf("%s: server admitted %d requests, want %d", m.name, s.admitted, cfg.calls)
	}
	slices.Sort(latency)
	return loadResult{model: m.name, cfg: cfg, requests: s.admitted + s.rejected,
		rejected: s.rejected, wall: wall, p50: percentile(latency, 0.50),
		p99: percentile(latency, 0.99), perSec: slices.Clone(s.perSec)}
}

// loadCall makes one call and reads its answer, which must be a 200.
func loadCall(ctx context.Context, client *http.Client, url string) (time.Duration, error) {
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d after %d attempts", resp.StatusCode,
			retryhttp.Attempts(resp))
	}
	return time.Since(began), nil
}

// percentile returns the q-quantile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// logLoadTable prints the results as a compact table.
func logLoadTable(t *testing.T, results []loadResult) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-26s %4s %5s %5s %4s %8s %6s %6s %7s %7s  %s\n", "model", "R/s",
		"calls", "reqs", "429", "req/succ", "wall", "ideal", "p50", "p99",
		"200/429 in each second")
	for _, r := range results {
		var secs []string
		for _, s := range r.perSec {
			secs = append(secs, fmt.Sprintf("%d/%d", s[0], s[1]))
		}
		fmt.Fprintf(&b, "%-26s %4d %5d %5d %4d %8.3f %5.2fs %5.2fs %7s %7s  %s\n", r.model,
			r.cfg.perSec, r.cfg.calls, r.requests, r.rejected, r.perSuccess(),
			r.wall.Seconds(), r.ideal().Seconds(), shortDuration(r.p50),
			shortDuration(r.p99), strings.Join(secs, " "))
	}
	t.Log(b.String())
}

// shortDuration rounds d to three significant digits or so.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// TestLoad measures every model at 100 requests a second, 400 calls and 32
// goroutines: about 4s each. It runs only with RETRYHTTP_LOAD=1.
func TestLoad(t *testing.T) {
	if os.Getenv("RETRYHTTP_LOAD") != "1" {
		t.Skip("a real-time load test (~12s); run it with " +
			"RETRYHTTP_LOAD=1 go test -run Load -v -count=1 ./retryhttp")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := loadConfig{perSec: 100, calls: 400, workers: 32}

	var results []loadResult
	for _, m := range loadModels {
		t.Run(m.name, func(t *testing.T) {
			r := runLoad(ctx, t, m, cfg)
			results = append(results, r)
			if r.perSuccess() >= maxRequestsPerSuccess {
				t.Errorf("%.3f requests per successful call, want under %.1f",
					r.perSuccess(), maxRequestsPerSuccess)
			}
		})
	}
	logLoadTable(t, results)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the load test ran out of its 30s")
	}
}

// TestLoadQuick checks the shared cool-down and pacing with small numbers
// (about 1.5s of real time), so every test run checks them. The token bucket
// is the model where they matter most: without them the transport sends
// about 3.5 requests per successful call (every caller learns of the limit
// by a 429 of its own); with them about 1.15. The bound of 1.5 separates
// the two with room for a noisy machine; TestLoad holds the full figure to
// maxRequestsPerSuccess.
func TestLoadQuick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := runLoad(ctx, t, tokenBucketModel, loadConfig{perSec: 100, calls: 150, workers: 32})
	logLoadTable(t, []loadResult{r})
	if r.perSuccess() >= 1.5 {
		t.Errorf("%.3f requests per successful call, want under 1.5", r.perSuccess())
	}
}
