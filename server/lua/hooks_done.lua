-- ARGV: prefix, node, lease_ms, site, id, outcome (delivered|failed), status (0: none), error,
--       attempts, now, event -> the next row (hook_next.lua), or {}
-- When this node still holds the lease and id is still the next event, the cursor moves past
-- it, it leaves the stream, and the outcome is recorded (failures: the last 50, newest first).
--! uses: prelude hook_next

local site, id, now, status = ARGV[4], ARGV[5], tonumber(ARGV[10]), tonumber(ARGV[7])
local key = p .. 'hooks:' .. site
if redis.call('GET', key .. ':lease') ~= ARGV[2] then return {} end
local cursor = redis.call('GET', key .. ':cursor')
local e = redis.call('XRANGE', key, cursor and ('(' .. cursor) or '-', '+', 'COUNT', 1)[1]
if e and e[1] == id then
  redis.call('SET', key .. ':cursor', id)
  redis.call('XDEL', key, id)
  redis.call('DEL', key .. ':retry')
  if ARGV[6] == 'delivered' then
    redis.call('SET', key .. ':last', cjson.encode({id = id, event = ARGV[11], status = status, at = now}))
  else
    redis.call('LPUSH', key .. ':failures', cjson.encode({id = id, event = ARGV[11], attempts = tonumber(ARGV[9]),
      status = status ~= 0 and status or cjson.null, error = ARGV[8], at = now}))
    redis.call('LTRIM', key .. ':failures', 0, 49)
  end
end
return hook_next(site, ARGV[2], ARGV[3]) or {}
