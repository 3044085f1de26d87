package redislimit_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/redislimit"
)

// newBudgets returns n budgets on one fresh key, each with a client of its
// own, as n processes would have.
func newBudgets(t *testing.T, n int, ratio, minPerSecond float64) []*redislimit.Budget {
	t.Helper()
	key := uniqueKey(t, newClient(t))
	budgets := make([]*redislimit.Budget, n)
	for i := range budgets {
		b, err := redislimit.NewBudget(newClient(t), key, ratio, minPerSecond,
			redislimit.WithTimeout(time.Second))
		require.NoError(t, err)
		budgets[i] = b
	}
	return budgets
}

// budgetCounts sums the fields of a budget's hash, as the script does.
func budgetCounts(t *testing.T, client *redis.Client, key string) (successes, retries int) {
	t.Helper()
	fields, err := client.HGetAll(context.Background(), key).Result()
	require.NoError(t, err)
	for f, v := range fields {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "field %s", f)
		switch {
		case strings.HasPrefix(f, "s:"):
			successes += n
		case strings.HasPrefix(f, "r:"):
			retries += n
		default:
			t.Errorf("unexpected field %q", f)
		}
	}
	return successes, retries
}

func TestNewBudget(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()

	tests := []struct {
		name       string
		giveClient redis.UniversalClient
		giveKey    string
		giveRatio  float64
		giveMin    float64
		giveOpts   []redislimit.Option
		wantErr    string
	}{
		{name: "ok", giveClient: client, giveKey: "k", giveRatio: 0.1, giveMin: 1},
		{name: "nil_client", giveKey: "k", giveRatio: 0.1, giveMin: 1,
			wantErr: "retry: redis budget client is nil"},
		{name: "typed_nil_client", giveClient: (*redis.Client)(nil), giveKey: "k",
			giveRatio: 0.1, giveMin: 1, wantErr: "retry: redis budget client is nil"},
		{name: "empty_key", giveClient: client, giveRatio: 0.1, giveMin: 1,
			wantErr: "retry: redis budget key is empty"},
		{name: "negative_ratio", giveClient: client, giveKey: "k", giveRatio: -1, giveMin: 1,
			wantErr: "retry: budget ratio -1 must be zero or more and finite"},
		{name: "nan_ratio", giveClient: client, giveKey: "k", giveRatio: math.NaN(), giveMin: 1,
			wantErr: "retry: budget ratio NaN must be zero or more and finite"},
		{name: "infinite_min", giveClient: client, giveKey: "k", giveRatio: 0.1,
			giveMin: math.Inf(1),
			wantErr: "retry: budget minPerSecond +Inf must be zero or more and finite"},
		{name: "fallback_given", giveClient: client, giveKey: "k", giveRatio: 0.1, giveMin: 1,
			giveOpts: []redislimit.Option{redislimit.WithFallback(time.Second, 1)},
			wantErr:  "retry: redis budget: WithFallback applies to a Limiter, not a Budget"},
		{name: "zero_timeout", giveClient: client, giveKey: "k", giveRatio: 0.1, giveMin: 1,
			giveOpts: []redislimit.Option{redislimit.WithTimeout(0)},
			wantErr:  "retry: redislimit WithTimeout 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := redislimit.NewBudget(tt.giveClient, tt.giveKey, tt.giveRatio, tt.giveMin,
				tt.giveOpts...)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				assert.Nil(t, b)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, `0.1 retries per success plus 1 a second over 10s, `+
				`shared in Redis key "k"`, b.String())
		})
	}
}

// TestNilBudget checks that a Budget not made by NewBudget behaves like a
// nil *retry.Budget: it counts nothing and allows every retry.
func TestNilBudget(t *testing.T) {
	for _, b := range []*redislimit.Budget{nil, {}} {
		b.Deposit(time.Now())
		assert.True(t, b.Withdraw(time.Now()))
		assert.Equal(t, "no retry budget", b.String())
	}
}

// TestBudgetShared deposits successes through one budget and withdraws
// through another on the same key, as two processes would: ratio 0.5 makes
// ten successes worth five retries, fleet-wide.
func TestBudgetShared(t *testing.T) {
	budgets := newBudgets(t, 2, 0.5, 0)
	a, b := budgets[0], budgets[1]
	now := time.Now()

	assert.False(t, b.Withdraw(now), "no success yet, and no floor")
	for range 10 {
		a.Deposit(now)
	}
	require.True(t, redislimit.SendDeposits(a))
	for i := range 5 {
		assert.True(t, b.Withdraw(now), "retry %d of 5", i+1)
	}
	assert.False(t, b.Withdraw(now), "retry 6 of 5")
	assert.False(t, a.Withdraw(now), "the other process must find the budget spent too")
}

