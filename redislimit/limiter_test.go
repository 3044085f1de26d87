package redislimit_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry/redislimit"
)

// These tests talk to a real redis-server, as those of package redisstore
// do. RETRY_REDIS_ADDR says where it listens; with RETRY_REQUIRE_REDIS=1 a
// missing server (or redis-server binary) fails the tests instead of
// skipping them.
const (
	addrEnv      = "RETRY_REDIS_ADDR"
	requireEnv   = "RETRY_REQUIRE_REDIS"
	defaultAddr  = "127.0.0.1:6379"
	startCommand = "apt-get install redis-server && " +
		"redis-server --port 6379 --bind 127.0.0.1 --save '' --daemonize yes"
)

func TestMain(m *testing.M) {
	redis.SetLogger(verboseLogger{})
	goleak.VerifyTestMain(m)
}

// verboseLogger shows the client's own log lines, such as the failed dials
// of TestFallbackAndRecovery, only under go test -v.
type verboseLogger struct{}

func (verboseLogger) Printf(_ context.Context, format string, v ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, format+"\n", v...)
	}
}

var serverAddr = cmp.Or(os.Getenv(addrEnv), defaultAddr)

// probe says whether a server answers PING at serverAddr within a second. It
// runs once: without a server every test would otherwise wait its own second.
var probe = sync.OnceValue(func() error {
	client := redis.NewClient(&redis.Options{Addr: serverAddr, DialTimeout: time.Second,
		ReadTimeout: time.Second, DialerRetries: 1, MaxRetries: -1})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
})

// skipOrFail skips the test with msg, or fails it under RETRY_REQUIRE_REDIS=1.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s\n(%s=1 makes this a failure)", msg, requireEnv)
	}
	t.Skip(msg)
}

// newClient returns a client of the test server, closed when the test ends,
// or skips the test when no server answers PING.
func newClient(t *testing.T) *redis.Client {
	t.Helper()
	if err := probe(); err != nil {
		skipOrFail(t, fmt.Sprintf("no redis-server answers PING at %s: %v\n"+
			"start one with: %s\nor set %s=host:port", serverAddr, err, startCommand, addrEnv))
	}
	client := redis.NewClient(&redis.Options{Addr: serverAddr})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// uniqueKey returns a key no other test or run uses, deleted when the test
// ends.
func uniqueKey(t *testing.T, client *redis.Client) string {
	t.Helper()
	key := fmt.Sprintf("retrytest:%s:%016x", t.Name(), rand.Uint64())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Del(ctx, key).Err()
	})
	return key
}

// newLimiters returns n limiters on one fresh key, each with a client of
// its own, as n processes would have.
func newLimiters(t *testing.T, n int, interval time.Duration, burst int) []*redislimit.Limiter {
	t.Helper()
	key := uniqueKey(t, newClient(t))
	lims := make([]*redislimit.Limiter, n)
	for i := range lims {
		lim, err := redislimit.New(newClient(t), key, interval, burst,
			redislimit.WithTimeout(time.Second))
		require.NoError(t, err)
		lims[i] = lim
	}
	return lims
}

func TestNew(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()

	tests := []struct {
		name         string
		giveClient   redis.UniversalClient
		giveKey      string
		giveInterval time.Duration
		giveBurst    int
		giveOpts     []redislimit.Option
		wantErr      string
	}{
		{name: "ok", giveClient: client, giveKey: "k", giveInterval: time.Second, giveBurst: 1},
		{name: "nil_client", giveKey: "k", giveInterval: time.Second, giveBurst: 1,
			wantErr: "retry: redis limiter client is nil"},
		{name: "typed_nil_client", giveClient: (*redis.Client)(nil), giveKey: "k",
			giveInterval: time.Second, giveBurst: 1,
			wantErr: "retry: redis limiter client is nil"},
		{name: "empty_key", giveClient: client, giveInterval: time.Second, giveBurst: 1,
			wantErr: "retry: redis limiter key is empty"},
		{name: "burst_overflows", giveClient: client, giveKey: "k", giveInterval: time.Second,
			giveBurst: math.MaxInt, wantErr: "retry: redis limiter burst 9223372036854775807 " +
				"with interval 1s spans more than 2^53 µs (about 285 years); " +
				"use a burst of at most 9007199255"},
		{name: "burst_past_exact", giveClient: client, giveKey: "k",
			giveInterval: 8760 * time.Hour, giveBurst: math.MaxInt32,
			wantErr: "retry: redis limiter burst 2147483647 with interval 8760h0m0s spans " +
				"more than 2^53 µs (about 285 years); use a burst of at most 286"},
		{name: "zero_interval", giveClient: client, giveKey: "k", giveBurst: 1,
			wantErr: "retry: rate limiter interval 0s must be positive"},
		{name: "zero_burst", giveClient: client, giveKey: "k", giveInterval: time.Second,
			wantErr: "retry: rate limiter burst 0 must be at least 1"},
		{name: "bad_timeout", giveClient: client, giveKey: "k", giveInterval: time.Second,
			giveBurst: 1, giveOpts: []redislimit.Option{redislimit.WithTimeout(0)},
			wantErr: "retry: redislimit WithTimeout 0s must be positive"},
		{name: "bad_probe", giveClient: client, giveKey: "k", giveInterval: time.Second,
			giveBurst: 1, giveOpts: []redislimit.Option{redislimit.WithProbeInterval(-1)},
			wantErr: "retry: redislimit WithProbeInterval -1ns must be positive"},
		{name: "bad_fallback", giveClient: client, giveKey: "k", giveInterval: time.Second,
			giveBurst: 1, giveOpts: []redislimit.Option{redislimit.WithFallback(time.Second, 0)},
			wantErr: "retry: redis limiter fallback: " +
				"retry: rate limiter burst 0 must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := redislimit.New(tt.giveClient, tt.giveKey, tt.giveInterval, tt.giveBurst,
				tt.giveOpts...)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				assert.Nil(t, lim)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, `1 call every 1s, burst 1, shared in Redis key "k"`, lim.String())
		})
	}
}

