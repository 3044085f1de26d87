package grpcretry

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/deb4e658/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// StreamClientInterceptor returns an interceptor that retries the start of
// streaming calls with p (nil means the default policy), classifying
// failures as [UnaryClientInterceptor] does. It copies p, and is safe for
// concurrent use. What it retries:
//
//   - Opening the stream: a failure of grpc's streamer (Unavailable when no
//     connection can be had, say), and an opening that outlasts the
//     policy's AttemptTimeout (waiting for a connection with
//     grpc.WaitForReady, say). No request message has been sent yet, so
//     this holds for every method. The timeout bounds the opening only: the
//     stream then lives as long as the caller's context.
//   - For server-streaming calls, a failure of the first RecvMsg before any
//     message arrived, when the caller has sent exactly one message, closed
//     its side and not called Header or Trailer, as generated clients do.
//     A new stream is opened, the same message sent and closed, and
//     RecvMsg returns the new stream's first message. The request was sent,
//     so only idempotent methods are retried, or a failure that shows the
//     server did not act (see UnaryClientInterceptor). This runs as a second
//     retry loop with the whole policy, the failed stream its first attempt,
//     since the first loop ended when the stream opened; the policy's hooks
//     hear from both loops.
//
// Nothing else is retried: not a failure after the first message, nor one
// of a client-streaming or bidirectional stream once open; those errors
// come as gRPC gives them. When the policy gives up, the error is its
// *retry.Error, with a gRPC status as for unary calls.
//
// The request message of a server-streaming call is kept until the first
// message arrives and may be sent again: do not change it after SendMsg
// (gRPC asks that anyway). Context, Header and Trailer are those of the
// stream in use; Header and Trailer wait while the first receive is being
// retried.
func StreamClientInterceptor(p *retry.Policy, opts ...Option) grpc.StreamClientInterceptor {
	return newInterceptor(p, opts).newStream
}

func (i *interceptor) newStream(ctx context.Context, desc *grpc.StreamDesc,
	cc *grpc.ClientConn, method string, streamer grpc.Streamer,
	opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s := &stream{i: i, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer,
		opts: opts, idempotent: i.idempotent(method)}
	o, err := retry.DoValue(ctx, &i.stream, s.open)
	if err != nil {
		return nil, callErr(err)
	}

	switch {
	case desc.ServerStreams && !desc.ClientStreams:
		s.cur = o
		return s, nil
	case o.cancel != nil:
		return &releasing{opened: o, serverStreams: desc.ServerStreams}, nil
	}
	return o.ClientStream, nil
}

// opened is a stream the interceptor opened, with the cancel function of
// the context it made to time the opening (nil when there is no timeout).
type opened struct {
	grpc.ClientStream
	cancel context.CancelCauseFunc
}

// release ends the context made for the stream once the stream is over.
// gRPC ends its own stream context then, but cannot know of this one,
// which would otherwise stay attached to the caller's context.
func (o opened) release() {
	if o.cancel != nil {
		o.cancel(nil)
	}
}

// releasing releases the context of a client-streaming or bidirectional
// stream when the stream reports its end. A stream abandoned with its
// ClientConn closed keeps it until the caller's context ends.
type releasing struct {
	opened
	serverStreams bool
}

func (r *releasing) SendMsg(m any) error {
	err := r.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		r.release()
	}
	return err
}

func (r *releasing) RecvMsg(m any) error {
	err := r.ClientStream.RecvMsg(m)
	if err != nil || !r.serverStreams {
		r.release()
	}
	return err
}

// stream is a server-streaming call whose first receive may be retried.
type stream struct {
	i          *interceptor
	ctx        context.Context // the caller's
	desc       *grpc.StreamDesc
	cc         *grpc.ClientConn
	method     string
	streamer   grpc.Streamer
	opts       []grpc.CallOption
	idempotent bool

	replay sync.Mutex // held while the first receive is retried

	mu       sync.Mutex
	cur      opened
	req      any // the first message sent, until a message arrives
	sends    int
	closed   bool  // CloseSend called
	received bool  // RecvMsg called
	observed bool  // Header or Trailer called
	err      error // why the retried first receive gave up
}

// open opens a stream, as an attempt of a retry loop. Its failure is
// judged as one that sent nothing.
func (s *stream) open(actx context.Context) (opened, error) {
	if s.i.timeout <= 0 {
		cs, err := s.streamer(actx, s.desc, s.cc, s.method, s.opts...)
		if err != nil {
			return opened{}, s.i.judge(failure{ctx: s.ctx, err: err, idempotent: s.idempotent})
		}
		return opened{ClientStream: cs}, nil
	}

	sctx, cancel := context.WithCancelCause(actx)
	t := s.i.clock.AfterFunc(s.i.timeout, func() { cancel(retry.ErrAttemptTimeout) })
	cs, err := s.streamer(sctx, s.desc, s.cc, s.method, s.opts...)
	t.Stop()

	timedOut := context.Cause(sctx) == retry.ErrAttemptTimeout
	if timedOut && err == nil {
		// It opened as its time ran out, and its context has ended.
		err = status.FromContextError(sctx.Err()).Err()
	}
	if err != nil {
		cancel(nil)
		return opened{}, s.i.judge(failure{ctx: s.ctx, err: err, idempotent: s.idempotent,
			timedOut: timedOut && s.ctx.Err() == nil, d: s.i.timeout})
	}
	return opened{ClientStream: cs, cancel: cancel}, nil
}