// TestBudgetKey checks what the budget leaves in Redis: one hash of counts
// per second that expires soon after the window.
func TestBudgetKey(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t, client)
	b, err := redislimit.NewBudget(client, key, 0.5, 0)
	require.NoError(t, err)

	for range 4 {
		b.Deposit(time.Now())
	}
	assert.True(t, b.Withdraw(time.Now()))
	successes, retries := budgetCounts(t, client, key)
	assert.Equal(t, 4, successes)
	assert.Equal(t, 1, retries)

	ttl, err := client.PTTL(context.Background(), key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 10*time.Second)
	assert.LessOrEqual(t, ttl, 11*time.Second)
}

// TestBudgetFloor checks that with no success at all the fleet shares
// minPerSecond retries a second over the window, and no more.
func TestBudgetFloor(t *testing.T) {
	budgets := newBudgets(t, 2, 0.5, 0.5) // a floor of 5 retries in 10s
	now := time.Now()
	for i := range 5 {
		assert.True(t, budgets[i%2].Withdraw(now), "retry %d of 5", i+1)
	}
	assert.False(t, budgets[0].Withdraw(now), "retry 6 of 5")
	assert.False(t, budgets[1].Withdraw(now), "retry 7 of 5")
}

// TestBudgetConcurrent has four budgets withdraw from a floor of 20 at once,
// 100 times: exactly 20 get a retry, as the script runs atomically.
func TestBudgetConcurrent(t *testing.T) {
	budgets := newBudgets(t, 4, 0, 2)
	now := time.Now()
	var (
		took atomic.Int32
		wg   sync.WaitGroup
	)
	for i := range 100 {
		wg.Go(func() {
			if budgets[i%len(budgets)].Withdraw(now) {
				took.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 20, took.Load())
}

// countScripts counts the scripts a client runs.
type countScripts struct{ n atomic.Int32 }

func (c *countScripts) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *countScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *countScripts) ProcessPipelineHook(
	next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBudgetBatchesDeposits deposits as fast as it can for a quarter of a
// second: a round trip goes to Redis about every 100ms, not one a call, and
// no deposit is lost on the way.
func TestBudgetBatchesDeposits(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t, client)
	counter := &countScripts{}
	client.AddHook(counter)
	b, err := redislimit.NewBudget(client, key, 0.1, 0, redislimit.WithTimeout(time.Second))
	require.NoError(t, err)

	start := time.Now()
	var deposits int
	for time.Since(start) < 250*time.Millisecond {
		b.Deposit(start)
		deposits++
	}
	elapsed := time.Since(start)
	require.Greater(t, deposits, 100)

	// One at the first deposit, then one every 100ms at most. A script
	// that Redis did not know yet costs one more command, EVAL after
	// EVALSHA, hence the slack of one.
	maxSends := 1 + int(elapsed/(100*time.Millisecond))
	assert.LessOrEqual(t, int(counter.n.Load()), maxSends+1, "%d deposits in %v",
		deposits, elapsed)

	require.True(t, redislimit.SendDeposits(b))
	successes, _ := budgetCounts(t, client, key)
	assert.Equal(t, deposits, successes)
}

// TestBudgetClockSkew passes each budget a wildly different now: the
// server's clock alone decides, so the shared answer stays the same.
func TestBudgetClockSkew(t *testing.T) {
	budgets := newBudgets(t, 3, 0.5, 0)
	nows := []time.Time{time.Unix(0, 0), time.Now().Add(3 * time.Hour),
		time.Now().Add(-5 * time.Hour)}

	for i := range 6 {
		budgets[i%3].Deposit(nows[i%3])
	}
	for _, b := range budgets {
		require.True(t, redislimit.SendDeposits(b))
	}
	for i := range 3 {
		assert.True(t, budgets[(i+1)%3].Withdraw(nows[i%3]), "retry %d of 3", i+1)
	}
	for i, b := range budgets {
		assert.False(t, b.Withdraw(nows[i]), "budget %d after 3 of 3", i)
	}
}

// TestBudgetStopsPolicy runs a policy whose every attempt fails transiently:
// only the shared budget stops it, with ErrRetryBudget, once the two
// retries that four successes elsewhere earned are spent.
func TestBudgetStopsPolicy(t *testing.T) {
	budgets := newBudgets(t, 2, 0.5, 0)
	for range 4 {
		budgets[0].Deposit(time.Now())
	}
	require.True(t, redislimit.SendDeposits(budgets[0]))

	p := &retry.Policy{Budget: budgets[1], MaxAttempts: retry.Unlimited,
		InitialDelay: retry.NoDelay, AttemptTimeout: retry.Unlimited}
	errFlaky := errors.New("flaky")
	var calls int
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.Retryable(errFlaky)
	})

	require.ErrorIs(t, err, retry.ErrRetryBudget)
	assert.ErrorIs(t, err, errFlaky)
	assert.Equal(t, 3, calls, "one call and the two retries the budget allows")
	var rerr *retry.Error
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, 3, rerr.Attempts)
}

