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
