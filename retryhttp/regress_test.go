package retryhttp_test

// Regression tests for what a first user found by attacking the transport.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/retryhttp"
	"github.com/deb4e658/retry/retrytest"
)

// A POST without an idempotency key is sent once, however many loops
// enclose the transport, whatever the failure.
func TestUnsafePostSentOnceThroughLayers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		giveFirst http.HandlerFunc
	}{
		{"status_503", status(503)},
		{"status_500", status(500)},
		{"reset", reset},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{handlers: []http.HandlerFunc{tt.giveFirst}}
			f := newFixture(t, s, nil)
			tool := &retry.Policy{MaxAttempts: 3, Clock: f.clk,
				AttemptTimeout: retry.Unlimited}
			err := tool.Do(context.Background(), func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/charge",
					strings.NewReader("amount=100"))
				resp, err := f.client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				return retryhttp.ResponseError(resp)
			})
			assert.Equal(t, 1, s.requests())
			assert.ErrorIs(t, err, retry.ErrUnsafeRetry)
			assert.ErrorContains(t, err, "POST")
			assert.ErrorContains(t, err, "Idempotency-Key")
		})
	}
}

// An answer to be retried whose body stalls is cut off, and the retry made.
func TestStalledBodyOfRetriedAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the real-time drain bound")
	}
	var calls atomic.Int32
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(503)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			select { // stall until the test ends
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	})
	f := newFixture(t, h, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := f.client.Get(f.srv.URL)
		if err == nil {
			readAll(t, resp)
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the transport hung on a stalled body")
	}
	assert.Equal(t, int32(2), calls.Load())
}

// A host asking for a longer pause than MaxServerDelay does not freeze the
// other calls to it: they are sent, and end with ErrServerDelay.
func TestLongCoolDownDoesNotFreezeHost(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(429, "Retry-After", "3600")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, AttemptTimeout: retry.Unlimited}
	client := &http.Client{Transport: retryhttp.NewTransport(base, p)}

	for range 2 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, 429, resp.StatusCode)
		gaveUp := retryhttp.ResponseError(resp)
		assert.ErrorIs(t, gaveUp, retry.ErrServerDelay)
		var rerr *retry.Error
		require.ErrorAs(t, gaveUp, &rerr)
		assert.Equal(t, time.Hour, rerr.ServerDelay)
	}
	assert.Equal(t, retrytest.Epoch, clk.Now(), "nobody waited an hour")
	assert.Equal(t, 2, s.requests())
}

// oddBase answers as some test fakes do.
type oddBase struct{ resp *http.Response }

func (b oddBase) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

func TestOddBaseAnswers(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	tr := retryhttp.NewTransport(oddBase{&http.Response{StatusCode: 200}}, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	assert.Empty(t, b, "a nil body reads as empty")

	tr = retryhttp.NewTransport(oddBase{nil}, &retry.Policy{MaxAttempts: 1})
	_, err = tr.RoundTrip(req)
	assert.ErrorContains(t, err, "returned neither a response nor an error")
}

func TestGetBodyFailureReturnsLastAnswer(t *testing.T) {
	s := &script{handlers: []http.HandlerFunc{status(503)}}
	f := newFixture(t, s, nil)
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL, strings.NewReader("x"))
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("spool gone") }
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "answer 503", readAll(t, resp))
	assert.Equal(t, 1, retryhttp.Attempts(resp))
	assert.ErrorIs(t, retryhttp.ResponseError(resp), retryhttp.ErrBodyNotReplayable)
}

// countingBase answers 200 to any host without touching the network.
type countingBase struct{ calls atomic.Int32 }

func (b *countingBase) RoundTrip(*http.Request) (*http.Response, error) {
	b.calls.Add(1)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestManyHostsDoNotPileUp(t *testing.T) {
	base := &countingBase{}
	tr := retryhttp.NewTransport(base, nil)
	for i := range 5000 {
		req, _ := http.NewRequest(http.MethodGet, "http://host-"+itoa(i)+".invalid/", nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Less(t, retryhttp.GatesForTest(tr), 200, "idle gates are forgotten")
}

func itoa(i int) string { return strconv.Itoa(i) }
