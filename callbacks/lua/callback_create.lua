-- callback_create.lua: create a callback, at most one live per number and queue. For
-- "keep my place" it takes over the original call's routing entry in the same step: same
-- score, bucket and escalation timer, under the callback's id, so the caller is never in
-- the queue twice and never out of it.
-- KEYS[1]: the callback record (Hash), KEYS[2]: the number's live callback for the queue
--          (String), KEYS[3]: the number's live callbacks (Set), KEYS[4]: pending callbacks
--          by expected time (Sorted set), KEYS[5]: the events stream; with a call to take
--          over also KEYS[6]: routing calls (Hash), KEYS[7]: the queue's calls (Sorted set),
--          KEYS[8]: the call's waiting bucket (Sorted set), KEYS[9]: routing timers (Sorted set).
-- ARGV[1]: JSON {id, now (ms), expected (s), kind, record: {field: string}, call: the
--          original call sid ("" for none), step, lang (the routing entry as read)}
-- Returns JSON {status: created|exists|moved|gone, id, expected (s, for exists)}.
local ctx = cjson.decode(ARGV[1])
local id, now = ctx.id, ctx.now
local existing = redis.call('GET', KEYS[2])
if existing then
  local at = redis.call('ZSCORE', KEYS[4], existing)
  return cjson.encode({status = 'exists', id = existing, expected = tonumber(at or 0)})
end
local record = ctx.record
if ctx.call ~= '' then
  local raw = redis.call('HGET', KEYS[6], ctx.call)
  if not raw then return cjson.encode({status = 'gone', id = id}) end
  local c = cjson.decode(raw)
  -- A call pinned to the agent it was transferred to (c.pin) is in no waiting bucket.
  if c.state ~= 'waiting' or c.step ~= ctx.step or c.lang ~= ctx.lang or c.pin then
    return cjson.encode({status = 'moved', id = id})
  end
  local score = redis.call('ZSCORE', KEYS[7], ctx.call)
  redis.call('ZREM', KEYS[7], ctx.call)
  redis.call('ZREM', KEYS[8], ctx.call)
  redis.call('ZADD', KEYS[7], score, id)
  redis.call('ZADD', KEYS[8], score, id)
  local esc = redis.call('ZSCORE', KEYS[9], 'esc:' .. ctx.call)
  if esc then
    redis.call('ZREM', KEYS[9], 'esc:' .. ctx.call)
    redis.call('ZADD', KEYS[9], esc, 'esc:' .. id)
  end
  -- A callback has no line to redirect at max wait: it leaves on its own expiry instead.
  redis.call('ZREM', KEYS[9], 'wait:' .. ctx.call)
  redis.call('HDEL', KEYS[6], ctx.call)
  redis.call('HSET', KEYS[6], id, cjson.encode(c))
  local position = redis.call('ZRANK', KEYS[7], id) + 1
  redis.call('XADD', KEYS[5], '*', 'type', 'CALLBACK', 'ts', string.format('%.0f', now),
             'call', ctx.call, 'callback', id, 'queue', c.queue, 'position', position,
             'original_position', c.pos0, 'wait_ms', string.format('%.0f', now - c.entered),
             'original_wait_ms', string.format('%.0f', now - c.orig),
             'priority', c.prio, 'language', c.lang)
  record.queue = c.queue
  record.priority = tostring(c.prio)
  record.orig_ms = string.format('%.0f', c.orig)
  record.state = 'queued'
end
for field, value in pairs(record) do redis.call('HSET', KEYS[1], field, value) end
redis.call('SET', KEYS[2], id)
redis.call('SADD', KEYS[3], id)
redis.call('ZADD', KEYS[4], ctx.expected, id)
redis.call('XADD', KEYS[5], '*', 'type', 'CALLBACKREQUEST', 'ts', string.format('%.0f', now),
           'callback', id, 'call', record.call or '', 'queue', record.queue, 'reason', ctx.kind,
           'priority', record.priority or '', 'original_started_ms', record.started_ms or '')
return cjson.encode({status = 'created', id = id})
