package redisstore_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/redisstore"
)

// These tests talk to a real redis-server. RETRY_REDIS_ADDR says where it
// listens; with RETRY_REQUIRE_REDIS=1 (as in CI) a missing server fails the
// tests instead of skipping them.
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
// TestServerGone causes on purpose, only under go test -v.
type verboseLogger struct{}

func (verboseLogger) Printf(_ context.Context, format string, v ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, format+"\n", v...)
	}
}

// serverAddr is where the test server listens.
var serverAddr = cmp.Or(os.Getenv(addrEnv), defaultAddr)

// probe says whether a server answers PING at serverAddr within a second. It
// runs once: without a server every test would otherwise wait its own second.
var probe = sync.OnceValue(func() error {
	// One dial, no retries: a refused connection answers at once.
	client := redis.NewClient(&redis.Options{Addr: serverAddr, DialTimeout: time.Second,
		ReadTimeout: time.Second, DialerRetries: 1, MaxRetries: -1})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
})

// newClient returns a client of the test server, closed when the test ends,
// or skips the test (fails it, under RETRY_REQUIRE_REDIS=1) when no server
// answers PING within a second.
func newClient(t *testing.T) *redis.Client {
	t.Helper()
	if err := probe(); err != nil {
		msg := fmt.Sprintf("no redis-server answers PING at %s: %v\n"+
			"start one with: %s\nor set %s=host:port", serverAddr, err, startCommand, addrEnv)
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s\n(%s=1 makes this a failure)", msg, requireEnv)
		}
		t.Skip(msg)
	}

	client := redis.NewClient(&redis.Options{Addr: serverAddr})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// uniquePrefix returns a key prefix no other test or run uses, and deletes
// every key under it when the test ends (before the client is closed).
func uniquePrefix(t *testing.T, client *redis.Client) string {
	t.Helper()
	prefix := fmt.Sprintf("retrytest:%s:%016x:", t.Name(), rand.Uint64())
	t.Cleanup(func() { deleteKeys(t, client, prefix) })
	return prefix
}

// deleteKeys deletes the keys that start with prefix.
func deleteKeys(t *testing.T, client *redis.Client, prefix string) {
	t.Helper()
	// t.Context is already canceled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A test name may hold glob characters; SCAN must match them literally.
	pattern := globEscaper.Replace(prefix) + "*"
	iter := client.Scan(ctx, 0, pattern, 100).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	if len(keys) > 0 {
		require.NoError(t, client.Del(ctx, keys...).Err())
	}
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// newStore returns a Store on the test server with a prefix of its own.
func newStore(t *testing.T, opts ...redisstore.Option) (*redisstore.Store, *redis.Client,
	string) {
	t.Helper()
	client := newClient(t)
	prefix := uniquePrefix(t, client)
	store, err := redisstore.New(client, append([]redisstore.Option{
		redisstore.WithPrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	return store, client, prefix
}

// closedAddr returns an address on 127.0.0.1 where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestNew(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = client.Close() })

	tests := []struct {
		name       string
		giveClient redis.UniversalClient
		giveOpts   []redisstore.Option
		wantErr    string
	}{
		{"defaults", client, nil, ""},
		{"options", client, []redisstore.Option{redisstore.WithTTL(time.Hour),
			redisstore.WithPrefix("")}, ""},
		{"ttl_1ms", client, []redisstore.Option{redisstore.WithTTL(time.Millisecond)}, ""},
		{"nil_client", nil, nil, "redisstore: a client is required, got nil"},
		{"zero_ttl", client, []redisstore.Option{redisstore.WithTTL(0)},
			"redisstore: TTL 0s must be at least 1ms"},
		{"negative_ttl", client, []redisstore.Option{redisstore.WithTTL(-time.Hour)},
			"redisstore: TTL -1h0m0s must be at least 1ms"},
		{"sub_ms_ttl", client, []redisstore.Option{redisstore.WithTTL(time.Microsecond)},
			"redisstore: TTL 1µs must be at least 1ms"},
		{"nil_option", client, []redisstore.Option{nil}, "redisstore: nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := redisstore.New(tt.giveClient, tt.giveOpts...)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				assert.Nil(t, store)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, store)
		})
	}
}

func TestOptionsCompare(t *testing.T) {
	assert.Equal(t, redisstore.WithTTL(time.Hour), redisstore.WithTTL(time.Hour))
	assert.NotEqual(t, redisstore.WithTTL(time.Hour), redisstore.WithTTL(time.Minute))
	assert.True(t, redisstore.WithPrefix("a:") == redisstore.WithPrefix("a:"))
}

func TestIncrReset(t *testing.T) {
	ctx := t.Context()
	store, client, prefix := newStore(t)

	for want := 1; want <= 3; want++ {
		n, err := store.Incr(ctx, "job-1")
		require.NoError(t, err)
		assert.Equal(t, want, n)
	}
	assert.Equal(t, "3", client.Get(ctx, prefix+"job-1").Val())

	require.NoError(t, store.Reset(ctx, "job-1"))
	assert.Zero(t, client.Exists(ctx, prefix+"job-1").Val(), "Reset removes the key")
	require.NoError(t, store.Reset(ctx, "job-1"), "resetting a missing count")

	n, err := store.Incr(ctx, "job-1")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the count starts over after Reset")
}

func TestIncrIndependentIDs(t *testing.T) {
	ctx := t.Context()
	store, _, _ := newStore(t)

	tests := []struct {
		giveID  string
		wantNew int
	}{
		{"a", 1}, {"b", 1}, {"a", 2}, {"a", 3}, {"b", 2}, {"c", 1},
		{"a:b", 1}, {"", 1}, {"", 2}, {"b", 3},
	}
	for _, tt := range tests {
		n, err := store.Incr(ctx, tt.giveID)
		require.NoError(t, err)
		assert.Equal(t, tt.wantNew, n, "Incr(%q)", tt.giveID)
	}

	require.NoError(t, store.Reset(ctx, "a"))
	n, err := store.Incr(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 4, n, "resetting a leaves b alone")
}

func TestIncrConcurrent(t *testing.T) {
	const workers = 50
	ctx := t.Context()
	store, client, prefix := newStore(t)

	// Every worker fails the same job at once: each must see its own count.
	counts := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { counts[i], errs[i] = store.Incr(ctx, "shared") })
	}
	wg.Wait()

	require.NoError(t, errors.Join(errs...))
	slices.Sort(counts)
	want := make([]int, workers)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, counts, "each count from 1 to 50 seen exactly once")
	assert.Equal(t, "50", client.Get(ctx, prefix+"shared").Val())
}

