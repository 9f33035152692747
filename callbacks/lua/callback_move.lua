-- callback_move.lua: one transition of a callback's state machine, if it is in a state
-- it may leave that way (compare and set), with its event in the same step.
--   scheduled -> queued -> dialling(attempt k) -> connected | no_answer -> queued (retry)
--   | failed | done (machine message) | expired | cancelled
-- KEYS[1]: the callback record (Hash), KEYS[2]: the number's live callback for the queue
--          (String), KEYS[3]: the number's live callbacks (Set), KEYS[4]: pending callbacks
--          (Sorted set), KEYS[5]: the events stream.
-- ARGV[1]: JSON {id, now (ms), from: [states], attempt (the attempt it must be at, or -1),
--          to, bump (1: this move starts a new attempt), final (1: no longer live),
--          expected (new pending score in s, or -1), fields: {field: string},
--          event (type), data: {field: string} (more event fields)}
-- Returns JSON {status: moved|refused|unknown, state (before), attempt (after)}.
local ctx = cjson.decode(ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return cjson.encode({status = 'unknown', state = ''}) end
local allowed = false
for _, s in ipairs(ctx.from) do if s == state then allowed = true end end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if not allowed or (ctx.attempt >= 0 and attempt ~= ctx.attempt) then
  return cjson.encode({status = 'refused', state = state, attempt = attempt})
end
if ctx.bump == 1 then attempt = attempt + 1 end
redis.call('HSET', KEYS[1], 'state', ctx.to, 'attempts', attempt,
           'updated_ms', string.format('%.0f', ctx.now))
for field, value in pairs(ctx.fields) do redis.call('HSET', KEYS[1], field, value) end
if ctx.final == 1 then
  if redis.call('GET', KEYS[2]) == ctx.id then redis.call('DEL', KEYS[2]) end
  redis.call('SREM', KEYS[3], ctx.id)
  redis.call('ZREM', KEYS[4], ctx.id)
elseif ctx.expected >= 0 then
  redis.call('ZADD', KEYS[4], ctx.expected, ctx.id)
end
local args = {'XADD', KEYS[5], '*', 'type', ctx.event, 'ts', string.format('%.0f', ctx.now),
              'callback', ctx.id, 'reason', state .. '>' .. ctx.to, 'attempt', attempt}
for field, value in pairs(ctx.data) do
  args[#args + 1] = field
  args[#args + 1] = value
end
redis.call(unpack(args))
return cjson.encode({status = 'moved', state = state, attempt = attempt})
