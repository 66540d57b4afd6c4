-- ARGV: prefix, id, then (field, value) pairs: the fields a request names, already checked
-- (server/http/sites.c); an empty value removes the field; a name ending in '?' sets that field
-- only when it has no value yet (a generated webhook secret) -> 1, plus 1 for each '?' field
-- that was set. A site with a webhook_url is in hooks:sites; without one its undelivered
-- webhook events are dropped.
--! uses: prelude

local key = p .. 'site:' .. ARGV[2]
redis.call('SADD', p .. 'sites', ARGV[2])
local filled = 0
for i = 3, #ARGV - 1, 2 do
  local unset_only = string.match(ARGV[i], '^(.+)%?$')
  if unset_only then filled = filled + redis.call('HSETNX', key, unset_only, ARGV[i + 1])
  elseif ARGV[i + 1] == '' then redis.call('HDEL', key, ARGV[i]) else redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
if not redis.call('HGET', key, 'origins') then redis.call('HSET', key, 'origins', '[]') end
if redis.call('HGET', key, 'webhook_url') then redis.call('SADD', p .. 'hooks:sites', ARGV[2])
elseif redis.call('SREM', p .. 'hooks:sites', ARGV[2]) == 1 then
  redis.call('DEL', p .. 'hooks:' .. ARGV[2], p .. 'hooks:' .. ARGV[2] .. ':cursor', p .. 'hooks:' .. ARGV[2] .. ':retry')
end
return 1 + filled