func (s *stream) SendMsg(m any) error {
	s.mu.Lock()
	cur := s.cur
	if s.sends++; s.sends == 1 && !s.received {
		s.req = m
	}
	s.mu.Unlock()

	err := cur.SendMsg(m)
	if err != nil && err != io.EOF {
		cur.release()
	}
	return err
}

func (s *stream) CloseSend() error {
	s.mu.Lock()
	cur := s.cur
	s.closed = true
	s.mu.Unlock()
	return cur.CloseSend()
}

func (s *stream) RecvMsg(m any) error {
	s.mu.Lock()
	cur, first, gaveUp := s.cur, !s.received, s.err
	s.received = true
	s.mu.Unlock()
	if gaveUp != nil {
		return gaveUp
	}

	err := cur.RecvMsg(m)
	if err != nil {
		cur.release()
	}
	if first && err != nil && err != io.EOF {
		err = s.retryFirst(m, cur, err)
	}
	if first {
		s.mu.Lock()
		s.req = nil // never sent again
		s.mu.Unlock()
	}
	return err
}

// retryFirst retries the first receive of the stream, which failed with
// err, when that is safe, and returns what RecvMsg should return.
func (s *stream) retryFirst(m any, failed opened, err error) error {
	s.replay.Lock()
	defer s.replay.Unlock()
	s.mu.Lock()
	req, ok := s.req, s.sends == 1 && s.closed && !s.observed
	s.mu.Unlock()
	if !ok || s.ctx.Err() != nil {
		return err
	}

	first := s.failure(failed, err)
	p := s.i.stream
	p.Limiter = firstFree(p.Limiter)
	calls := 0
	var eof bool
	next, err := retry.DoValue(s.ctx, &p, func(actx context.Context) (opened, error) {
		if calls++; calls == 1 {
			return opened{}, first // the stream that failed is the first attempt
		}
		o, err := s.open(actx)
		if err != nil {
			return opened{}, err
		}
		switch err := resend(o, req, m); err {
		case nil:
		case io.EOF:
			eof = true // a stream that ends without a message is a success
			o.release()
		default:
			o.release()
			return opened{}, s.failure(o, err)
		}
		return o, nil
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = callErr(err)
		return s.err
	}
	s.cur = next
	if eof {
		return io.EOF
	}
	return nil
}

// resend sends req on o, closes the sending side and receives the first
// reply into m.
func resend(o opened, req, m any) error {
	// io.EOF means the stream has ended; RecvMsg says how.
	if err := o.SendMsg(req); err != nil && err != io.EOF {
		return err
	}
	if err := o.CloseSend(); err != nil {
		return err
	}
	return o.RecvMsg(m)
}

// failure judges the error of a stream whose request was sent.
func (s *stream) failure(o opened, err error) error {
	// Once the stream has failed, Header returns at once: the headers, or
	// nil when the server sent none.
	header, _ := o.Header()
	return s.i.judge(failure{ctx: s.ctx, err: err, idempotent: s.idempotent, sent: true,
		headers: header != nil, trailer: o.Trailer()})
}

func (s *stream) Header() (metadata.MD, error) {
	return s.observe().Header()
}

func (s *stream) Trailer() metadata.MD {
	return s.observe().Trailer()
}

// observe returns the stream in use, once no retry of the first receive is
// under way, and rules out any later one: the caller has seen this
// stream's headers or trailers.
func (s *stream) observe() opened {
	s.replay.Lock()
	defer s.replay.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observed = true
	return s.cur
}

func (s *stream) Context() context.Context {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	return cur.Context()
}

// firstFree returns lim, or nil, for a loop whose first attempt replays a
// failure and calls nobody: that attempt takes no slot of lim.
func firstFree(lim retry.Limiter) retry.Limiter {
	if lim == nil {
		return nil
	}
	f := &freeFirst{Limiter: lim}
	if o, ok := lim.(retry.Observer); ok {
		return freeFirstObserver{f, o}
	}
	return f
}

// freeFirst is used by one loop, on its goroutine, so it needs no lock.
type freeFirst struct {
	retry.Limiter
	used bool
}

func (l *freeFirst) Reserve(now time.Time) (time.Duration, func(time.Time), error) {
	if !l.used {
		l.used = true
		return 0, nil, nil
	}
	return l.Limiter.Reserve(now)
}

// freeFirstObserver keeps telling an adaptive limiter how attempts end.
type freeFirstObserver struct {
	*freeFirst
	o retry.Observer
}

func (l freeFirstObserver) Observe(now time.Time, o retry.Outcome) { l.o.Observe(now, o) }
