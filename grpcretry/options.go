package grpcretry

import "strings"

// Option configures the interceptors made by [UnaryClientInterceptor] and
// [StreamClientInterceptor].
type Option interface {
	apply(*interceptor)
}

type methodsOption []string

func (o methodsOption) apply(i *interceptor) {
	for _, m := range o {
		if strings.HasSuffix(m, "/") {
			i.services[m] = true
		} else {
			i.methods[m] = true
		}
	}
}

// WithIdempotent declares methods safe to call twice, so that they are
// retried after any failure the policy retries. Each is a full method name
// as gRPC gives it to interceptors, "/package.Service/Method", or a service
// name ending in a slash, "/package.Service/", for all its methods. Methods
// whose .proto sets idempotency_level to IDEMPOTENT or NO_SIDE_EFFECTS need
// no option.
func WithIdempotent(methods ...string) Option {
	return methodsOption(methods)
}

type funcOption func(method string) bool

func (o funcOption) apply(i *interceptor) {
	if o != nil {
		i.funcs = append(i.funcs, o)
	}
}

// WithIdempotentFunc declares as idempotent every method for which f,
// given the full method name ("/package.Service/Method"), returns true. It
// adds to the other options: a method is idempotent when any of them says
// so. f must be safe for concurrent use.
func WithIdempotentFunc(f func(method string) bool) Option {
	return funcOption(f)
}

type allOption struct{}

func (allOption) apply(i *interceptor) { i.all = true }

// WithNonIdempotent makes the interceptors retry every method as if it were
// idempotent. Use it only when the server makes every call safe to repeat,
// with request ids it deduplicates, say.
func WithNonIdempotent() Option {
	return allOption{}
}
