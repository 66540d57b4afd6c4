-- ARGV: prefix, now, window_ms -> {site, site, ...}: one per chat avoided
-- A suggestion that helped (help_seen.lua) avoided a chat when no chat followed within the
-- window (30 minutes): decided once the window is over, then forgotten.
--! uses: prelude

local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', p .. 'help:avoid', '-inf', now - window, 'WITHSCORES', 'LIMIT', 0, 500)
local out = {}
for i = 1, #due, 2 do
  local vid, helped = due[i], tonumber(due[i + 1])
  local v = redis.call('HMGET', p .. 'visitor:' .. vid, 'last_chat', 'site')
  local chatted = v[1] and tonumber(v[1]) and tonumber(v[1]) >= helped
  if not chatted and v[2] then out[#out + 1] = v[2] end
  redis.call('ZREM', p .. 'help:avoid', vid)
end
return out
