package redislimit

import "time"

// ReserveInRedis reserves a slot in Redis without the fallback and returns
// the wait, the slot's time and the time the server made it, so tests can
// check the spacing exactly on the server's clock.
func ReserveInRedis(l *Limiter) (wait time.Duration, slot, now time.Time, err error) {
	r, err := l.reserve()
	if err != nil {
		return 0, time.Time{}, time.Time{}, err
	}
	slot = time.UnixMicro(r.tat - l.interval - l.tau)
	return r.wait, slot, time.UnixMicro(r.now), nil
}

// SendDeposits sends the deposits b has gathered to Redis at once, as
// Deposit does when its batch is due, and reports whether Redis took them,
// so tests need not wait out the batch interval.
func SendDeposits(b *Budget) bool {
	n, _ := b.gather(false)
	_, ok := b.send(n, false)
	return ok
}