func TestNilLimiter(t *testing.T) {
	var lim *redislimit.Limiter
	_, _, err := lim.Reserve(time.Now())
	assert.EqualError(t, err, "retry: redis limiter not made by New")
}

// TestSpacing has four limiters, as four processes would, reserve forty
// slots at once: every caller gets a slot of its own, one interval apart.
func TestSpacing(t *testing.T) {
	const (
		interval = 20 * time.Millisecond
		calls    = 40
	)
	lims := newLimiters(t, 4, interval, 1)

	type got struct {
		wait      time.Duration
		slot, now time.Time
	}
	var (
		mu   sync.Mutex
		gots []got
		wg   sync.WaitGroup
	)
	for i := range calls {
		wg.Go(func() {
			wait, slot, now, err := redislimit.ReserveInRedis(lims[i%len(lims)])
			assert.NoError(t, err)
			mu.Lock()
			gots = append(gots, got{wait, slot, now})
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, gots, calls)

	// The slots, on the server's clock, are exactly one interval apart.
	slices.SortFunc(gots, func(a, b got) int { return a.slot.Compare(b.slot) })
	for i := 1; i < calls; i++ {
		assert.Equal(t, interval, gots[i].slot.Sub(gots[i-1].slot), "slot %d", i)
	}

	// The waits differ from that only by when the server ran each call.
	first := slices.MinFunc(gots, func(a, b got) int { return a.now.Compare(b.now) }).now
	last := slices.MaxFunc(gots, func(a, b got) int { return a.now.Compare(b.now) }).now
	spread := last.Sub(first) + time.Microsecond
	waits := make([]time.Duration, calls)
	for i, g := range gots {
		waits[i] = g.wait
	}
	slices.Sort(waits)
	assert.Zero(t, waits[0])
	for i := 1; i < calls; i++ {
		assert.InDelta(t, interval, waits[i]-waits[i-1], float64(spread), "wait %d", i)
	}
}

// TestClockSkew passes each limiter a wildly different now: the server's
// clock alone decides, so the spacing holds.
func TestClockSkew(t *testing.T) {
	const interval = 50 * time.Millisecond
	lims := newLimiters(t, 4, interval, 1)
	nows := []time.Time{time.Unix(0, 0), time.Now().Add(365 * 24 * time.Hour),
		time.Now().Add(-time.Hour), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}

	start := time.Now()
	var waits []time.Duration
	for i := range 20 {
		wait, _, err := lims[i%4].Reserve(nows[i%4])
		require.NoError(t, err)
		waits = append(waits, wait)
	}
	elapsed := time.Since(start)

	// Made one after another, each wait is one interval longer than the one
	// before, less the time the calls took.
	for i := 1; i < len(waits); i++ {
		assert.InDelta(t, interval, waits[i]-waits[i-1], float64(elapsed), "wait %d", i)
	}
	assert.InDelta(t, 19*interval, waits[19], float64(elapsed))
}

// TestBurst checks that a quiet bucket admits burst calls at once, and that
// cancel gives back the latest slot and only that one.
func TestBurst(t *testing.T) {
	const (
		interval = time.Second // long, so the bucket does not refill meanwhile
		burst    = 3
		slack    = 200 * time.Millisecond
	)
	lim := newLimiters(t, 1, interval, burst)[0]
	now := time.Now()
	reserve := func() (time.Duration, func(time.Time)) {
		t.Helper()
		wait, cancel, err := lim.Reserve(now)
		require.NoError(t, err)
		return wait, cancel
	}

	for i := range burst {
		wait, cancel := reserve()
		assert.Zero(t, wait, "call %d of the burst", i+1)
		assert.Nil(t, cancel, "call %d of the burst", i+1)
	}
	wait, _ := reserve()
	assert.InDelta(t, 1*interval, wait, float64(slack))

	// The latest slot goes back, so the next caller gets it again.
	wait, cancel := reserve()
	assert.InDelta(t, 2*interval, wait, float64(slack))
	cancel(now)
	wait, _ = reserve()
	assert.InDelta(t, 2*interval, wait, float64(slack), "after cancel of the latest")

	// A slot with another behind it stays taken.
	wait, cancel = reserve()
	assert.InDelta(t, 3*interval, wait, float64(slack))
	wait, _ = reserve()
	assert.InDelta(t, 4*interval, wait, float64(slack))
	cancel(now)
	wait, _ = reserve()
	assert.InDelta(t, 5*interval, wait, float64(slack), "after cancel of an earlier one")
}

// server is a redis-server of the test's own, which it can stop and start.
type server struct {
	t    *testing.T
	port string
}

// startServer starts a redis-server on a free port of 127.0.0.1, stopped
// when the test ends, or skips the test when redis-server is not installed.
func startServer(t *testing.T) *server {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, fmt.Sprintf("%s is not installed: %v\ninstall it with: "+
				"apt-get install redis-server", bin, err))
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())

	s := &server{t: t, port: port}
	s.start()
	t.Cleanup(func() { _ = exec.Command("redis-cli", "-p", port, "shutdown", "nosave").Run() })
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + s.port }

