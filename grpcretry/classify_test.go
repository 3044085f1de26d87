package grpcretry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/deb4e658/retry"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		giveErr   error
		wantClass retry.Class
	}{
		{"unavailable", status.Error(codes.Unavailable, "x"), retry.Transient},
		{"resource_exhausted", status.Error(codes.ResourceExhausted, "x"), retry.Transient},
		{"wrapped", fmt.Errorf("call: %w", status.Error(codes.Unavailable, "x")),
			retry.Transient},
		{"deadline_exceeded", status.Error(codes.DeadlineExceeded, "x"), retry.Final},
		{"attempt_timeout", &timeoutError{err: status.Error(codes.Canceled, "x"),
			d: time.Second}, retry.Transient},
		{"canceled", status.Error(codes.Canceled, "x"), retry.Final},
		{"invalid_argument", status.Error(codes.InvalidArgument, "x"), retry.Final},
		{"internal", status.Error(codes.Internal, "x"), retry.Final},
		{"unknown_code", status.Error(codes.Unknown, "x"), retry.Final},
		{"not_grpc", errors.New("x"), retry.Unknown},
		{"context", context.Canceled, retry.Unknown},
		{"ok_status", status.Error(codes.OK, ""), retry.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantClass, Classify(tt.giveErr))
		})
	}
}

func TestPushback(t *testing.T) {
	retryInfo := func(d *durationpb.Duration) *status.Status {
		s, err := status.New(codes.Unavailable, "x").WithDetails(
			&errdetails.RetryInfo{RetryDelay: d})
		if err != nil {
			panic(err)
		}
		return s
	}
	plain := status.New(codes.Unavailable, "x")
	tests := []struct {
		name        string
		giveStatus  *status.Status
		giveTrailer []string // values of grpc-retry-pushback-ms
		wantDelay   time.Duration
		wantKind    pushbackKind
	}{
		{name: "none", giveStatus: plain},
		{name: "trailer_ms", giveStatus: plain, giveTrailer: []string{"1500"},
			wantDelay: 1500 * time.Millisecond, wantKind: pushbackDelay},
		{name: "trailer_zero", giveStatus: plain, giveTrailer: []string{"0"},
			wantKind: pushbackDelay},
		{name: "trailer_negative", giveStatus: plain, giveTrailer: []string{"-1"},
			wantKind: pushbackStop},
		{name: "trailer_negative_beats_retry_info", giveTrailer: []string{"-5"},
			giveStatus: retryInfo(durationpb.New(time.Second)), wantKind: pushbackStop},
		{name: "trailer_huge_saturates", giveStatus: plain,
			giveTrailer: []string{"99999999999999999999999"},
			wantDelay:   math.MaxInt64, wantKind: pushbackDelay},
		{name: "trailer_garbage", giveStatus: plain, giveTrailer: []string{"1.5s"},
			wantKind: pushbackInvalid},
		{name: "trailer_twice", giveStatus: plain, giveTrailer: []string{"1", "2"},
			wantKind: pushbackInvalid},
		{name: "retry_info", giveStatus: retryInfo(durationpb.New(2 * time.Second)),
			wantDelay: 2 * time.Second, wantKind: pushbackDelay},
		{name: "longer_of_both", giveTrailer: []string{"3000"},
			giveStatus: retryInfo(durationpb.New(2 * time.Second)),
			wantDelay:  3 * time.Second, wantKind: pushbackDelay},
		{name: "retry_info_negative_ignored",
			giveStatus: retryInfo(durationpb.New(-time.Second))},
		{name: "retry_info_invalid_ignored",
			giveStatus: retryInfo(&durationpb.Duration{Seconds: 1, Nanos: -1})},
		{name: "retry_info_without_delay", giveStatus: retryInfo(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var md metadata.MD
			if tt.giveTrailer != nil {
				md = metadata.MD{PushbackKey: tt.giveTrailer}
			}
			d, kind := pushback(tt.giveStatus, md)
			assert.Equal(t, tt.wantKind, kind)
			assert.Equal(t, tt.wantDelay, d)
		})
	}
}

// deadlineOnly is a context whose deadline has passed while its timer has
// not yet ended it, as gRPC may see one for a moment.
type deadlineOnly struct {
	context.Context
	deadline time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.deadline, true }

func TestAttemptTimedOut(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	i := &interceptor{clock: fixedClock{now}}
	timedOut, cancel := context.WithCancelCause(context.Background())
	cancel(retry.ErrAttemptTimeout)
	canceled, cancelCaller := context.WithCancel(context.Background())
	cancelCaller()
	past := deadlineOnly{context.Background(), now.Add(-time.Millisecond)}
	tests := []struct {
		name        string
		giveCaller  context.Context
		giveAttempt context.Context
		wantTimeout bool
		wantLoopSaw bool
	}{
		{name: "cause", giveCaller: context.Background(), giveAttempt: timedOut,
			wantTimeout: true, wantLoopSaw: true},
		{name: "deadline_passed_before_timer", giveCaller: context.Background(),
			giveAttempt: past, wantTimeout: true},
		{name: "callers_deadline", giveCaller: past, giveAttempt: past},
		{name: "caller_later", giveAttempt: past,
			giveCaller:  deadlineOnly{context.Background(), now.Add(time.Second)},
			wantTimeout: true},
		{name: "deadline_ahead", giveCaller: context.Background(),
			giveAttempt: deadlineOnly{context.Background(), now.Add(time.Second)}},
		{name: "caller_done", giveCaller: canceled, giveAttempt: timedOut},
		{name: "no_deadline", giveCaller: context.Background(),
			giveAttempt: context.Background()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timedOut, loopSaw := i.attemptTimedOut(tt.giveCaller, tt.giveAttempt)
			assert.Equal(t, tt.wantTimeout, timedOut, "timed out")
			assert.Equal(t, tt.wantLoopSaw, loopSaw, "loop saw")
		})
	}
}

// fixedClock is a retry.Clock whose time stands still; its timers never
// fire.
type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time                            { return c.now }
func (fixedClock) NewTimer(time.Duration) retry.Timer          { return nil }
func (fixedClock) AfterFunc(time.Duration, func()) retry.Timer { return nil }
