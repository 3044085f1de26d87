// Package redisstore keeps the run counts of [retry.Jobs] in Redis, so that
// every worker of a queue, and a worker that restarts, sees the same count.
//
// Set up a [Store] with a go-redis client and hand it to [retry.NewJobs]:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	store, err := redisstore.New(client, redisstore.WithTTL(6*time.Hour))
//	jobs, err := retry.NewJobs(policy, store)
//
// Each job's count lives under the key "job:retry:" + id ([WithPrefix] changes
// the prefix). Every Incr sets the key's time to live again ([DefaultTTL], or
// [WithTTL]), so the count of a job dropped without a last Decide does not
// stay in Redis for ever; Reset deletes the key at once.
//
// The store does not own the client: close it yourself. A call is bounded by
// the client's timeouts and retries: with the go-redis defaults a call takes
// about three seconds to fail on a refused connection, and up to ReadTimeout
// times MaxRetries+1 on a server that stops answering. A queue worker
// loses nothing by failing at once, since Jobs requeues a job whose count it
// could not read, so consider a short DialTimeout and ReadTimeout, with
// DialerRetries 1 and MaxRetries -1. The context's deadline bounds a call only
// when the client's Options.ContextTimeoutEnabled is set; a context that is
// already done stops a call before it is sent.
package redisstore