// start starts the server and waits until it answers PING.
func (s *server) start() {
	s.t.Helper()
	out, err := exec.Command("redis-server", "--port", s.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "yes").CombinedOutput()
	require.NoError(s.t, err, "%s", out)
	require.Eventually(s.t, func() bool {
		return exec.Command("redis-cli", "-p", s.port, "ping").Run() == nil
	}, 5*time.Second, 10*time.Millisecond, "redis-server on port %s did not start", s.port)
}

// stop shuts the server down and waits until its port is closed.
func (s *server) stop() {
	s.t.Helper()
	_ = exec.Command("redis-cli", "-p", s.port, "shutdown", "nosave").Run()
	require.Eventually(s.t, func() bool {
		c, err := net.Dial("tcp", s.addr())
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "redis-server on port %s did not stop", s.port)
}

// TestFallbackAndRecovery kills the limiter's Redis mid-run: Reserve keeps
// answering at once from the local limiter, and goes back to Redis once the
// server is back.
func TestFallbackAndRecovery(t *testing.T) {
	const (
		timeout = 50 * time.Millisecond
		probe   = 100 * time.Millisecond
	)
	srv := startServer(t)
	// A client that gives up at once on a refused connection, so that its
	// own goroutines are gone when goleak looks.
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), DialTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })

	var fellBack, recovered atomic.Int32
	var lastErr atomic.Value
	// A long interval keeps the key alive while the test looks for it, and
	// a large burst keeps every reservation free.
	lim, err := redislimit.New(client, "retrytest:fallback", 10*time.Second, 1000,
		redislimit.WithTimeout(timeout), redislimit.WithProbeInterval(probe),
		redislimit.WithOnFallback(func(err error) { fellBack.Add(1); lastErr.Store(err) }),
		redislimit.WithOnRecover(func() { recovered.Add(1) }))
	require.NoError(t, err)

	inRedis := func() bool {
		t.Helper()
		c := redis.NewClient(&redis.Options{Addr: srv.addr()})
		defer c.Close()
		n, err := c.Exists(context.Background(), "retrytest:fallback").Result()
		require.NoError(t, err)
		return n == 1
	}
	reserve := func() time.Duration {
		t.Helper()
		start := time.Now()
		_, _, err := lim.Reserve(start)
		took := time.Since(start)
		require.NoError(t, err)
		assert.Less(t, took, timeout+100*time.Millisecond, "Reserve took too long")
		return took
	}

	reserve()
	assert.True(t, inRedis(), "a reservation before the kill must go to Redis")
	srv.stop()

	// Run for several probe intervals: each probe fails again, but the
	// hook fires once, and calls between probes do not touch Redis.
	var slow int
	for end := time.Now().Add(4 * probe); time.Now().Before(end); {
		if reserve() > 10*time.Millisecond {
			slow++
		}
		time.Sleep(time.Millisecond)
	}
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	assert.Zero(t, recovered.Load(), "recover hook calls")
	assert.LessOrEqual(t, slow, 6, "calls slower than 10ms while Redis is down")
	if err, _ := lastErr.Load().(error); assert.Error(t, err) {
		t.Logf("fallback reason: %v", err)
	}

	srv.start()
	require.Eventually(t, func() bool {
		reserve()
		return recovered.Load() > 0
	}, 5*time.Second, time.Millisecond, "recover hook did not fire")
	reserve()
	assert.True(t, inRedis(), "reservations after recovery must go to Redis")
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	assert.EqualValues(t, 1, recovered.Load(), "recover hook calls")
}
