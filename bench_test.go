package retry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/deb4e658/retry"
)

var errFlaky = retry.Retryable(errors.New("flaky"))

func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	b.Run("success", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Do(ctx, func(context.Context) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("success_attempt_timeout", func(b *testing.B) {
		p := retry.Default()
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Do(ctx, func(context.Context) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("success_parallel", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Do(ctx, func(context.Context) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("fail_twice", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited, InitialDelay: retry.NoDelay}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			err := p.Do(ctx, func(context.Context) error {
				if n++; n < 3 {
					return errFlaky
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("value_success", func(b *testing.B) {
		p := &retry.Policy{AttemptTimeout: retry.Unlimited}
		b.ReportAllocs()
		for b.Loop() {
			v, err := retry.DoValue(ctx, p, func(context.Context) (int, error) { return 7, nil })
			if err != nil || v != 7 {
				b.Fatal(v, err)
			}
		}
	})
}

func BenchmarkDirect(b *testing.B) {
	ctx := context.Background()
	f := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := f(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