func TestIncrTTL(t *testing.T) {
	tests := []struct {
		name    string
		giveTTL time.Duration
		wantTTL time.Duration
	}{
		{"default", 0, redisstore.DefaultTTL},
		{"hour", time.Hour, time.Hour},
		{"sub_second", 1500 * time.Millisecond, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			var opts []redisstore.Option
			if tt.giveTTL != 0 {
				opts = append(opts, redisstore.WithTTL(tt.giveTTL))
			}
			store, client, prefix := newStore(t, opts...)

			_, err := store.Incr(ctx, "j")
			require.NoError(t, err)
			ttl := client.PTTL(ctx, prefix+"j").Val()
			assert.Greater(t, ttl, time.Duration(0))
			assert.LessOrEqual(t, ttl, tt.wantTTL)

			// Shorten the key's life behind the store's back: the next Incr
			// must set the full TTL again.
			require.NoError(t, client.PExpire(ctx, prefix+"j", time.Millisecond*500).Err())
			_, err = store.Incr(ctx, "j")
			require.NoError(t, err)
			ttl = client.PTTL(ctx, prefix+"j").Val()
			assert.Greater(t, ttl, tt.wantTTL-time.Second/2, "Incr refreshes the TTL")
			assert.LessOrEqual(t, ttl, tt.wantTTL)
		})
	}
}

func TestDefaultPrefix(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	id := fmt.Sprintf("retrytest-%016x", rand.Uint64())
	t.Cleanup(func() { deleteKeys(t, client, redisstore.DefaultPrefix+id) })

	store, err := redisstore.New(client)
	require.NoError(t, err)
	_, err = store.Incr(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "1", client.Get(ctx, "job:retry:"+id).Val())
}

func TestIncrWrongType(t *testing.T) {
	ctx := t.Context()
	store, client, prefix := newStore(t)
	require.NoError(t, client.Set(ctx, prefix+"j", "not a number", 0).Err())

	_, err := store.Incr(ctx, "j")
	assert.ErrorContains(t, err, `redisstore: incr job "j": `)
	assert.ErrorContains(t, err, "not an integer")
}

func TestDoneContext(t *testing.T) {
	store, client, prefix := newStore(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()

	tests := []struct {
		name    string
		giveCtx context.Context
		wantErr error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := store.Incr(tt.giveCtx, "j")
			assert.ErrorIs(t, err, tt.wantErr)
			assert.ErrorContains(t, err, `redisstore: incr job "j"`)
			assert.Zero(t, client.Exists(t.Context(), prefix+"j").Val(), "INCR was not sent")

			err = store.Reset(tt.giveCtx, "j")
			assert.ErrorIs(t, err, tt.wantErr)
			assert.ErrorContains(t, err, `redisstore: reset job "j"`)
			assert.Less(t, time.Since(start), time.Second, "a done context does not wait")
		})
	}
}

