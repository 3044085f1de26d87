// Command fleet measures what a shared Redis limiter buys a fleet: it starts
// an API on 127.0.0.1 that admits 20 requests a second (burst 5) and answers
// 429 beyond that, then four worker processes (itself, re-run with -worker)
// that call it through a retry policy, first each with a limiter of its own
// at that rate, then all sharing one redislimit.Limiter. It prints, for each
// run, the requests per completed call and the busiest one-second window.
//
//	go run ./cmd/fleet -redis 127.0.0.1:6379
package main

import (
	"context"
	"flag"
	"fmt"
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
)

const (
	interval = 50 * time.Millisecond // R = 20 calls a second
	burst    = 5
	workers  = 4
)

func main() {
	worker := flag.String("worker", "", "run as a worker calling this API URL")
	mode := flag.String("mode", "shared", "worker limiter: shared or local")
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
	for _, m := range []string{"local", "shared"} {
		if err := measure(m, *redisAddr, *calls); err != nil {
			log.Fatal(err)
		}
	}
}

// api counts the requests of each one-second window and admits them at the
// fleet's rate.
type api struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	windows map[int64]int
	total   int
}

func (a *api) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	a.windows[time.Now().Unix()]++
	a.total++
	ok := a.lim.Allow()
	a.mu.Unlock()
	if !ok {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

// measure runs one fleet and prints its figures.
func measure(mode, redisAddr string, calls int) error {
	a := &api{lim: rate.NewLimiter(rate.Every(interval), burst), windows: map[int64]int{}}
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
	fmt.Printf("%-6s limiter: %d calls completed in %v, %d requests, "+
		"%.2f requests per call, worst 1s window %d (R+burst = %d)\n",
		mode, completed, time.Since(start).Round(time.Millisecond), a.total,
		float64(a.total)/float64(max(completed, 1)), worst, int(time.Second/interval)+burst)
	return nil
}

// runWorker makes calls through a retry policy, eight at a time, and
// returns how many succeeded.
func runWorker(url, mode, key, redisAddr string, calls int) (int, error) {
	var lim retry.Limiter
	if mode == "shared" {
		client := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer client.Close()
		l, err := redislimit.New(client, key, interval, burst)
		if err != nil {
			return 0, err
		}
		lim = l
	} else {
		l, err := retry.NewRateLimiter(interval, burst)
		if err != nil {
			return 0, err
		}
		lim = l
	}
	policy := &retry.Policy{MaxAttempts: 20, InitialDelay: 100 * time.Millisecond,
		MaxDelay: 2 * time.Second, MaxServerDelay: 2 * time.Second, Limiter: lim}

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
			err := policy.Do(context.Background(), func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				return retry.NewStatusError(resp)
			})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, nil
}
