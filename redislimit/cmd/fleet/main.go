// Command fleet measures what sharing state in Redis buys a fleet of four
// worker processes (itself, re-run with -worker) calling one API on
// 127.0.0.1 that admits 20 requests a second. It prints, for each run, the
// requests per completed call, the 429s, and the busiest one-second window.
//
// Against a token bucket (burst 5, "Retry-After: 1" on a 429), the workers
// call through a retry policy, first each with a limiter of its own at that
// rate (local), then all sharing one redislimit.Limiter (shared).
//
// Against a fixed window that resets every second and says so as GitHub
// does (X-RateLimit-Remaining and X-RateLimit-Reset on every answer), the
// workers call through retryhttp's transport: each on its own (transport),
// then sharing the pauses through redislimit.Pauses (pauses), then sharing
// the pauses, a limiter and a retry budget (fleet).
//
//	go run ./cmd/fleet -redis 127.0.0.1:6379
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/redislimit"
	"github.com/deb4e658/retry/retryhttp"
)

const (
	interval = 50 * time.Millisecond // R = 20 calls a second
	burst    = 5
	workers  = 4
)

func main() {
	worker := flag.String("worker", "", "run as a worker calling this API URL")
	mode := flag.String("mode", "shared",
		"worker mode: local, shared, transport, pauses or fleet")
	key := flag.String("key", "", "Redis key of the shared limiter")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	calls := flag.Int("calls", 40, "calls per worker")
	flag.Parse()

	if *worker != "" {
		n, err := runWorker(*worker, *mode, *key, *redisAddr, *calls)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n)
		return
	}
	for _, m := range []string{"local", "shared", "transport", "pauses", "fleet"} {
		if err := measure(m, *redisAddr, *calls); err != nil {
			log.Fatal(err)
		}
	}
}

// api counts the requests of each one-second window and admits them at the
// fleet's rate: through a token bucket, or in fixed windows of a second
// that it announces on every answer.
type api struct {
	window bool // a fixed window, as GitHub's; else a token bucket

	mu       sync.Mutex
	lim      *rate.Limiter
	windows  map[int64]int // requests seen in each second
	arrivals []time.Time   // every request, for the sliding windows
	admitted map[int64]int // requests admitted in each second (fixed window)
	total    int
	rejected int
}

func newAPI(window bool) *api {
	return &api{window: window, lim: rate.NewLimiter(rate.Every(interval), burst),
		windows: map[int64]int{}, admitted: map[int64]int{}}
}

func (a *api) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	sec := now.Unix()
	a.mu.Lock()
	a.windows[sec]++
	a.arrivals = append(a.arrivals, now)
	a.total++
	var ok bool
	left := 0
	if a.window {
		ok = a.admitted[sec] < quota
		if ok {
			a.admitted[sec]++
		}
		left = quota - a.admitted[sec]
	} else {
		ok = a.lim.Allow()
	}
	if !ok {
		a.rejected++
	}
	a.mu.Unlock()

	if a.window {
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(quota))
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(left))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(sec+1, 10))
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	}
	if !ok {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

// quota is the fixed window's admissions a second: the bucket's rate.
const quota = int(time.Second / interval)

// measure runs one fleet and prints its figures.
func measure(mode, redisAddr string, calls int) error {
	a := newAPI(mode != "local" && mode != "shared")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a}
	go srv.Serve(ln)
	defer srv.Close()

	key := fmt.Sprintf("fleet:%016x", rand.Uint64())
	start := time.Now()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		completed int
		errs      []error
	)
	for range workers {
		wg.Go(func() {
			out, err := exec.Command(os.Args[0], "-worker", "http://"+ln.Addr().String(),
				"-mode", mode, "-key", key, "-redis", redisAddr,
				"-calls", strconv.Itoa(calls)).Output()
			n, perr := strconv.Atoi(strings.TrimSpace(string(out)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil || perr != nil {
				errs = append(errs, fmt.Errorf("worker: %v %v", err, perr))
			}
			completed += n
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}

	// The first and last windows are partial; every one counts for the worst.
	a.mu.Lock()
	defer a.mu.Unlock()
	worst := 0
	for _, n := range a.windows {
		worst = max(worst, n)
	}
	sliding := 0 // the most requests in any second, wherever it starts
	for i, j := 0, 0; j < len(a.arrivals); j++ {
		for a.arrivals[j].Sub(a.arrivals[i]) >= time.Second {
			i++
		}
		sliding = max(sliding, j-i+1)
	}
	allowed := quota + burst
	server := "token bucket"
	if a.window {
		allowed, server = quota, "fixed window"
	}
	fmt.Printf("%-9s vs %s: %d calls completed in %v, %d requests, "+
		"%.2f requests per call, %d answered 429, worst clock second %d, "+
		"worst sliding second %d (admits %d)\n",
		mode, server, completed, time.Since(start).Round(time.Millisecond), a.total,
		float64(a.total)/float64(max(completed, 1)), a.rejected, worst, sliding, allowed)
	return nil
}

// runWorker makes calls, eight at a time, and returns how many succeeded.
func runWorker(url, mode, key, redisAddr string, calls int) (int, error) {
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	call, err := caller(url, mode, key, client)
	if err != nil {
		return 0, err
	}

	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	sem := make(chan struct{}, 8)
	for range calls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if call() == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, nil
}

// caller returns the function that makes one call in the given mode.
func caller(url, mode, key string, client *redis.Client) (func() error, error) {
	policy := &retry.Policy{MaxAttempts: 20, InitialDelay: 100 * time.Millisecond,
		MaxDelay: 2 * time.Second, MaxServerDelay: 2 * time.Second}
	var err error
	switch mode {
	case "local":
		policy.Limiter, err = retry.NewRateLimiter(interval, burst)
	case "shared", "fleet":
		policy.Limiter, err = redislimit.New(client, key+":limit", interval, burst)
	}
	if err != nil {
		return nil, err
	}
	if mode == "local" || mode == "shared" {
		return func() error { return policy.Do(context.Background(), plainCall(url)) }, nil
	}

	var opts []retryhttp.Option
	if mode == "pauses" || mode == "fleet" {
		pauses, err := redislimit.NewPauses(client, key+":pause:")
		if err != nil {
			return nil, err
		}
		opts = append(opts, retryhttp.WithSharedPauses(pauses))
	}
	if mode == "fleet" {
		if policy.Budget, err = redislimit.NewBudget(client, key+":budget", 0.2, 1); err != nil {
			return nil, err
		}
	}
	httpClient := &http.Client{Transport: retryhttp.NewTransport(nil, policy, opts...)}
	return func() error {
		resp, err := httpClient.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return retryhttp.ResponseError(resp)
	}, nil
}

// plainCall is one call through http.DefaultClient, its status an error.
func plainCall(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return retry.NewStatusError(resp)
	}
}
