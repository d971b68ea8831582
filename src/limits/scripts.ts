/**
 * The Lua scripts of the Redis limiter. Every one reads Redis's own clock (`TIME`), so no replica's clock is
 * trusted, and touches a single key, so they run on Redis Cluster too. Times travel as strings: Lua numbers
 * returned to Redis are truncated to integers, and a reservation needs sub-millisecond starts.
 */

/**
 * GCRA reservation over one or several windows, with the server-aware pause read in the same call.
 *
 * KEYS[1]: the key's hash (field `p` = paused until, fields `1`..`n` = each window's theoretical arrival time).
 * ARGV[1]: the longest acceptable wait in ms; ARGV[2..]: each window's emission interval and tolerance in ms.
 *
 * Returns `{ granted (1|0), wait, now, tat1, …, tatN }`: the slot starts at `now + wait` on Redis's clock. A
 * refused reservation changes nothing. The key expires once every window is back to full.
 */
export const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local maxWait = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local fields = { 'p' }
for i = 1, n do fields[i + 1] = tostring(i) end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))
local start = now
local paused = tonumber(stored[1])
if paused and paused > start then start = paused end
local tats = {}
for i = 1, n do
  local tat = tonumber(stored[i + 1]) or 0
  tats[i] = tat
  local allowed = tat - tonumber(ARGV[2 * i + 1])
  if allowed > start then start = allowed end
end
local wait = start - now
if wait > maxWait then return { 0, string.format('%.3f', wait), string.format('%.3f', now) } end
local out = { 1, string.format('%.3f', wait), string.format('%.3f', now) }
local set = {}
local last = now
for i = 1, n do
  local tat = tats[i]
  if start > tat then tat = start end
  tat = tat + tonumber(ARGV[2 * i])
  if tat > last then last = tat end
  local s = string.format('%.3f', tat)
  set[#set + 1] = tostring(i)
  set[#set + 1] = s
  out[i + 3] = s
end
redis.call('HSET', KEYS[1], unpack(set))
if paused and paused > last then last = paused end
redis.call('PEXPIRE', KEYS[1], math.ceil(last - now) + 1)
return out
`;

/**
 * Pauses a key for every replica: no slot starts before `now + ms` (on Redis's clock).
 * KEYS[1]: the key's hash; ARGV[1]: the pause in ms (already capped by `maxPause`). Returns the pause's end.
 */
export const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ms = tonumber(ARGV[1])
local untilMs = now + ms
local paused = tonumber(redis.call('HGET', KEYS[1], 'p'))
if paused and paused > untilMs then untilMs = paused end
redis.call('HSET', KEYS[1], 'p', string.format('%.3f', untilMs))
local ttl = redis.call('PTTL', KEYS[1])
local need = math.ceil(untilMs - now) + 1
if ttl < need then redis.call('PEXPIRE', KEYS[1], need) end
return string.format('%.3f', untilMs)
`;

/**
 * A replica's heartbeat: records it in a sorted set scored by Redis's clock, forgets replicas not seen for
 * ARGV[2] ms, and returns how many are alive. KEYS[1]: the set; ARGV[1]: this replica's id.
 */
export const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`;
