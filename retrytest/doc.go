// Package retrytest provides test helpers for code that uses package retry,
// in the manner of net/http/httptest.
//
// Its [Clock] is a fake [retry.Clock]: time stands still until the test
// moves it, so a test can drive a whole retry schedule exactly and at once,
// with no real sleeps. Give the clock to the code under test (for example
// as the Clock of a [retry.Policy]), run that code in a goroutine, wait
// until it is blocked on a timer, then move time:
//
//	clk := retrytest.NewClock()
//	p := &retry.Policy{Clock: clk}
//	done := make(chan error, 1)
//	go func() { done <- p.Do(ctx, op) }()
//
//	for range 2 {
//		if err := clk.BlockUntil(ctx, 1); err != nil {
//			t.Fatal(err)
//		}
//		clk.AdvanceToNext()
//	}
//	err := <-done
//	// Compare clk.Waits() with the schedule the policy should follow.
//
// [Clock.BlockUntil] closes the race between "the goroutine started" and
// "the test moved time": it returns only once the code under test has made
// its timer, so the following Advance cannot come too early.
package retrytest
