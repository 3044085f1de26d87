package retry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deb4e658/retry"
)

type joinKey struct{}

// recording returns hooks, only those named in set, that append to *calls
// name, the hook's name, the value of ctxKey and the number they were
// given.
func recording(name string, calls *[]string, set string) retry.Hooks {
	var h retry.Hooks
	note := func(ctx context.Context, hook string, n any) {
		*calls = append(*calls, fmt.Sprintf("%s.%s %v %v", name, hook, ctx.Value(joinKey{}), n))
	}
	for _, c := range set {
		switch c {
		case 'r':
			h.OnRetry = func(ctx context.Context, e retry.Event) { note(ctx, "retry", e.Attempt) }
		case 'g':
			h.OnGiveUp = func(ctx context.Context, err *retry.Error) {
				note(ctx, "give_up", err.Attempts)
			}
		case 's':
			h.OnSuccess = func(ctx context.Context, attempts int, elapsed time.Duration) {
				note(ctx, "success", fmt.Sprint(attempts, " ", elapsed))
			}
		case 'l':
			h.OnLimiterWait = func(ctx context.Context, wait time.Duration) {
				note(ctx, "limiter", wait)
			}
		}
	}
	return h
}

func TestJoinHooks(t *testing.T) {
	tests := []struct {
		name      string
		giveSets  []string // the hooks each input sets: r, g, s, l
		wantCalls []string
		wantNil   string // the hooks the result leaves nil
	}{
		{"none", nil, nil, "rgsl"},
		{"empty_inputs", []string{"", ""}, nil, "rgsl"},
		{"one", []string{"rgsl"}, []string{"0.retry job 1", "0.give_up job 2",
			"0.success job 3 4s", "0.limiter job 5s"}, ""},
		{"in_order", []string{"rgsl", "rgsl"}, []string{"0.retry job 1", "1.retry job 1",
			"0.give_up job 2", "1.give_up job 2", "0.success job 3 4s", "1.success job 3 4s",
			"0.limiter job 5s", "1.limiter job 5s"}, ""},
		{"partial", []string{"r", "gs", ""}, []string{"0.retry job 1", "1.give_up job 2",
			"1.success job 3 4s"}, "l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			var hs []retry.Hooks
			for i, set := range tt.giveSets {
				hs = append(hs, recording(fmt.Sprint(i), &calls, set))
			}
			j := retry.JoinHooks(hs...)

			ctx := context.WithValue(context.Background(), joinKey{}, "job")
			nils := ""
			if j.OnRetry != nil {
				j.OnRetry(ctx, retry.Event{Attempt: 1})
			} else {
				nils += "r"
			}
			if j.OnGiveUp != nil {
				j.OnGiveUp(ctx, &retry.Error{Attempts: 2})
			} else {
				nils += "g"
			}
			if j.OnSuccess != nil {
				j.OnSuccess(ctx, 3, 4*time.Second)
			} else {
				nils += "s"
			}
			if j.OnLimiterWait != nil {
				j.OnLimiterWait(ctx, 5*time.Second)
			} else {
				nils += "l"
			}
			assert.Equal(t, tt.wantCalls, calls)
			assert.Equal(t, tt.wantNil, nils)
		})
	}
}
