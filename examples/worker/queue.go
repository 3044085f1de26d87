package main

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// delayQueue is an in-memory job queue with delays: a job handed back with
// requeue comes out of pop no earlier than the time given. It knows how
// many of its jobs are still open and closes itself once the last one is
// finished, so the workers stop. It is safe for concurrent use and starts
// no goroutine.
type delayQueue struct {
	mu      sync.Mutex
	due     dueHeap
	open    int           // jobs not yet finished, waiting or running
	pushed  int           // entries ever pushed, for their seq
	changed chan struct{} // closed, and replaced, whenever due or open change
}

// newDelayQueue returns a queue holding jobs, all due at once.
func newDelayQueue(jobs []*job, at time.Time) *delayQueue {
	q := &delayQueue{open: len(jobs), changed: make(chan struct{})}
	for _, j := range jobs {
		q.due = append(q.due, entry{at: at, job: j, seq: q.pushed})
		q.pushed++
	}
	heap.Init(&q.due)
	return q
}

// requeue puts back a job that pop handed out, due at at.
func (q *delayQueue) requeue(j *job, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	heap.Push(&q.due, entry{at: at, job: j, seq: q.pushed})
	q.pushed++
	q.wake()
}

// finish tells the queue that a job it handed out is over for good.
func (q *delayQueue) finish() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.open--
	q.wake()
}

// pop returns the next job once it is due. It returns false when every job
// is finished or ctx ends.
func (q *delayQueue) pop(ctx context.Context) (*job, bool) {
	for {
		q.mu.Lock()
		if q.open == 0 {
			q.mu.Unlock()
			return nil, false
		}
		wait := time.Duration(-1) // nothing waiting: sleep until a change
		if len(q.due) > 0 {
			if wait = time.Until(q.due[0].at); wait <= 0 {
				e := heap.Pop(&q.due).(entry)
				q.mu.Unlock()
				return e.job, true
			}
		}
		changed := q.changed
		q.mu.Unlock()

		if !q.sleep(ctx, changed, wait) {
			return nil, false
		}
	}
}

// sleep waits for d (forever when d < 0), a change or the end of ctx, and
// reports false for the last.
func (q *delayQueue) sleep(ctx context.Context, changed <-chan struct{}, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-timeout:
	}
	return true
}

// wake lets every waiting pop look again. The caller holds q.mu.
func (q *delayQueue) wake() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// entry is a job and the time it is due. seq breaks ties, so jobs due at
// the same instant come out in the order they went in.
type entry struct {
	at  time.Time
	job *job
	seq int
}

// dueHeap orders entries by due time, for container/heap.
type dueHeap []entry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, k int) bool {
	if !h[i].at.Equal(h[k].at) {
		return h[i].at.Before(h[k].at)
	}
	return h[i].seq < h[k].seq
}
func (h dueHeap) Swap(i, k int) { h[i], h[k] = h[k], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
