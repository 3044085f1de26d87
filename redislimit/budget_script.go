package redislimit

import "github.com/redis/go-redis/v9"

// The budget is one hash of counts per second of the Redis clock: field
// "s:<unix second>" counts the calls that succeeded in that second, and
// "r:<unix second>" the retries taken. One key, so that the script runs on
// a single node of a Redis Cluster, and one script, so that adding the
// deposits, summing the window and taking a retry happen atomically: two
// processes cannot both take the last retry.
//
// The script reads the second with TIME on the server that runs it, for
// the reason script.go gives: the clocks of the callers never enter the
// arithmetic. It deletes the fields outside the window as it sums, so the
// hash holds at most two fields a second of the window, and sets the key
// to expire one second after the window, so a budget nobody uses leaves
// nothing behind.

// budgetScript adds deposits and, when asked, takes one retry.
// ARGV: deposits to add, 1 to take a retry (else 0), ratio, retries always
// allowed per window, window in seconds, expiry in ms.
// It returns {1} when it took the retry, else {0}.
var budgetScript = redis.NewScript(`
local sec = tonumber(redis.call('TIME')[1])
local deposits = tonumber(ARGV[1])
local take = ARGV[2] == '1'
local ratio = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local window = tonumber(ARGV[5])

if deposits > 0 then
	redis.call('HINCRBY', KEYS[1], 's:' .. sec, deposits)
end

-- Fields of a second outside the window, past or (after the clock of the
-- server went back) future, no longer count, as in retry.Budget.
local successes, retries = 0, 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
	local s = tonumber(string.sub(fields[i], 3))
	if s == nil or s <= sec - window or s > sec then
		redis.call('HDEL', KEYS[1], fields[i])
	elseif string.sub(fields[i], 1, 1) == 's' then
		successes = successes + tonumber(fields[i + 1])
	elseif string.sub(fields[i], 1, 1) == 'r' then
		retries = retries + tonumber(fields[i + 1])
	end
end

local took = 0
if take and retries + 1 <= ratio * successes + floor then
	redis.call('HINCRBY', KEYS[1], 'r:' .. sec, 1)
	took = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {took}
`)
