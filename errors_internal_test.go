package retry

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// asAlias is an error whose As method hands out a *StatusError, as a
// user's adapter type might.
type asAlias struct{}

func (asAlias) Error() string { return "alias" }
func (asAlias) As(target any) bool {
	if p, ok := target.(**StatusError); ok {
		*p = &StatusError{StatusCode: 418}
		return true
	}
	return false
}

func TestAsTypeMatchesErrorsAs(t *testing.T) {
	status := &StatusError{StatusCode: 503}
	tests := []struct {
		name     string
		giveErr  error
		wantCode int
	}{
		{"direct", status, 503},
		{"wrapped", fmt.Errorf("a: %w", status), 503},
		{"joined", errors.Join(errors.New("x"), fmt.Errorf("b: %w", status)), 503},
		{"inner_loop", &Error{Reason: ErrExhausted, Last: status}, 503},
		{"as_method", fmt.Errorf("c: %w", asAlias{}), 418},
		{"none", errors.New("plain"), 0},
		{"nil", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := asType[*StatusError](tt.giveErr)
			var want *StatusError
			wantOK := errors.As(tt.giveErr, &want)
			assert.Equal(t, wantOK, ok)
			if tt.wantCode != 0 {
				assert.Equal(t, tt.wantCode, got.StatusCode)
			}
		})
	}
}

func TestAsTypeAllocatesNothing(t *testing.T) {
	err := fmt.Errorf("a: %w", &StatusError{StatusCode: 503})
	allocs := testing.AllocsPerRun(100, func() { _, _ = asType[*StatusError](err) })
	assert.Zero(t, allocs)
}

// isTarget is an error whose Is method claims a sentinel, as errors.Is
// lets any error do.
type isTarget struct{ target error }

func (e isTarget) Error() string        { return "claims " + e.target.Error() }
func (e isTarget) Is(target error) bool { return target == e.target }

// uncomparable would panic under == against a value of its own type.
type uncomparable struct{ parts []string }

func (uncomparable) Error() string { return "uncomparable" }

func TestStopSignalAgreesWithErrorsIs(t *testing.T) {
	plain := errors.New("plain")
	chains := map[string]error{
		"nil":                nil,
		"plain":              plain,
		"overloaded":         ErrOverloaded,
		"unsafe":             ErrUnsafeRetry,
		"wrapped_unsafe":     fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrUnsafeRetry)),
		"both_wrapped":       fmt.Errorf("x: %w: %w", ErrUnsafeRetry, ErrOverloaded),
		"wrapped_overloaded": fmt.Errorf("a: %w", fmt.Errorf("%w", ErrOverloaded)),
		"joined":             errors.Join(plain, ErrOverloaded),
		"is_method":          fmt.Errorf("a: %w", isTarget{ErrUnsafeRetry}),
		"marked":             Retryable(fmt.Errorf("a: %w", ErrOverloaded)),
		"unmarked":           unmarked{fmt.Errorf("a: %w", ErrUnsafeRetry)},
		"inner_give_up":      &Error{Reason: ErrRetryBudget, Last: plain},
		"uncomparable":       fmt.Errorf("a: %w", uncomparable{parts: []string{"x"}}),
	}
	for name, err := range chains {
		t.Run(name, func(t *testing.T) {
			var want error
			switch {
			case errors.Is(err, ErrOverloaded):
				want = ErrOverloaded
			case errors.Is(err, ErrUnsafeRetry):
				want = ErrUnsafeRetry
			}
			assert.Equal(t, want, stopSignal(err))
		})
	}
}