// serveBroken runs a TCP server on 127.0.0.1 that handles each connection
// with handle, until the test ends, and returns its address.
func serveBroken(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { handle(conn) })
		}
	})

	// Closing the connections ends the handlers that still wait on them.
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// fastFail makes a client give up at once on a server that is down, as a
// queue worker's should: Jobs requeues the job when the store fails.
func fastFail(addr string) *redis.Options {
	return &redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1}
}

func TestServerGone(t *testing.T) {
	// A server that reads requests and never answers.
	hung := serveBroken(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1<<16)) })
	// A server that hangs up on every connection.
	hangsUp := serveBroken(t, func(c net.Conn) { _ = c.Close() })
	closed := closedAddr(t)

	// The go-redis defaults retry for seconds; a deadline bounds them when
	// ContextTimeoutEnabled is set.
	withDeadline := func(addr string) *redis.Options {
		return &redis.Options{Addr: addr, ContextTimeoutEnabled: true}
	}

	tests := []struct {
		name        string
		giveOpts    *redis.Options
		giveTimeout time.Duration
	}{
		{"closed_port", fastFail(closed), 0},
		{"hangs_up", fastFail(hangsUp), 0},
		{"never_answers", fastFail(hung), 0},
		{"closed_port_deadline", withDeadline(closed), 300 * time.Millisecond},
		{"hangs_up_deadline", withDeadline(hangsUp), 300 * time.Millisecond},
		{"never_answers_deadline", withDeadline(hung), 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := redis.NewClient(tt.giveOpts)
			t.Cleanup(func() { _ = client.Close() })
			store, err := redisstore.New(client)
			require.NoError(t, err)

			ctx := t.Context()
			if tt.giveTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.giveTimeout)
				defer cancel()
			}

			start := time.Now()
			_, err = store.Incr(ctx, "job-42")
			assert.ErrorContains(t, err, `redisstore: incr job "job-42": `)
			t.Logf("Incr after %v: %v", time.Since(start), err)
			err = store.Reset(ctx, "job-42")
			assert.ErrorContains(t, err, `redisstore: reset job "job-42": `)
			assert.Less(t, time.Since(start), time.Second, "errors come quickly")
		})
	}
}

func TestJobs(t *testing.T) {
	ctx := t.Context()
	store, client, prefix := newStore(t, redisstore.WithTTL(time.Hour))
	policy := &retry.Policy{MaxAttempts: 3, Jitter: retry.NoJitter}
	jobs, err := retry.NewJobs(policy, store)
	require.NoError(t, err)
	runErr := &retry.StatusError{StatusCode: 503}

	tests := []struct {
		name       string
		giveErr    error
		wantAction retry.JobAction
		wantTry    int
		wantDelay  time.Duration
		wantReason error
		wantCount  string
	}{
		{"requeue_1", runErr, retry.JobRequeue, 1, time.Second, nil, "1"},
		{"requeue_2", runErr, retry.JobRequeue, 2, 2 * time.Second, nil, "2"},
		{"exhausted", runErr, retry.JobFail, 3, 0, retry.ErrExhausted, ""},
		{"starts_over", runErr, retry.JobRequeue, 1, time.Second, nil, "1"},
		{"done", nil, retry.JobDone, 0, 0, nil, ""},
	}
	for _, tt := range tests {
		d, err := jobs.Decide(ctx, "job-7", tt.giveErr)
		require.NoError(t, err, tt.name)
		assert.Equal(t, retry.Decision{Action: tt.wantAction, Attempt: tt.wantTry,
			Delay: tt.wantDelay, Reason: tt.wantReason}, d, tt.name)
		// An empty count means the key was deleted.
		count, _ := client.Get(ctx, prefix+"job-7").Result()
		assert.Equal(t, tt.wantCount, count, tt.name)
	}
}

func TestJobsServerGone(t *testing.T) {
	client := redis.NewClient(fastFail(closedAddr(t)))
	t.Cleanup(func() { _ = client.Close() })
	store, err := redisstore.New(client)
	require.NoError(t, err)
	jobs, err := retry.NewJobs(&retry.Policy{Jitter: retry.NoJitter}, store)
	require.NoError(t, err)

	// The job is requeued, not lost, and the error says why.
	d, err := jobs.Decide(t.Context(), "job-9", &retry.StatusError{StatusCode: 503})
	assert.ErrorContains(t, err, `redisstore: incr job "job-9": `)
	assert.Equal(t, retry.JobRequeue, d.Action)
}
