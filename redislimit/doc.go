// Package redislimit paces calls to a service across a whole fleet: every
// process that makes a [Limiter] on the same Redis key shares one rate, one
// call every interval on average with bursts of up to burst calls.
//
// Hand it to a policy like the in-process [retry.RateLimiter]:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	lim, err := redislimit.New(client, "limit:api.example.com", 50*time.Millisecond, 5)
//	policy := &retry.Policy{Limiter: lim}
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
// The limiter does not own the client: close it yourself.
package redislimit
