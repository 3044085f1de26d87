// Package redislimit makes the replicas of a service act as one client of
// a rate-limited API, through Redis: a [Limiter] paces the calls of every
// process that uses the same key at one shared rate, [Pauses] holds every
// replica back when the API asks one of them to, and a [Budget] caps the
// retries of the whole fleet. Each reads the Redis server's clock, so the
// clocks of the processes do not matter.
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	lim, err := redislimit.New(client, "limit:api.example.com", 50*time.Millisecond, 5)
//	budget, err := redislimit.NewBudget(client, "budget:api.example.com", 0.1, 1)
//	pauses, err := redislimit.NewPauses(client, "pause:")
//	policy := &retry.Policy{Limiter: lim, Budget: budget}
//	transport := retryhttp.NewTransport(nil, policy, retryhttp.WithSharedPauses(pauses))
//
// Reserve claims a slot, as x/time/rate's ReserveN does: each caller gets a
// slot of its own, so processes that wait together are released one interval
// apart, never all at once. The arithmetic runs in a Lua script on the Redis
// server and reads the server's clock, so the time the caller passes and the
// clocks of the processes do not matter.
//
// When Redis does not answer within the timeout ([DefaultTimeout],
// [WithTimeout]), Reserve falls back to a local [retry.RateLimiter]
// ([WithFallback]) and asks Redis again at most once a [DefaultProbeInterval]
// ([WithProbeInterval]); [WithOnFallback] and [WithOnRecover] report the
// switches. Reserve never returns an error because Redis is down.
//
// BUG: while Redis is down each process keeps its own fallback rate, so the
// service may see as many times the rate as there are processes; size
// [WithFallback] for that.
//
// [Pauses] keeps each pause as a key whose time to live is the pause, and
// serves [retryhttp.WithSharedPauses]: a 429 with a server delay, or a
// remaining count of zero, seen by one replica closes the host for all,
// each releasing its own callers spread out. While Redis is down, each
// process holds back only on the pauses it was asked for itself.
//
// A [Budget] shares a retry budget the same way: [NewBudget] takes the ratio
// and floor of [retry.NewBudget], counted on the Redis clock in one key, and
// serves as a policy's Budget. Deposits are sent in batches at most every
// 100ms, so a process that exits loses up to that much of them. While Redis
// is down each process answers from a local retry.Budget, whose floor then
// counts once per process.
//
// Each Redis call runs in a goroutine of its own, so that the caller can
// give up on it at the timeout even though go-redis follows a context's
// deadline only with ContextTimeoutEnabled. When Redis hangs rather than
// fails, that goroutine lives on until the client's own ReadTimeout (3s by
// default) ends the call; once one has timed out, at most one call a
// probe interval gets that far.
// Set the client's ReadTimeout and WriteTimeout near the timeout to bound
// them, or ContextTimeoutEnabled to end them with it.
//
// BUG: the Redis calls do not know the caller's context (retry.Limiter,
// retry.RetryBudget and retryhttp.SharedPauses take none), so while Redis
// hangs an attempt can run past its deadline by up to the timeout for each
// of the three it uses.
//
// None of them owns the client: close it yourself.
package redislimit
