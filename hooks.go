package retry

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Hooks are functions a Policy calls at set moments of a call. They run
// synchronously on the goroutine that called Do, so a slow hook slows the
// call. Each receives the context given to Do (not an attempt's), so it can
// reach the caller's span or logger. Nil hooks are skipped. The library logs
// nothing unless a hook does.
type Hooks struct {
	// OnRetry is called after a failed attempt that will be retried, just
	// before the wait that precedes the next attempt. It is not called when
	// the call gives up instead.
	OnRetry func(ctx context.Context, e Event)

	// OnGiveUp is called once, with the error Do is about to return, when a
	// call stops without success.
	OnGiveUp func(ctx context.Context, err *Error)

	// OnSuccess is called once when an attempt succeeds, with the number of
	// attempts made (1 when the first succeeded) and the time since the call
	// to Do.
	OnSuccess func(ctx context.Context, attempts int, elapsed time.Duration)

	// OnLimiterWait is called before the policy waits for its Limiter's
	// slot, with the wait; it is not called when a slot is free at once.
	OnLimiterWait func(ctx context.Context, wait time.Duration)
}

// Event describes a failed attempt that is about to be retried.
type Event struct {
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int

	// MaxAttempts is the policy's limit, or Unlimited.
	MaxAttempts int

	// Depth is 1 for a loop that no other encloses, 2 for a loop called from
	// an attempt of another, and so on (see DepthFrom).
	Depth int

	// Err is the error the attempt returned.
	Err error

	// Reason says why the error is retried: "transient" (the classifier
	// said so), "marked retryable", "attempt timeout", "server delay" (an
	// inner loop gave up because the server asked for more than it could
	// wait), or "inner give-up" (an inner loop spent its attempts or time and
	// the policy has RetryInnerGiveUps).
	Reason string

	// Delay is the wait before the next attempt.
	Delay time.Duration

	// ServerDelay is what the server asked for, or 0 if it did not ask.
	// Delay is at least this.
	ServerDelay time.Duration

	// Elapsed is the time since the call to Do.
	Elapsed time.Duration
}

// JoinHooks returns hooks that call the hooks of each of hs in turn, in the
// order given, so that one policy can both log and report:
//
//	otelHooks, _ := otelretry.Hooks()
//	policy.Hooks = retry.JoinHooks(retry.LogHooks(logger), otelHooks)
//
// Nil hooks are skipped, and a hook that none of hs sets stays nil, so the
// policy skips it as before. A hook that panics stops the ones after it.
func JoinHooks(hs ...Hooks) Hooks {
	var (
		onRetry   []func(context.Context, Event)
		onGiveUp  []func(context.Context, *Error)
		onSuccess []func(context.Context, int, time.Duration)
		onLimiter []func(context.Context, time.Duration)
	)
	for _, h := range hs {
		if h.OnRetry != nil {
			onRetry = append(onRetry, h.OnRetry)
		}
		if h.OnGiveUp != nil {
			onGiveUp = append(onGiveUp, h.OnGiveUp)
		}
		if h.OnSuccess != nil {
			onSuccess = append(onSuccess, h.OnSuccess)
		}
		if h.OnLimiterWait != nil {
			onLimiter = append(onLimiter, h.OnLimiterWait)
		}
	}

	var j Hooks
	if len(onRetry) > 0 {
		j.OnRetry = func(ctx context.Context, e Event) {
			for _, f := range onRetry {
				f(ctx, e)
			}
		}
	}
	if len(onGiveUp) > 0 {
		j.OnGiveUp = func(ctx context.Context, err *Error) {
			for _, f := range onGiveUp {
				f(ctx, err)
			}
		}
	}
	if len(onSuccess) > 0 {
		j.OnSuccess = func(ctx context.Context, attempts int, elapsed time.Duration) {
			for _, f := range onSuccess {
				f(ctx, attempts, elapsed)
			}
		}
	}
	if len(onLimiter) > 0 {
		j.OnLimiterWait = func(ctx context.Context, wait time.Duration) {
			for _, f := range onLimiter {
				f(ctx, wait)
			}
		}
	}
	return j
}

// LogHooks returns hooks that log each retry at level Info and the give-up
// at level Warn through logger, with messages such as
//
//	[Attempt 1/5] failed: http status 429 Too Many Requests; retrying in 1.0s
//
// and the same facts as attributes. A nil logger means slog.Default().
func LogHooks(logger *slog.Logger) Hooks {
	if logger == nil {
		logger = slog.Default()
	}
	return Hooks{
		OnRetry: func(ctx context.Context, e Event) {
			msg := fmt.Sprintf("[Attempt %s] failed: %v; retrying in %s",
				attemptOf(e.Attempt, e.MaxAttempts), e.Err, seconds(e.Delay))
			if e.ServerDelay > 0 {
				msg += fmt.Sprintf(" (server asked for %s)", seconds(e.ServerDelay))
			}
			logger.LogAttrs(ctx, slog.LevelInfo, msg,
				slog.Int("attempt", e.Attempt), slog.String("reason", e.Reason),
				slog.Duration("delay", e.Delay))
		},
		OnGiveUp: func(ctx context.Context, err *Error) {
			logger.LogAttrs(ctx, slog.LevelWarn, err.Error(),
				slog.Int("attempts", err.Attempts), slog.String("reason", err.Reason.Error()))
		},
	}
}

func attemptOf(n, limit int) string {
	if limit == Unlimited {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, limit)
}

// seconds formats d as "1.0s" from one second up and as "250ms" below it.
func seconds(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Millisecond).String()
}
