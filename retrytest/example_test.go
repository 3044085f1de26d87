package retrytest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/deb4e658/retry/retrytest"
)

// A goroutine waits on a timer of one second; the test waits until the timer
// exists, then moves the clock to wake the goroutine, with no real sleep.
func ExampleClock() {
	ctx := context.Background()
	clk := retrytest.NewClock()

	woke := make(chan time.Time)
	go func() {
		t := clk.NewTimer(time.Second)
		woke <- <-t.C()
	}()

	if err := clk.BlockUntil(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	clk.Advance(time.Second)

	fmt.Println("woke at", (<-woke).Format(time.RFC3339))
	fmt.Println("waits:", clk.Waits())
	// Output:
	// woke at 2025-01-01T00:00:01Z
	// waits: [1s]
}

// AdvanceToNext jumps from one pending timer to the next, which is how a test
// runs a whole schedule without knowing its delays in advance.
func ExampleClock_AdvanceToNext() {
	clk := retrytest.NewClock()
	for _, d := range []time.Duration{time.Second, 250 * time.Millisecond} {
		clk.AfterFunc(d, func() { fmt.Println("fired after", d) })
	}

	for {
		moved, ok := clk.AdvanceToNext()
		if !ok {
			break
		}
		fmt.Println("moved", moved)
	}
	// Output:
	// fired after 250ms
	// moved 250ms
	// fired after 1s
	// moved 750ms
}
