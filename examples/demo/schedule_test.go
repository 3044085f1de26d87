package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewSchedule(t *testing.T) {
	_, chatJobs, repoJobs := makeJobs(defaultConfig())

	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed_", seed), func(t *testing.T) {
			s, err := newSchedule(seed, chatJobs, repoJobs)
			require.NoError(t, err)

			again, err := newSchedule(seed, chatJobs, repoJobs)
			require.NoError(t, err)
			assert.Equal(t, s, again, "same seed, same schedule")

			assertDealt(t, s, chatJobs, chatFailures)
			assertDealt(t, s, repoJobs, repoFailures)
		})
	}
}

// assertDealt checks that each of jobs has at most maxFailures failures,
// all of them kinds, with delays in bounds, and that every kind occurs.
func assertDealt(t *testing.T, s schedule, jobs []string, kinds []kind) {
	t.Helper()
	seen := make(map[kind]bool)
	for _, job := range jobs {
		failures, ok := s[job]
		require.True(t, ok, "job %s is in the schedule", job)
		assert.LessOrEqual(t, len(failures), maxFailures, "failures of %s", job)

		for _, out := range failures {
			assert.Contains(t, kinds, out.kind, "kind dealt to %s", job)
			assert.GreaterOrEqual(t, out.delay, time.Duration(0))
			assert.LessOrEqual(t, out.delay, 2*time.Second)
			seen[out.kind] = true
		}
	}
	for _, k := range kinds {
		assert.True(t, seen[k], "kind %v dealt", k)
	}
}

func TestNewSchedule_too_few_jobs(t *testing.T) {
	_, err := newSchedule(1, []string{"chat-01", "chat-02"}, []string{"repo-01"})
	assert.ErrorContains(t, err, "chat schedule: 2 jobs cannot meet all 7 kinds of failure")
}

func TestFewest(t *testing.T) {
	tests := []struct {
		name       string
		giveCounts []int
		want       int
	}{
		{name: "first_on_tie", giveCounts: []int{1, 1, 1}, want: 0},
		{name: "smallest", giveCounts: []int{3, 0, 2, 0}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, fewest(slices.Clone(tt.giveCounts)))
		})
	}
}
