package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/redisstore"
)

// Example counts the runs of a queue's jobs in Redis. It needs a server, so
// it is compiled but not run by go test.
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, err := redisstore.New(client, redisstore.WithTTL(6*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	jobs, err := retry.NewJobs(retry.Default(), store)
	if err != nil {
		log.Fatal(err)
	}

	// After a run of job "invoice-17" failed with runErr:
	var runErr error = &retry.StatusError{StatusCode: 503}
	d, err := jobs.Decide(context.Background(), "invoice-17", runErr)
	if err != nil {
		log.Print(err) // Redis is down: d still says to requeue the job
	}
	switch d.Action {
	case retry.JobRequeue:
		log.Printf("run %d failed; run it again in %v", d.Attempt, d.Delay)
	case retry.JobFail:
		log.Printf("giving up after %d runs: %v", d.Attempt, d.Reason)
	}
}