// TestBudgetFallbackAndRecovery kills the budget's Redis mid-run: Withdraw
// and Deposit keep answering at once from the local budget, and the shared
// counts serve again once the server is back.
func TestBudgetFallbackAndRecovery(t *testing.T) {
	const (
		timeout = 50 * time.Millisecond
		probe   = 50 * time.Millisecond
		key     = "retrytest:budget-fallback"
	)
	srv := startServer(t)
	// A client that gives up at once on a refused connection, so that its
	// own goroutines are gone when goleak looks.
	newSrvClient := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.addr(),
			DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
			DialerRetries: 1, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	var fellBack, recovered atomic.Int32
	var lastErr atomic.Value
	b, err := redislimit.NewBudget(newSrvClient(), key, 0.5, 0,
		redislimit.WithTimeout(timeout), redislimit.WithProbeInterval(probe),
		redislimit.WithOnFallback(func(err error) { fellBack.Add(1); lastErr.Store(err) }),
		redislimit.WithOnRecover(func() { recovered.Add(1) }))
	require.NoError(t, err)

	// One instant for the local budget throughout, so its window holds
	// every count of the test.
	now := time.Now()
	timed := func(f func()) time.Duration {
		t.Helper()
		start := time.Now()
		f()
		took := time.Since(start)
		assert.Less(t, took, timeout+100*time.Millisecond, "call took too long")
		return took
	}
	withdraw := func() (ok bool) {
		t.Helper()
		timed(func() { ok = b.Withdraw(now) })
		return ok
	}
	deposit := func() {
		t.Helper()
		timed(func() { b.Deposit(now) })
	}

	// In Redis: four successes, two retries.
	for range 4 {
		deposit()
	}
	assert.True(t, withdraw())
	assert.True(t, withdraw())
	assert.False(t, withdraw())
	successes, retries := budgetCounts(t, newSrvClient(), key)
	assert.Equal(t, 4, successes)
	assert.Equal(t, 2, retries)
	srv.stop()

	// The local budget knows the same four successes and two retries, and
	// counts the successes that come while Redis is down.
	assert.False(t, withdraw(), "the local budget must know the retries already made")
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	deposit()
	deposit()
	assert.True(t, withdraw(), "two more successes must earn one retry locally")
	assert.False(t, withdraw())

	// Run for several probe intervals: each probe fails again, but the
	// hook fires once, and calls between probes do not touch Redis.
	var slow int
	for end := time.Now().Add(4 * probe); time.Now().Before(end); {
		if timed(func() { assert.False(t, b.Withdraw(now)) }) > 10*time.Millisecond {
			slow++
		}
		time.Sleep(time.Millisecond)
	}
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	assert.Zero(t, recovered.Load(), "recover hook calls")
	assert.LessOrEqual(t, slow, 6, "calls slower than 10ms while Redis is down")
	if err, _ := lastErr.Load().(error); assert.Error(t, err) {
		assert.Contains(t, err.Error(), `retry: redis budget key "retrytest:budget-fallback"`)
		t.Logf("fallback reason: %v", err)
	}

	// The server comes back empty; the probe finds no success there.
	srv.start()
	require.Eventually(t, func() bool {
		withdraw()
		return recovered.Load() > 0
	}, 5*time.Second, time.Millisecond, "recover hook did not fire")
	assert.EqualValues(t, 1, recovered.Load(), "recover hook calls")

	// Successes of another process reach b again, where the local budget
	// (spent) would refuse.
	other, err := redislimit.NewBudget(newSrvClient(), key, 0.5, 0)
	require.NoError(t, err)
	other.Deposit(now)
	other.Deposit(now)
	require.True(t, redislimit.SendDeposits(other))
	assert.True(t, withdraw(), "the shared budget must serve after recovery")
	assert.False(t, withdraw())
	assert.EqualValues(t, 1, fellBack.Load(), "fallback hook calls")
	assert.EqualValues(t, 1, recovered.Load(), "recover hook calls")
}
