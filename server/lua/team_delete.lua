-- ARGV: prefix (the site's slot), site, team -> 1: the team removed; its waiting chats stay in
-- the slot's shared queue (agents pick them), their offers withdrawn.
--! uses: prelude

local site, name = ARGV[2], ARGV[3]
if redis.call('HDEL', p .. 'teams:' .. site, name) == 0 then return redis.error_reply('not_found no such team') end
local dkey = p .. 'teams:' .. site .. ':default'
if redis.call('GET', dkey) == name then redis.call('DEL', dkey) end
local qkey = p .. 'team:' .. site .. ':' .. name .. ':queue'
for _, cid in ipairs(redis.call('ZRANGE', qkey, 0, -1)) do
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local agent = redis.call('HGET', mkey, 'offer')
  if agent then
    redis.call('SREM', p .. 'agent:' .. agent .. ':offered', cid)
    redis.call('ZREM', p .. 'offers:due', cid)
    bus('-', agent, 0, cjson.encode({type = 'offer_withdrawn', conversation = cid, reason = 'team_removed'}))
  end
  redis.call('HDEL', mkey, 'team', 'team_site', 'team_queue', 'team_online', 'offer', 'offer_deadline', 'declined')
end
redis.call('DEL', qkey)
return 1
