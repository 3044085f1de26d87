package main

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDelayQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		a, b := &job{id: "a"}, &job{id: "b"}
		q := newDelayQueue([]*job{a, b}, start)

		j, ok := q.pop(t.Context())
		require.True(t, ok)
		assert.Equal(t, "a", j.id, "due together: in the order given")
		q.requeue(a, start.Add(2*time.Second))

		j, _ = q.pop(t.Context())
		assert.Equal(t, "b", j.id)
		q.requeue(b, start.Add(time.Second))

		j, _ = q.pop(t.Context())
		assert.Equal(t, "b", j.id, "the earlier due time first")
		assert.Equal(t, time.Second, time.Since(start))
		q.finish()

		j, _ = q.pop(t.Context())
		assert.Equal(t, "a", j.id)
		assert.Equal(t, 2*time.Second, time.Since(start))
		q.finish()

		_, ok = q.pop(t.Context())
		assert.False(t, ok, "every job finished: the queue is closed")
	})
}

func TestDelayQueueWakesWaitingWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &job{id: "a"}
		q := newDelayQueue([]*job{a}, time.Now())
		j, _ := q.pop(t.Context())

		// Two workers wait on an empty queue; a requeue feeds one of them,
		// and finishing the job releases the other.
		got := make(chan bool, 2)
		for range 2 {
			go func() {
				_, ok := q.pop(t.Context())
				got <- ok
				if ok {
					q.finish()
				}
			}()
		}
		synctest.Wait()
		q.requeue(j, time.Now().Add(time.Minute))
		assert.ElementsMatch(t, []bool{true, false}, []bool{<-got, <-got})
	})
}

func TestDelayQueueStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		q := newDelayQueue([]*job{{id: "a"}}, start.Add(time.Hour))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, ok := q.pop(ctx)
		assert.False(t, ok)
		assert.Equal(t, time.Second, time.Since(start), "not an hour")
	})
}
