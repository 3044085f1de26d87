package redislimit

import "github.com/redis/go-redis/v9"

// The bucket is one key holding the theoretical arrival time (TAT): the
// time, in microseconds of the Redis clock, at which the bucket would be
// full again if no one reserved more. A call may go tau before the TAT, and
// each reservation pushes the TAT one interval later.
//
// The scripts are ours rather than github.com/go-redis/redis_rate's because
// redis_rate only tests a request against the limit (Allow, AllowAtMost):
// a refused caller learns how long to wait but holds no slot, so callers
// that wait together all come back at once. A reservation must advance the
// TAT, and a cancel must compare and set it, each atomically, which is what
// a script gives. Both read the time with TIME on the server that runs the
// script, so the clocks of the callers never enter the arithmetic.

// reserveScript reserves the next slot. ARGV: interval and tau in µs.
// It returns the wait in µs, the new TAT and the server's time.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
	tat = now
end
local wait = tat - tau - now
if wait < 0 then
	wait = 0
end

-- Once the TAT has passed, a missing key means the same as the stored one.
local newtat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', newtat),
	'PX', math.ceil((newtat - now) / 1000))
return {wait, newtat, now}
`)

// cancelScript gives back the slot of the reservation that set the TAT to
// ARGV[1], if no reservation came after it and its time has not come.
// ARGV: that TAT, interval and tau in µs. It returns 1 when it gave the
// slot back, else 0, then 0 and the server's time.
var cancelScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tau = tonumber(ARGV[3])

if tonumber(redis.call('GET', KEYS[1])) ~= mine then
	return {0, 0, now}
end
local tat = mine - interval
if tat - tau <= now then
	return {0, 0, now}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat),
	'PX', math.ceil((tat - now) / 1000))
return {1, 0, now}
`)
