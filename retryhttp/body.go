package retryhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// requestBody hands each attempt a fresh copy of the request's body.
type requestBody struct {
	first      io.ReadCloser                 // the body of the first attempt
	again      func() (io.ReadCloser, error) // a new copy for each retry
	replayable bool
}

// newRequestBody prepares req's body for replay: through GetBody when the
// request has it, else by reading up to limit bytes into memory. A longer
// body is sent once, as it came, and is not replayable.
func newRequestBody(req *http.Request, limit int64) (*requestBody, error) {
	if req.Body == nil || req.Body == http.NoBody {
		none := func() (io.ReadCloser, error) { return req.Body, nil }
		return &requestBody{first: req.Body, again: none, replayable: true}, nil
	}
	if req.GetBody != nil {
		return &requestBody{first: req.Body, again: req.GetBody, replayable: true}, nil
	}

	// Read one byte past the limit to learn whether the body ends within it.
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		req.Body.Close()
		return nil, fmt.Errorf("retryhttp: reading request body: %w", err)
	}
	if int64(len(buf)) <= limit {
		req.Body.Close()
		copyOf := func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(buf)), nil
		}
		first, _ := copyOf()
		return &requestBody{first: first, again: copyOf, replayable: true}, nil
	}

	rest := struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
	return &requestBody{first: rest}, nil
}

// forAttempt returns the body of attempt n.
func (b *requestBody) forAttempt(n int) (io.ReadCloser, error) {
	if n == 1 {
		return b.first, nil
	}
	return b.again()
}

// drainLimit bounds the bytes read from an answer that is thrown away, so
// its connection can go back to the pool without reading a huge body.
const drainLimit = 64 << 10

// discard drains (up to drainLimit) and closes resp's body.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	resp.Body.Close()
}

// bufferBody reads a small body into memory and closes the original, so the
// connection is released while the answer stays readable. It reports false,
// leaving the body as it was, when the body is longer than drainLimit.
func bufferBody(resp *http.Response) bool {
	buf, err := io.ReadAll(io.LimitReader(resp.Body, drainLimit+1))
	if int64(len(buf)) > drainLimit {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
		return false
	}

	resp.Body.Close()
	resp.Body = &replayedBody{Reader: bytes.NewReader(buf), err: err}
	return true
}

// replayedBody is a body read into memory; a read error met while reading
// it is returned after the bytes that came before it.
type replayedBody struct {
	*bytes.Reader
	err error
}

func (b *replayedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *replayedBody) Close() error { return nil }
