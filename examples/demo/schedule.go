package main

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// kind is one way the demo server answers a request.
type kind int

// The answers of the demo server. The chat kinds imitate a busy LLM
// provider, the repo kinds a code host that speaks GitHub's rate-limit
// headers.
const (
	answerOK            kind = iota // 200 with a small JSON body
	chatRetryAfterMs                // 429 with retry-after-ms
	chatRetryAfterSecs              // 429 with Retry-After in seconds
	chatResetRequests               // 429 with x-ratelimit-reset-requests
	chatUnavailableDate             // 503 with Retry-After as an HTTP date
	chatInternalError               // 500 with no header
	chatHang                        // no answer until the client gives up
	chatReset                       // the connection is reset, no answer
	repoForbiddenLimit              // 403 with X-RateLimit-Reset
	repoTooManyLimit                // 429 with X-RateLimit-Reset
	repoBadGateway                  // 502 with no header
	numKinds                        // the number of kinds, for arrays
)

var kindNames = [numKinds]string{
	answerOK:            "200 ok",
	chatRetryAfterMs:    "429 retry-after-ms",
	chatRetryAfterSecs:  "429 Retry-After seconds",
	chatResetRequests:   "429 x-ratelimit-reset-requests",
	chatUnavailableDate: "503 Retry-After date",
	chatInternalError:   "500 no header",
	chatHang:            "hung past the attempt timeout",
	chatReset:           "connection reset",
	repoForbiddenLimit:  "403 X-RateLimit-Reset",
	repoTooManyLimit:    "429 X-RateLimit-Reset",
	repoBadGateway:      "502 no header",
}

// String names the answer as the summary prints it.
func (k kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// The failures each endpoint can answer with. Every one of them is dealt at
// least once, so each run shows them all.
var (
	chatFailures = []kind{chatRetryAfterMs, chatRetryAfterSecs, chatResetRequests,
		chatUnavailableDate, chatInternalError, chatHang, chatReset}
	repoFailures = []kind{repoForbiddenLimit, repoTooManyLimit, repoBadGateway}
)

// maxFailures is the most failures one job meets before its success. It
// stays well below the client's attempt limit, so every job finishes even
// when an attempt also times out on its own.
const maxFailures = 3

// outcome is the answer to one request: its kind and, for the kinds that
// ask the client to wait, how long, before the server's time scale.
type outcome struct {
	kind  kind
	delay time.Duration
}

// schedule holds, for each job, the failures its attempts meet in order.
// The attempt after the last of them succeeds.
type schedule map[string][]outcome

// newSchedule deals the failures of both endpoints to the jobs named in
// chatJobs and repoJobs. Everything is drawn from a generator seeded with
// seed, so the same arguments always give the same schedule.
func newSchedule(seed uint64, chatJobs, repoJobs []string) (schedule, error) {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := make(schedule, len(chatJobs)+len(repoJobs))

	if err := s.deal(rng, chatJobs, chatFailures); err != nil {
		return nil, fmt.Errorf("chat schedule: %w", err)
	}
	if err := s.deal(rng, repoJobs, repoFailures); err != nil {
		return nil, fmt.Errorf("repo schedule: %w", err)
	}
	return s, nil
}

// deal gives each job between 0 and maxFailures failures drawn from kinds,
// every kind at least once.
func (s schedule) deal(rng *rand.Rand, jobs []string, kinds []kind) error {
	if len(kinds) > maxFailures*len(jobs) {
		return fmt.Errorf("%d jobs cannot meet all %d kinds of failure", len(jobs), len(kinds))
	}

	counts := make([]int, len(jobs))
	total := 0
	for i := range counts {
		counts[i] = rng.IntN(maxFailures + 1)
		total += counts[i]
	}

	// Too few failures to show every kind: add them to the luckiest jobs.
	for total < len(kinds) {
		i := fewest(counts)
		counts[i]++
		total++
	}

	// A deck with each kind once, topped up at random, then shuffled.
	deck := append([]kind(nil), kinds...)
	for len(deck) < total {
		deck = append(deck, kinds[rng.IntN(len(kinds))])
	}
	rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })

	for i, job := range jobs {
		// An entry even for a job without failures: it tells the server
		// the job exists.
		s[job] = []outcome{}
		for _, k := range deck[:counts[i]] {
			s[job] = append(s[job], outcome{kind: k, delay: delayFor(rng, k)})
		}
		deck = deck[counts[i]:]
	}
	return nil
}

// fewest returns the index of the smallest count, the first one on a tie.
func fewest(counts []int) int {
	best := 0
	for i, n := range counts {
		if n < counts[best] {
			best = i
		}
	}
	return best
}

// delayFor draws the wait the server asks for with an answer of kind k, or
// returns 0 for the kinds that ask for none. The waits stay between 0.2s
// and 2s, so the demo spends seconds, not minutes, being patient.
func delayFor(rng *rand.Rand, k kind) time.Duration {
	switch k {
	case chatRetryAfterMs:
		return 200*time.Millisecond + time.Duration(rng.IntN(9))*100*time.Millisecond
	case chatRetryAfterSecs:
		return time.Duration(1+rng.IntN(2)) * time.Second
	case chatResetRequests:
		return 1500 * time.Millisecond
	case chatUnavailableDate, repoForbiddenLimit, repoTooManyLimit:
		// These headers name a whole second; the server rounds up to the
		// next one, so the wait is never short of this.
		return time.Second
	}
	return 0
}
